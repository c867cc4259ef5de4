"""PNG charts with matplotlib (Agg, no display, no pyplot state): for files and the digest."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, date, datetime, time

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from reports.charts import GAP_COLOURS, GAP_NAMES, SENTIMENT_COLOURS
from reports.report import Report

Panel = Callable[[Axes, Report], None]


def _x(bucket: date) -> datetime:
    return datetime.combine(bucket, time(0), UTC)


def _shade(axes: Axes, report: Report) -> None:
    """Coverage gaps as shaded spans, once per kind in the legend."""
    labelled: set[str] = set()
    for gap in report.coverage:
        kind = gap["status"]
        axes.axvspan(
            gap["start"],  # type: ignore[arg-type]
            gap["end"],  # type: ignore[arg-type]
            color=GAP_COLOURS.get(kind, "#7f7f7f"),
            alpha=0.25,
            zorder=3,  # over the bars: a gap must show, not hide behind them
            label=None if kind in labelled else GAP_NAMES.get(kind, kind),
        )
        labelled.add(kind)


def _dates(axes: Axes) -> None:
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def _legend(axes: Axes) -> None:
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="upper left", fontsize="small")
    else:
        axes.text(0.5, 0.5, "no mentions", ha="center", transform=axes.transAxes)


def sentiment_panel(axes: Axes, report: Report) -> None:
    """Stacked bars per sentiment, the uncertain share on a second axis."""
    x = [_x(point["bucket"]) for point in report.trend]
    width = 0.8 if report.bucket == "day" else 5.6
    bottom = [0] * len(x)
    for name, colour in SENTIMENT_COLOURS.items():
        values = [int(point[name]) for point in report.trend]  # type: ignore[literal-required]
        axes.bar(x, values, width, bottom, align="edge", color=colour, label=name)  # type: ignore[arg-type]
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    share = axes.twinx()
    share.plot(x, [p["uncertain_share"] for p in report.trend], "b:", label="uncertain share")  # type: ignore[arg-type]
    share.set_ylim(0, 1)
    _shade(axes, report)
    _dates(axes)
    axes.set_title(f"Sentiment per {report.bucket}")
    _legend(axes)


def volume_panel(axes: Axes, report: Report) -> None:
    """Mentions per source."""
    series: dict[str, list[tuple[datetime, int]]] = {}
    for row in report.volume:
        series.setdefault(row["source"], []).append((_x(row["bucket"]), row["count"]))
    for source, points in sorted(series.items()):
        days, counts = [p[0] for p in points], [p[1] for p in points]
        axes.plot(days, counts, marker=".", label=source)  # type: ignore[arg-type]
    _shade(axes, report)
    _dates(axes)
    axes.set_title("Mentions per source")
    _legend(axes)


def voice_panel(axes: Axes, report: Report) -> None:
    """Share of voice as bars."""
    names = [row["name"] for row in report.voice]
    axes.barh(names[::-1], [row["count"] for row in report.voice][::-1], color="#1f77b4")
    axes.set_title("Share of voice (mentions)")


def response_panel(axes: Axes, report: Report) -> None:
    """Mean first response per queue, minutes."""
    rows = report.responses["by_queue"]
    axes.bar(
        [row["name"] for row in rows],
        [row["first_response_minutes"] or 0 for row in rows],
        color="#9467bd",
    )
    axes.set_title("Mean first response (minutes)")


PANELS: dict[str, Panel] = {
    "sentiment": sentiment_panel,
    "volume": volume_panel,
    "voice": voice_panel,
    "responses": response_panel,
}


def _save(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)  # attaches itself: the Agg canvas, whatever pyplot's backend
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def png(report: Report) -> bytes:
    """All panels on one PNG."""
    # names and queries come from the internet: "$...$" in them must stay text, never TeX
    with rc_context({"text.parse_math": False, "text.usetex": False}):
        figure = Figure(figsize=(14, 9), dpi=100, layout="constrained")
        figure.suptitle(f"{report.since:%Y-%m-%d} to {report.until:%Y-%m-%d} (UTC)")
        for axes, panel in zip(figure.subplots(2, 2).flat, PANELS.values(), strict=True):
            panel(axes, report)
        return _save(figure)


def png_panel(report: Report, name: str) -> bytes:
    """One panel (a key of `PANELS`) as its own PNG."""
    with rc_context({"text.parse_math": False, "text.usetex": False}):  # text, never TeX
        figure = Figure(figsize=(9, 4.5), dpi=100, layout="constrained")
        PANELS[name](figure.add_subplot(), report)
        return _save(figure)
