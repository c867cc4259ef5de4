"""`socialcrm customers show ID`: a customer's enriched profile, for people or as JSON."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from crm_sync.profile import CustomerNotFoundError, Profile, build_profile
from socialcrm.cli import _state, fail, out
from socialcrm.cli_customers import customers_app
from socialcrm.mention import utcnow


@customers_app.command("show")
def show(
    ctx: typer.Context,
    customer_id: Annotated[int, typer.Argument(metavar="ID", help="The customer's id.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole profile as JSON instead.")
    ] = False,
    limit: Annotated[
        int, typer.Option(min=0, help="History items to show, newest first (--json shows all).")
    ] = 50,
) -> None:
    """Show a customer's profile: identities, authors, sentiment, intents, topics, history."""
    state = _state(ctx)
    with state.database().transaction() as session:
        try:
            profile = build_profile(session, customer_id, state.settings.crm, utcnow())
        except CustomerNotFoundError as error:
            raise fail(str(error)) from None
    if as_json:
        sys.stdout.write(json.dumps(profile.as_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    _render(profile, limit)


def _render(profile: Profile, limit: int) -> None:
    _header(profile)
    _identities(profile)
    _authors(profile)
    _labels(profile)
    _history(profile, limit)


def _line(text: str) -> None:
    # names, handles and posts come from the internet: never read them as rich markup
    out.print(text, markup=False, highlight=False, soft_wrap=True)


def _header(profile: Profile) -> None:
    email = f" <{profile.email}>" if profile.email else ""
    _line(f"Customer {profile.customer_id}: {profile.name or '(no name)'}{email}")
    _line(f"CRM id: {profile.crm_id or '-'}")
    if profile.merged_into_id is not None:
        _line(
            f"merged into customer {profile.merged_into_id}: its authors and history are there "
            f"(socialcrm customers show {profile.merged_into_id})"
        )
    value = "no value" if profile.value is None else f"{profile.value:g}"
    _line(
        f"segment: {profile.segment or '-'} ({profile.value_field}: {value}); "
        f"engagement: {profile.engagement:.2f} (half-life {profile.half_life_days:g} days); "
        f"churn risk: {'YES' if profile.churn_risk else 'no'}"
    )


def _identities(profile: Profile) -> None:
    if not profile.identities:
        _line("identities: none")
        return
    table = Table(title="Identities", title_justify="left")
    for column in ("kind", "value", "confidence"):
        table.add_column(column)
    for identity in profile.identities:
        table.add_row(Text(identity.kind), Text(identity.value), f"{identity.confidence:.2f}")
    out.print(table)


def _authors(profile: Profile) -> None:
    if not profile.authors:
        _line("linked authors: none")
        return
    table = Table(title="Linked authors", title_justify="left")
    for column in ("source", "handle", "name", "linked by", "confidence", "linked (UTC)"):
        table.add_column(column, no_wrap=column not in ("handle", "name"))
    for author in profile.authors:
        confidence = author.link_confidence
        table.add_row(
            Text(author.source),
            Text(author.handle),
            Text(author.display_name or "-"),
            Text(author.link_method or "-"),
            "-" if confidence is None else f"{confidence:.2f}",
            _when(author.linked_at),
        )
    out.print(table)


def _labels(profile: Profile) -> None:
    _line("sentiment: " + _counts(profile.sentiment))
    trend = profile.trend
    days = f"{trend.window_days:g} days"
    change = "-" if trend.change is None else f"{trend.change:+.2f}"
    _line(
        f"trend: last {days} {_mean(trend.recent_mean)} ({trend.recent_count} mentions), "
        f"{days} before {_mean(trend.previous_mean)} ({trend.previous_count}), change {change}"
    )
    _line("intents: " + (_counts({k: v for k, v in profile.intents.items() if v}) or "none"))
    topics = profile.topics
    for name, counts in (
        ("terms", topics.terms),
        ("hashtags", topics.hashtags),
        ("subreddits", topics.subreddits),
    ):
        _line(f"{name}: " + (_counts(dict(list(counts.items())[:10])) or "none"))


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items())


def _mean(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}"


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M")


def _history(profile: Profile, limit: int) -> None:
    counts = profile.counts
    total = sum(counts.values())
    table = Table(title=f"Contact history ({_counts(counts)}; newest first)", title_justify="left")
    for column in ("when (UTC)", "kind", "who", "what"):
        table.add_column(column, no_wrap=column != "what")
    for item in profile.history[:limit]:
        table.add_row(_when(item.at), item.kind, Text(item.actor or ""), Text(item.summary))
    out.print(table)
    if total > limit:
        _line(f"... {total - limit} older items (--limit, or --json for all)")
