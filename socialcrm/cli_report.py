"""`socialcrm report`: a self-contained report of a window, as HTML, CSV or PNG."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from reports.coverage import schedule_intervals
from reports.filters import FilterError, parse_window
from reports.render import FORMATS, render
from reports.report import gather
from socialcrm.cli import _state, app, fail, out


@app.command("report")
def report(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("--output", "-o", help="The file to write.")],
    since: Annotated[
        str, typer.Option(help="Start: a span back from now (7d, 24h, 2w) or a date/time.")
    ] = "7d",
    until: Annotated[str | None, typer.Option(help="End (default: now), as for --since.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="html, csv or png.")] = "html",
) -> None:
    """Write a report of the window: headline numbers and every chart, usable offline."""
    if fmt not in FORMATS:
        raise fail(f"unknown format {fmt!r}: use --format html, csv or png", code=2)
    try:
        start, end = parse_window(since, until, now=datetime.now(UTC))
    except FilterError as error:
        raise fail(str(error), code=2) from None
    state = _state(ctx)
    settings = state.settings
    with state.database().transaction() as session:
        data = gather(
            session,
            start,
            end,
            intervals=schedule_intervals(settings.sources),
            watch_terms=[*settings.watch.brand, *settings.watch.competitors],
        )
    body = render(data, fmt)
    try:
        output.write_bytes(body)
    except OSError as error:
        raise fail(f"cannot write {output}: {error.strerror}") from None
    out.print(
        f"wrote {output} ({fmt}, {len(body) / 1024:,.0f} KiB): {data.overview['volume']:,} "
        f"mentions from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
