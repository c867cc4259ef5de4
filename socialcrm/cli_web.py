"""`socialcrm web` serves the dashboard and REST API; `socialcrm users` manages its users."""

from __future__ import annotations

import contextlib
import getpass
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Annotated

import typer
import uvicorn
from rich.table import Table

from socialcrm.cli import _state, app, fail, out
from socialcrm.db import Database
from socialcrm.settings import Settings
from socialcrm.web.auth import ROLES, UserError, add_user, disable_user, list_users, set_password

log = logging.getLogger(__name__)
START_TIMEOUT = 10.0  # seconds to wait for the dashboard to bind in `socialcrm run`
users_app = typer.Typer(
    help="Dashboard users: add, list, disable, set a password.", no_args_is_help=True
)
app.add_typer(users_app, name="users")


def _who() -> str:
    """The person at the terminal, as the audit log names them."""
    return f"cli:{getpass.getuser()}"


def server(
    settings: Settings, db: Database, host: str | None = None, port: int | None = None
) -> uvicorn.Server:
    """A uvicorn server for the app (not started); host and port default to `[web]`."""
    from socialcrm.web.app import create_app  # FastAPI: imported only by the commands that serve

    try:
        web_app = create_app(settings, db)
    except UserError as error:
        raise fail(str(error), 2) from None
    config = uvicorn.Config(
        web_app,
        host=host or settings.web.host,
        port=port or settings.web.port,
        log_config=None,  # our logging (masked secrets) stays in charge
        proxy_headers=False,  # X-Forwarded-For is not trusted; a proxy sets Secure by its header
        server_header=False,
    )
    return uvicorn.Server(config)


def serve_in_background(settings: Settings, db: Database) -> Callable[[], None]:
    """Serve the dashboard in a daemon thread (for `socialcrm run`); returns what stops it."""
    running = server(settings, db)

    def serve() -> None:
        with contextlib.suppress(SystemExit):  # uvicorn exits when it cannot bind: said below
            running.run()

    thread = threading.Thread(target=serve, name="web", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not running.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)  # uvicorn binds in its thread: say whether it could
    where = f"http://{settings.web.host}:{settings.web.port}/"
    if running.started:
        log.info("the dashboard is served on %s", where)
    else:
        log.error("the dashboard could not start on %s (is the port taken? see [web])", where)

    def stop() -> None:
        running.should_exit = True
        thread.join(timeout=10)

    return stop


@app.command()
def web(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default: web.host, 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port (default: web.port, 8000).")
    ] = None,
) -> None:
    """Serve the dashboard and the REST API (bound to 127.0.0.1 unless told otherwise)."""
    state = _state(ctx)
    running = server(state.settings, state.database(), host, port)
    config = running.config
    out.print(f"serving http://{config.host}:{config.port}/ (Ctrl-C stops)", markup=False)
    running.run()


@users_app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The log-in name.")],
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}.")],
) -> None:
    """Add a dashboard user; the password is asked for (or read from stdin's first line)."""
    password = _read_password()
    with _state(ctx).database().transaction() as session:
        try:
            add_user(session, name, role, password, _who())
        except UserError as error:
            raise fail(str(error), 2) from None
    out.print(f"added {name} ({role})", markup=False, highlight=False)


def _read_password() -> str:
    """A password asked for twice at a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        entered: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return entered
    return sys.stdin.readline().rstrip("\r\n")


@users_app.command("list")
def list_(ctx: typer.Context) -> None:
    """Every dashboard user: name, role, when added, whether disabled."""
    with _state(ctx).database().transaction() as session:
        users = [(u.name, u.role, u.created_at, u.disabled_at) for u in list_users(session)]
    if not users:
        out.print("no users: add one with `socialcrm users add NAME --role admin`", markup=False)
        return
    table = Table(title="Dashboard users", title_justify="left")
    for column in ("name", "role", "added", "state"):
        table.add_column(column)
    for name, role, added, disabled in users:
        state = f"disabled {disabled:%Y-%m-%d %H:%M}" if disabled else "active"
        table.add_row(name, role, f"{added:%Y-%m-%d %H:%M}", state)
    out.print(table)


@users_app.command("disable")
def disable(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The user's log-in name.")]
) -> None:
    """Disable a user: they can no longer log in, and their sessions end at once."""
    with _state(ctx).database().transaction() as session:
        try:
            disable_user(session, name, _who())
        except UserError as error:
            raise fail(str(error), 2) from None
    out.print(f"disabled {name}", markup=False, highlight=False)


@users_app.command("password")
def change_password(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The user's log-in name.")]
) -> None:
    """Set a user's password (asked for, or stdin's first line); their sessions end at once."""
    new = _read_password()
    with _state(ctx).database().transaction() as session:
        try:
            set_password(session, name, new, _who())
        except UserError as error:
            raise fail(str(error), 2) from None
    out.print(f"set the password of {name}; their sessions have ended", markup=False)
