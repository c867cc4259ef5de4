"""`socialcrm customers export|forget` and `socialcrm retention purge`: data protection."""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from crm_sync import outbox, privacy, retention
from reports.sql import compact_search_index
from socialcrm.cli import State, _state, app, fail, out
from socialcrm.cli_customers import customers_app
from socialcrm.pseudonym import settings_key
from socialcrm.settings import SettingsError

retention_app = typer.Typer(
    help="Retention: delete what is older than the retention settings allow.", no_args_is_help=True
)
app.add_typer(retention_app, name="retention")

RefArgument = Annotated[
    str,
    typer.Argument(
        help="A customer id (42 or customer:42), source:handle, or a handle or email address."
    ),
]


def _find(state: State, session: Session, ref: str) -> privacy.Person:
    """The person `ref` names, or a one-line error (an ambiguous handle lists the candidates)."""
    try:
        key = settings_key(state.settings)
        return privacy.find_person(session, ref, key)
    except SettingsError as error:
        raise fail(str(error), 2) from None
    except privacy.PersonError as error:
        raise fail(str(error), 2) from None


@customers_app.command("export")
def export(
    ctx: typer.Context,
    ref: RefArgument,
    output: Annotated[
        str, typer.Option("--output", "-o", help="File to write the JSON to; - for stdout.")
    ] = "-",
) -> None:
    """Everything held about a person, as JSON: the rows of every table that name them."""
    state = _state(ctx)
    with state.database().transaction() as session:
        person = _find(state, session, ref)
        data = privacy.export(session, person)
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    if output == "-":
        typer.echo(text)
        return
    _write_private(output, text + "\n")
    rows = sum(len(table) for table in data["tables"].values())
    line = f"exported {person.label}: {rows} row(s) to {output}"
    out.print(line, highlight=False, markup=False, soft_wrap=True)


def _write_private(path: str, text: str) -> None:
    """Write `text` to a file only its owner can read: it is one person's whole record."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        raise fail(f"cannot write {path}: {error.strerror}") from None


@customers_app.command("forget")
def forget(
    ctx: typer.Context,
    ref: RefArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    by: Annotated[str | None, typer.Option(help="Who asks (default: the login name).")] = None,
) -> None:
    """Erase everything held about a person and tell the CRM; one audit entry of counts stays."""
    state = _state(ctx)
    db = state.database()
    connectors = outbox.enabled_connectors(state.settings.crm)
    if not yes:
        # asked outside any transaction: a person thinking must not hold the database's locks
        with db.transaction() as session:
            person = _find(state, session, ref)
            held = privacy.held(session, person)
        _confirm(person, held, connectors)
    with db.transaction() as session:
        person = _find(state, session, ref)
        forgotten = privacy.forget(session, person, by or getpass.getuser(), connectors)
        compact_search_index(session)  # the person's words leave the search index now
    _print_forgotten(person, forgotten, connectors)


def _confirm(person: privacy.Person, held: Mapping[str, int], connectors: Sequence[str]) -> None:
    rows = ", ".join(f"{table} {count}" for table, count in held.items() if count)
    crm = f" and tell the CRM ({', '.join(connectors)})" if connectors else ""
    typer.confirm(
        f"Erase {person.label} ({rows or 'no rows'}){crm}? This cannot be undone", abort=True
    )


def _print_forgotten(
    person: privacy.Person, forgotten: privacy.Forgotten, connectors: Sequence[str]
) -> None:
    out.print(f"forgot {person.label}; erased:", highlight=False, markup=False)
    for table, count in forgotten.counts.items():
        if count:
            out.print(f"  {table}: {count}", highlight=False, markup=False)
    if connectors:
        line = (
            f"queued {forgotten.crm_messages} contact.forget message(s) for {', '.join(connectors)}"
        )
    else:
        line = "no CRM connector is enabled: erase the contact in the CRM by hand if it has one"
    out.print(line, highlight=False, markup=False, soft_wrap=True)


@retention_app.command("purge")
def purge(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")
    ] = False,
) -> None:
    """Delete what is older than the retention settings allow (as the daily job does)."""
    state = _state(ctx)
    settings = state.settings.retention
    db = state.database()
    counts = retention.purge(db, settings, dry_run=dry_run)
    if not dry_run:
        with db.transaction() as session:
            compact_search_index(session)
    _print_purge(counts, {rule.name: rule.days for rule in retention.rules(settings)}, dry_run)


def _print_purge(counts: Mapping[str, int], days: Mapping[str, Any], dry_run: bool) -> None:
    done = "to delete" if dry_run else "deleted"
    if dry_run:
        out.print("dry run: nothing was deleted", highlight=False, markup=False)
    for name, count in counts.items():
        kept = days.get(name) == 0
        line = f"{name}: kept for ever (0 days)" if kept else f"{name}: {count} {done}"
        out.print(line, highlight=False, markup=False)
