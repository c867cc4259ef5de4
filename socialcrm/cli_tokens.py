"""`socialcrm tokens create|list|revoke`: REST API tokens (docs/reports.md)."""

from __future__ import annotations

import getpass
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from socialcrm.cli import _state, app, fail, out
from socialcrm.web import tokens

tokens_app = typer.Typer(
    help="REST API tokens: create (shown once), list, revoke.", no_args_is_help=True
)
app.add_typer(tokens_app, name="tokens")


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


@tokens_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="What the token is for, e.g. the CRM's name.")],
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="read and/or write (repeatable; default: read)."),
    ] = None,
) -> None:
    """Create a token and print it once: only its SHA-256 is stored."""
    db = _state(ctx).database()
    try:
        with db.transaction() as session:
            token, info = tokens.create(session, name, scope or ["read"], _actor())
    except tokens.TokenError as error:
        raise fail(str(error), 2) from None
    out.print(
        f"token {info.id} ({info.name}, {', '.join(info.scopes)}); shown only now, keep it safe:",
        markup=False,
        highlight=False,
    )
    typer.echo(token)


@tokens_app.command("list")
def list_(ctx: typer.Context) -> None:
    """Every token: id, name, scopes, when made, last used and revoked."""
    db = _state(ctx).database()
    with db.transaction() as session:
        infos = tokens.list_all(session)
    if not infos:
        out.print("no tokens (socialcrm tokens create NAME --scope read)", markup=False)
        return
    table = Table()
    for column in ("id", "name", "scopes", "created", "last used", "revoked"):
        table.add_column(column)
    for info in infos:
        table.add_row(
            str(info.id),
            Text(info.name),
            ",".join(info.scopes),
            _when(info.created_at),
            _when(info.last_used_at),
            _when(info.revoked_at),
        )
    out.print(table)


@tokens_app.command("revoke")
def revoke(
    ctx: typer.Context,
    token_id: Annotated[int, typer.Argument(help="The token's id (socialcrm tokens list).")],
) -> None:
    """Revoke a token: requests with it are refused from now on."""
    db = _state(ctx).database()
    try:
        with db.transaction() as session:
            info = tokens.revoke(session, token_id, _actor())
    except tokens.TokenError as error:
        raise fail(str(error), 2) from None
    out.print(f"token {info.id} ({info.name}) revoked", markup=False, highlight=False)
