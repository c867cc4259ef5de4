"""`socialcrm customers ...`: customer records, links between authors and customers."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from crm_sync import customers, merges
from crm_sync.customer_import import (
    CustomerFileError,
    ImportReport,
    import_records,
    read_records,
)
from crm_sync.stage import link_known_authors
from socialcrm import models
from socialcrm.cli import _state, app, err, fail, out

customers_app = typer.Typer(
    help="Customer records: import, link authors, merge and split, show, export and forget.",
    no_args_is_help=True,
)
app.add_typer(customers_app, name="customers")

ActorOption = Annotated[
    str, typer.Option("--by", help="Who makes the change, for the history (default: you).")
]


def _actor(by: str) -> str:
    return by or f"cli:{getpass.getuser()}"


def print_report(what: str, report: ImportReport, suggested: int | None = None) -> None:
    """What an import did: each skipped record on stderr, then the counts."""
    for problem in report.problems:
        err.print(f"[yellow]skipped[/] {problem}", highlight=False, markup=True, soft_wrap=True)
    offered = f", {suggested} links suggested" if suggested is not None else ""
    out.print(
        f"{what}: {report.created} new, {report.updated} updated; "
        f"{report.identities_added} identities added; {report.authors_linked} authors linked"
        f"{offered}; {len(report.problems)} problems",
        markup=False,
    )


@customers_app.command("import")
def import_(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV, JSON or JSON Lines export of the CRM.")],
    by: ActorOption = "",
) -> None:
    """Create or update customers from a CRM export; then link the authors they name."""
    state = _state(ctx)
    db = state.database()
    try:
        rows = read_records(path)
        with db.transaction() as session:
            report = import_records(session, rows, _actor(by))
            linked = link_known_authors(session, state.settings.crm, _actor(by))
    except CustomerFileError as error:
        raise fail(str(error)) from None
    report.authors_linked = linked.linked
    print_report("customers", report, linked.suggested)
    if report.problems:
        raise typer.Exit(1)


@customers_app.command()
def link(
    ctx: typer.Context,
    author: Annotated[str, typer.Argument(help="Author id, source:handle, or handle.")],
    customer: Annotated[int, typer.Argument(help="Customer id.")],
    by: ActorOption = "",
) -> None:
    """Link an author to a customer (kept in the history; `unlink` undoes it)."""
    with _state(ctx).database().transaction() as session:
        try:
            row = customers.find_author(session, author)
            changed = customers.link(session, row.id, customer, _actor(by))
        except customers.CustomerError as error:
            raise fail(str(error)) from None
    out.print(
        f"author {row.id} linked to customer {customer}"
        if changed
        else f"author {row.id} was already linked to customer {customer}",
        markup=False,
    )


@customers_app.command()
def unlink(
    ctx: typer.Context,
    author: Annotated[str, typer.Argument(help="Author id, source:handle, or handle.")],
    by: ActorOption = "",
) -> None:
    """Undo an author's link; automatic linking will not make it again."""
    with _state(ctx).database().transaction() as session:
        try:
            row = customers.find_author(session, author)
            former = customers.unlink(session, row.id, _actor(by))
        except customers.CustomerError as error:
            raise fail(str(error)) from None
    out.print(f"author {row.id} unlinked from customer {former}", markup=False)


@customers_app.command()
def merge(
    ctx: typer.Context,
    survivor: Annotated[int, typer.Argument(help="The customer that remains.")],
    absorbed: Annotated[int, typer.Argument(help="The customer merged into it.")],
    by: ActorOption = "",
) -> None:
    """Merge two records of one person; prints the merge id that `split` takes to undo it."""
    with _state(ctx).database().transaction() as session:
        try:
            merge_id = merges.merge(session, survivor, absorbed, _actor(by))
        except customers.CustomerError as error:
            raise fail(str(error)) from None
    out.print(
        f"customer {absorbed} merged into {survivor} (merge {merge_id}; "
        f"`socialcrm customers split {merge_id}` undoes it)",
        markup=False,
    )


@customers_app.command()
def split(
    ctx: typer.Context,
    merge_id: Annotated[int, typer.Argument(help="The merge to undo (shown by merge and show).")],
    by: ActorOption = "",
) -> None:
    """Undo a merge: both customers as they were before it."""
    with _state(ctx).database().transaction() as session:
        try:
            restored = merges.split(session, merge_id, _actor(by))
        except customers.CustomerError as error:
            raise fail(str(error)) from None
    out.print(f"merge {merge_id} undone: customer {restored} restored", markup=False)


@customers_app.command()
def suggestions(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many to list.")] = 50,
) -> None:
    """Open link suggestions, most confident first, with their evidence."""
    table = Table(title="Suggested links (accept or reject them)", title_justify="left")
    for column in ("id", "author", "customer", "confidence", "evidence"):
        table.add_column(column)
    with _state(ctx).database().transaction() as session:
        rows = session.execute(
            select(models.LinkSuggestion, models.Author, models.Customer)
            .join(models.Author, models.Author.id == models.LinkSuggestion.author_id)
            .join(models.Customer, models.Customer.id == models.LinkSuggestion.customer_id)
            .where(models.LinkSuggestion.state == "open")
            .order_by(models.LinkSuggestion.confidence.desc(), models.LinkSuggestion.id)
            .limit(limit)
        ).all()
        for suggestion, author, customer in rows:
            evidence = "; ".join(f"{e['identity']} in {e['seen_in']}" for e in suggestion.evidence)
            table.add_row(
                str(suggestion.id),
                f"{author.id} {author.source}:{author.handle}",
                f"{customer.id} {customer.display_name or ''}".strip(),
                f"{suggestion.confidence:.2f}",
                evidence,
            )
    if not rows:
        out.print("no open suggestions", markup=False)
        return
    out.print(table)


def _decide(ctx: typer.Context, suggestion_id: int, accept: bool, by: str) -> None:
    with _state(ctx).database().transaction() as session:
        try:
            row = customers.decide(session, suggestion_id, accept, _actor(by))
        except customers.CustomerError as error:
            raise fail(str(error)) from None
        verb = "linked to" if accept else "will not be linked to"
        out.print(f"author {row.author_id} {verb} customer {row.customer_id}", markup=False)


@customers_app.command()
def accept(
    ctx: typer.Context,
    suggestion_id: Annotated[int, typer.Argument(help="Suggestion id.")],
    by: ActorOption = "",
) -> None:
    """Accept a suggested link."""
    _decide(ctx, suggestion_id, True, by)


@customers_app.command()
def reject(
    ctx: typer.Context,
    suggestion_id: Annotated[int, typer.Argument(help="Suggestion id.")],
    by: ActorOption = "",
) -> None:
    """Reject a suggested link; it is not suggested again."""
    _decide(ctx, suggestion_id, False, by)
