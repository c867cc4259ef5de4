"""Import collector: JSON Lines and CSV exports from other tools, with cursor and dedupe rules."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar, Literal

from collectors.base import SourceConfigError
from socialcrm.mention import Author, Cursor, Mention, Page, Quarantined

Format = Literal["jsonl", "csv"]
HEAD_BYTES = 65_536
REQUIRED = ("id", "text", "created_at", "author")


class RecordError(ValueError):
    """A record that cannot become a mention; the message is the quarantine reason."""


@dataclass(frozen=True, slots=True)
class Record:
    """One raw record of a file, where it was, and what it said."""

    locator: str
    fields: Mapping[str, Any] | None
    raw: str
    error: str | None = None


def parse_timestamp(value: Any) -> datetime:
    """ISO 8601 with a zone (`Z` allowed) or Unix seconds, as UTC."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    text = str(value).strip()
    if text.replace(".", "", 1).isdigit():
        return datetime.fromtimestamp(float(text), UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise RecordError(f"created_at {text!r} is not ISO 8601 or Unix seconds") from None
    if parsed.tzinfo is None:
        raise RecordError(f"created_at {text!r} has no time zone: add Z or +00:00")
    return parsed.astimezone(UTC)


def _text(fields: Mapping[str, Any], key: str) -> str | None:
    value = fields.get(key)
    if value is None or value == "":
        return None
    return str(value)


def _followers(fields: Mapping[str, Any]) -> int | None:
    value = _text(fields, "author_followers")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise RecordError(f"author_followers {value!r} is not a whole number") from None


def parse_record(fields: Mapping[str, Any], default_source: str) -> Mention:
    """Turn one exported record into a `Mention`, or raise `RecordError` saying why not."""
    missing = [key for key in REQUIRED if _text(fields, key) is None]
    if missing:
        raise RecordError(f"missing required field(s): {', '.join(missing)}")
    author = Author(
        handle=str(fields["author"]),
        external_id=_text(fields, "author_id"),
        display_name=_text(fields, "author_name"),
        url=_text(fields, "author_url"),
        followers=_followers(fields),
        bio=_text(fields, "author_bio"),
    )
    return Mention(
        source=_text(fields, "source") or default_source,
        source_id=str(fields["id"]),
        text=str(fields["text"]),
        created_at=parse_timestamp(fields["created_at"]),
        author=author,
        matched_query=_text(fields, "query"),
        url=_text(fields, "url"),
        title=_text(fields, "title"),
        lang=_text(fields, "lang"),
        thread_id=_text(fields, "thread_id"),
        parent_id=_text(fields, "parent_id"),
    )


def detect_format(path: Path) -> Format:
    """The format from the file's ending: .jsonl/.ndjson/.json or .csv."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise SourceConfigError(
        f"{path}: unknown format {suffix!r}; use .jsonl or .csv, or pass --format"
    )


def read_records(path: Path, fmt: Format) -> Iterator[Record]:
    """Every record of the file in order, malformed ones included (with their error)."""
    if fmt == "csv":
        yield from _read_csv(path)
    else:
        yield from _read_jsonl(path)


def _read_jsonl(path: Path) -> Iterator[Record]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            locator = f"{path.name}:{number}"
            if not line.strip():
                yield Record(locator, None, line, error=None)
                continue
            try:
                fields = json.loads(line)
            except json.JSONDecodeError as error:
                yield Record(locator, None, line, error=f"not valid JSON: {error.msg}")
                continue
            if not isinstance(fields, dict):
                yield Record(locator, None, line, error="not a JSON object")
                continue
            yield Record(locator, fields, line)


def _read_csv(path: Path) -> Iterator[Record]:
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            locator = f"{path.name}:{reader.line_num}"
            raw = json.dumps(row, ensure_ascii=False)
            if None in row:
                yield Record(locator, None, raw, error="more cells than header columns")
                continue
            yield Record(locator, row, raw)


def file_head_digest(path: Path, size: int) -> str:
    """A fingerprint of the file's first `size` bytes (at most 64 KiB)."""
    with path.open("rb") as handle:
        return hashlib.sha256(handle.read(min(size, HEAD_BYTES))).hexdigest()


def resume_position(path: Path, cursor: Cursor | None) -> int:
    """Records to skip: those the cursor covers, if the file is the same one, perhaps appended."""
    if cursor is None:
        return 0
    size = int(cursor.state.get("size", -1))
    unchanged = 0 <= size <= path.stat().st_size and cursor.state.get("head") == file_head_digest(
        path, size
    )
    return int(cursor.state.get("records", 0)) if unchanged else 0


class FileImportCollector:
    """Reads an export file in pages; the cursor counts records consumed, keyed by the file."""

    min_interval_seconds: ClassVar[int] = 1

    def __init__(
        self, path: Path, default_source: str, page_size: int = 5000, fmt: Format | None = None
    ) -> None:
        self.path = path
        self.default_source = default_source
        self.page_size = page_size
        self.format: Format = fmt or detect_format(path)

    @property
    def name(self) -> str:
        """`import:` and the file's absolute path: each file resumes on its own."""
        return f"import:{self.path.resolve()}"

    @property
    def is_sorted(self) -> bool:
        """Records are read in file order, so the cursor is a position."""
        return True

    def check(self) -> None:
        """The file must exist and be readable."""
        if not self.path.is_file():
            raise SourceConfigError(f"{self.path}: no such file")

    def fetch(self, cursor: Cursor | None) -> Iterator[Page]:
        """Pages of up to `page_size` records, starting after the records the cursor covers."""
        self.check()
        done = resume_position(self.path, cursor)
        size = self.path.stat().st_size
        identity = {"size": size, "head": file_head_digest(self.path, size)}
        records = islice(read_records(self.path, self.format), done, None)
        while page := list(islice(records, self.page_size)):
            done += len(page)
            yield self._page(page, Cursor({"records": done, **identity}))

    def _page(self, records: list[Record], cursor: Cursor) -> Page:
        mentions: list[Mention] = []
        rejects: list[Quarantined] = []
        for record in records:
            if record.error is not None:
                rejects.append(Quarantined(self.name, record.error, record.raw, record.locator))
            elif record.fields is not None:  # None without an error is a blank line
                try:
                    mentions.append(parse_record(record.fields, self.default_source))
                except ValueError as error:
                    rejects.append(Quarantined(self.name, str(error), record.raw, record.locator))
        return Page(tuple(mentions), cursor, tuple(rejects))
