"""The scheduled digest (weekly by default): headline numbers and PNG charts for a chat channel.

A value like `engagement.cards.ChatContent` plus the files to attach; the caller posts it
(with no pings allowed) after its transaction, as every chat message is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from reports.pictures import png_panel
from reports.report import Report, gather

DEFAULT_DAYS = 7
IMAGES = ("sentiment", "volume")
_MARKDOWN = re.compile(r"([\\*_~`|>#\[\]()@<])")


@dataclass(frozen=True, slots=True)
class Digest:
    """One chat message: text, an embed in Discord's JSON shape, and PNGs to attach by name."""

    content: str
    embed: dict[str, Any]
    files: tuple[tuple[str, bytes], ...]


def plain(text: str) -> str:
    """Text shown as it is in chat markdown (no formatting, links or mentions)."""
    return _MARKDOWN.sub(r"\\\1", text)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _change(now: int, before: int) -> str:
    if before == 0:
        return "no mentions the period before"
    return f"{(now - before) / before:+.0%} on the period before"


def _gaps(report: Report) -> str:
    if not report.coverage:
        return "every source collected throughout"
    hours: dict[tuple[str, str], float] = {}
    for gap in report.coverage:
        key = (gap["source"], gap["status"].replace("_", " "))
        hours[key] = hours.get(key, 0.0) + (gap["end"] - gap["start"]).total_seconds() / 3600
    return "; ".join(f"{plain(s)} {status} {h:.0f} h" for (s, status), h in sorted(hours.items()))


def build(report: Report, title: str = "Weekly report") -> Digest:
    """The digest of a gathered report."""
    o = report.overview
    labelled = sum(v for k, v in o["sentiment"].items() if k != "unlabelled")

    def part(name: str) -> str:
        return _share(o["sentiment"].get(name, 0) / labelled if labelled else None)

    health = "-" if o["brand_health"] is None else f"{o['brand_health']:.0f}/100"
    period = f"{report.since:%Y-%m-%d} to {report.until:%Y-%m-%d}"
    fields = [
        ("Mentions", f"{o['volume']:,} ({_change(o['volume'], o['previous_volume'])})"),
        ("Sentiment", f"negative {part('negative')}, positive {part('positive')}"),
        ("Uncertain labels", _share(o["uncertain_share"])),
        ("Brand health", health),
        ("SLA met", _share(o["sla_met_share"])),
        ("Open tasks", f"{o['open_tasks']:,}"),
        ("Coverage", _gaps(report)),
    ]
    files = tuple((f"{name}.png", png_panel(report, name)) for name in IMAGES)
    embed = {
        "title": f"{title}: {period}",
        "fields": [{"name": name, "value": value, "inline": False} for name, value in fields],
        "image": {"url": f"attachment://{files[0][0]}"},
    }
    content = f"**{title}** {period}: {o['volume']:,} mentions, brand health {health}."
    return Digest(content=content, embed=embed, files=files)


def weekly(
    session: Session,
    now: datetime,
    *,
    days: int = DEFAULT_DAYS,
    sources: Sequence[str] = (),
    intervals: Mapping[str, float] | None = None,
    watch_terms: Sequence[str] = (),
) -> Digest:
    """The digest of the `days` up to `now` (per day)."""
    report = gather(
        session,
        now - timedelta(days=days),
        now,
        bucket="day",
        sources=sources,
        intervals=intervals,
        watch_terms=watch_terms,
    )
    return build(report, "Weekly report" if days == DEFAULT_DAYS else f"{days}-day report")
