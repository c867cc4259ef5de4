"""Demo collector: sample mentions written for the project, released a few per run, no network."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from importlib.resources import files
from itertools import islice
from pathlib import Path
from typing import ClassVar

from collectors.files import parse_record, read_records
from socialcrm.mention import Cursor, Mention, Page, utcnow
from socialcrm.settings import Settings

DEMO_FILE = Path(str(files("collectors") / "data" / "demo_mentions.jsonl"))


class DemoCollector:
    """Feeds the packaged sample about a fictional app, `per_run` mentions at a time."""

    min_interval_seconds: ClassVar[int] = 5

    def __init__(self, per_run: int = 5, clock: Callable[[], datetime] = utcnow) -> None:
        self.per_run = per_run
        self.clock = clock

    @property
    def name(self) -> str:
        """Always `demo`."""
        return "demo"

    @property
    def is_sorted(self) -> bool:
        """The sample is read in order."""
        return True

    def check(self) -> None:
        """The sample ships with the package; nothing can be misconfigured."""

    def fetch(self, cursor: Cursor | None) -> Iterator[Page]:
        """The next `per_run` sample mentions, stamped with the time they were 'posted'."""
        start = int(cursor.state.get("next", 0)) if cursor else 0
        records = list(islice(read_records(DEMO_FILE, "jsonl"), start, start + self.per_run))
        if not records:
            return
        posted = self.clock().isoformat()
        mentions: list[Mention] = [
            parse_record({**record.fields, "created_at": posted}, "demo")
            for record in records
            if record.fields is not None
        ]
        yield Page(tuple(mentions), Cursor({"next": start + len(records)}))


def build(settings: Settings) -> DemoCollector:
    """The demo collector as the settings configure it."""
    return DemoCollector(per_run=settings.sources.demo.per_run)
