"""Import collector: formats, malformed records quarantined, resume and dedupe on re-import."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from collectors.base import SourceConfigError
from collectors.files import FileImportCollector, RecordError, parse_record, parse_timestamp
from socialcrm import models, pipeline, storage
from socialcrm.db import Database
from tests.fakes import count_rows

RECORD = {"id": "a1", "text": "hello", "created_at": "2026-11-02T10:00:00Z", "author": "ada"}


def _jsonl(path: Path, records: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _records(count: int) -> list[dict[str, object]]:
    return [{**RECORD, "id": f"r{n}", "author": f"user{n % 4}"} for n in range(count)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-02T10:00:00Z", datetime(2026, 11, 2, 10, tzinfo=UTC)),
        ("2026-11-02T12:00:00+02:00", datetime(2026, 11, 2, 10, tzinfo=UTC)),
        (1_793_613_600, datetime(2026, 11, 2, 10, tzinfo=UTC)),
        ("1793613600.0", datetime(2026, 11, 2, 10, tzinfo=UTC)),
    ],
)
def test_timestamps_become_utc(value: object, expected: datetime) -> None:
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": ""}, "missing required field(s): id"),
        ({"text": None, "author": None}, "missing required field(s): text, author"),
        ({"created_at": "2026-11-02T10:00:00"}, "has no time zone"),
        ({"created_at": "yesterday"}, "not ISO 8601"),
        ({"author_followers": "many"}, "not a whole number"),
    ],
)
def test_bad_records_say_why(change: dict[str, object], reason: str) -> None:
    with pytest.raises(RecordError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_record({**RECORD, **change}, "import")


def test_optional_fields_and_source_are_read() -> None:
    parsed = parse_record(
        {
            **RECORD,
            "source": "twitter",
            "url": "https://x/1",
            "query": "Inkwell",
            "author_id": "42",
        },
        "import",
    )
    assert (parsed.source, parsed.url, parsed.matched_query, parsed.author.key) == (
        "twitter",
        "https://x/1",
        "Inkwell",
        "42",
    )
    assert parse_record(RECORD, "import").source == "import"


def test_malformed_lines_are_quarantined_and_the_rest_imported(
    db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "export.jsonl"
    path.write_text(
        json.dumps(RECORD)
        + "\n"
        + "{not json\n"
        + "\n"
        + "[1, 2]\n"
        + json.dumps({**RECORD, "id": "a2", "created_at": "soon"})
        + "\n"
        + json.dumps({**RECORD, "id": "x" * 300})
        + "\n",
        encoding="utf-8",
    )
    summary = pipeline.collect(db, FileImportCollector(path, "import"))
    assert (summary.status, summary.new, summary.quarantined) == ("ok", 1, 4)
    with db.transaction() as session:
        rejects = {q.locator: q.reason for q in session.scalars(select(models.QuarantinedItem))}
    assert rejects == {
        "export.jsonl:2": "not valid JSON: Expecting property name enclosed in double quotes",
        "export.jsonl:4": "not a JSON object",
        "export.jsonl:5": "created_at 'soon' is not ISO 8601 or Unix seconds",
        "export.jsonl:6": "mention source_id is longer than 255 characters",
    }


def test_csv_exports_are_imported(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "text", "created_at", "author", "title"])
        writer.writeheader()
        writer.writerow({**RECORD, "text": "multi\nline, with comma", "title": "T"})
        writer.writerow({**RECORD, "id": "a2", "author": "bob", "title": ""})
    summary = pipeline.collect(db, FileImportCollector(path, "import"))
    assert (summary.new, summary.quarantined) == (2, 0)
    with db.transaction() as session:
        texts = sorted(session.scalars(select(models.Mention.text)))
    assert texts == ["hello", "multi\nline, with comma"]


def test_reimporting_the_same_file_adds_nothing(db: Database, tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "export.jsonl", _records(25))
    first = pipeline.collect(db, FileImportCollector(path, "import", page_size=10))
    second = pipeline.collect(db, FileImportCollector(path, "import", page_size=10))
    assert (first.new, second.new, second.seen) == (25, 0, 0)
    assert count_rows(db, models.Mention) == 25
    assert count_rows(db, models.Author) == 4


def test_an_appended_file_resumes_after_what_was_imported(db: Database, tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "export.jsonl", _records(10))
    pipeline.collect(db, FileImportCollector(path, "import", page_size=4))
    _jsonl(path, _records(15))
    summary = pipeline.collect(db, FileImportCollector(path, "import", page_size=4))
    assert (summary.seen, summary.new) == (5, 5)


def test_a_rewritten_file_is_read_again_and_dedupe_stops_doubles(
    db: Database, tmp_path: Path
) -> None:
    path = _jsonl(tmp_path / "export.jsonl", _records(6))
    pipeline.collect(db, FileImportCollector(path, "import"))
    _jsonl(path, list(reversed(_records(8))))
    summary = pipeline.collect(db, FileImportCollector(path, "import"))
    assert (summary.seen, summary.new) == (8, 2)
    assert count_rows(db, models.Mention) == 8


def test_an_import_interrupted_mid_file_continues_where_it_stopped(
    db: Database, tmp_path: Path
) -> None:
    path = _jsonl(tmp_path / "export.jsonl", _records(9))
    pages = FileImportCollector(path, "import", page_size=4).fetch(None)
    # only the first page is committed (as if the process died during the second)
    with db.transaction() as session:
        storage.save_page(session, FileImportCollector(path, "import").name, next(pages))
    summary = pipeline.collect(db, FileImportCollector(path, "import", page_size=4))
    assert (summary.seen, summary.new) == (5, 5)


def test_a_missing_file_or_unknown_format_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(SourceConfigError, match="no such file"):
        FileImportCollector(tmp_path / "none.jsonl", "import").check()
    with pytest.raises(SourceConfigError, match=r"unknown format '\.xlsx'"):
        FileImportCollector(tmp_path / "export.xlsx", "import")
