"""`socialcrm crm status|dispatch|retry-dead|pull`: the CRM outbox and HubSpot contacts."""

from __future__ import annotations

from typing import Annotated

import httpx
import typer
from rich.table import Table

from crm_sync import outbox
from crm_sync.connectors import USER_AGENT, ConnectorAuthError, ConnectorError, build_connectors
from crm_sync.hubspot_pull import pull
from socialcrm.cli import _ago, _state, app, err, fail, out
from socialcrm.cli_customers import print_report

crm_app = typer.Typer(
    help="The CRM outbox: what waits, send what is due, retry dead letters.",
    no_args_is_help=True,
)
app.add_typer(crm_app, name="crm")

DEAD_SHOWN = 5


@crm_app.command("status")
def status_(ctx: typer.Context) -> None:
    """Outbox messages per connector and state, the oldest waiting, the last dead letters."""
    db = _state(ctx).database()
    with db.transaction() as session:
        counts = outbox.counts(session)
        oldest = outbox.oldest_pending(session)
        dead = outbox.dead_letters(session, DEAD_SHOWN)
    if not counts:
        out.print("outbox: empty", markup=False)
        return
    table = Table(title="CRM outbox", title_justify="left")
    for column in ("connector", "pending", "sent", "dead", "oldest pending"):
        table.add_column(column)
    for name in sorted({connector for connector, _ in counts}):
        row = [str(counts.get((name, state), 0)) for state in ("pending", "sent", "dead")]
        table.add_row(name, *row, _ago(oldest[name]) if name in oldest else "-")
    out.print(table)
    if dead:
        letters = Table(title="Latest dead letters", title_justify="left")
        for column in ("id", "connector", "event", "attempts", "reason"):
            letters.add_column(column)
        for m in dead:
            letters.add_row(str(m.id), m.connector, m.topic, str(m.attempts), m.last_error or "")
        out.print(letters)
        out.print("fix the cause, then: socialcrm crm retry-dead", markup=False)


@crm_app.command("dispatch")
def dispatch_(ctx: typer.Context) -> None:
    """Send every outbox message that is due now to the enabled connectors."""
    state = _state(ctx)
    settings = state.settings
    if not outbox.enabled_connectors(settings.crm):
        raise fail(
            "no CRM connector is enabled: set enabled = true under [crm.webhook] or [crm.hubspot]",
            2,
        )
    db = state.database()
    total = outbox.DispatchSummary()
    with httpx.Client(headers={"User-Agent": USER_AGENT}) as client:
        try:
            connectors = build_connectors(settings, client)
        except ConnectorAuthError as error:
            raise fail(str(error), 2) from None
        while True:
            summary = outbox.dispatch(db, connectors, settings.crm)
            total += summary
            # a short round means nothing else is due (what was tried has moved into the future);
            # a round that delivered nothing means the connectors are failing: stop asking
            if summary.total < outbox.DEFAULT_LIMIT or summary.sent == 0:
                break
    out.print(
        f"sent {total.sent}, to retry {total.retried}, dead {total.dead}, waiting {total.waiting}",
        markup=False,
    )
    if total.sent < total.total:  # say why, not only how many
        with db.transaction() as session:
            for name, reason in sorted(outbox.last_errors(session).items()):
                err.print(f"{name}: {reason}", highlight=False, markup=False, soft_wrap=True)


@crm_app.command("retry-dead")
def retry_dead_(
    ctx: typer.Context,
    connector: Annotated[
        str | None, typer.Option(help="Only this connector's dead letters (webhook or hubspot).")
    ] = None,
) -> None:
    """Queue dead letters again with fresh attempts, once their cause is fixed."""
    if connector is not None and connector not in outbox.KNOWN_CONNECTORS:
        known = " or ".join(outbox.KNOWN_CONNECTORS)
        raise fail(f"--connector {connector!r} is unknown: expected {known}", 2)
    count = outbox.retry_dead(_state(ctx).database(), connector)
    out.print(f"{count} dead letter(s) queued again", markup=False)


@crm_app.command("pull")
def pull_(ctx: typer.Context) -> None:
    """Read HubSpot's contacts into customer records now, then link the authors they name."""
    state = _state(ctx)
    if not state.settings.crm.hubspot.enabled:
        raise fail("HubSpot is not enabled: set enabled = true under [crm.hubspot]", 2)
    db = state.database()
    with httpx.Client(headers={"User-Agent": USER_AGENT}) as client:
        try:
            report = pull(db, state.settings, client)
        except ConnectorError as error:
            raise fail(str(error)) from None
    print_report("hubspot", report)
