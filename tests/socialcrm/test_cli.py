"""The CLI end to end: import, collect, process, status, db, and `run` stopped by Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from socialcrm import models
from socialcrm.cli import app
from socialcrm.db import Database

SETTINGS = '[app]\nlog_level = "INFO"\n[sources.demo]\nper_run = 6\n'


@pytest.fixture
def cli(database_url: str, write_settings, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Invoke `socialcrm` against the test database."""
    monkeypatch.setenv("SOCIALCRM_DATABASE_URL", database_url)
    path = write_settings(SETTINGS)

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(app, ["--config", str(path), *args])

    return invoke


def _states(database_url: str) -> dict[str, int]:
    db = Database(database_url)
    try:
        with db.transaction() as session:
            rows = session.execute(
                select(models.Mention.state, func.count()).group_by(models.Mention.state)
            )
            return {state: count for state, count in rows}
    finally:
        db.dispose()


def test_import_then_process_then_status(cli, database_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    export = tmp_path / "archive.jsonl"
    lines = [
        json.dumps(
            {"id": f"x{n}", "text": "hi", "created_at": "2026-11-01T00:00:00Z", "author": "ada"}
        )
        for n in range(3)
    ]
    export.write_text("\n".join([*lines, "{broken"]) + "\n")
    imported = cli("import", str(export), "--source", "oldtool")
    assert imported.exit_code == 0, imported.output
    assert "3 new, 0 already known, 1 quarantined" in imported.output
    again = cli("import", str(export))
    assert "0 new" in again.output
    processed = cli("process")
    assert processed.exit_code == 0
    assert "classify: 3, link: 3, route: 3" in processed.output
    shown = cli("status")
    assert shown.exit_code == 0
    assert "oldtool" in shown.output
    assert "pipeline: routed 3" in shown.output
    assert "archive.jsonl:4: not valid JSON" in shown.output
    assert _states(database_url) == {"routed": 3}


def test_collect_once_from_a_named_source(cli, database_url: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("collect", "--once", "--source", "demo")
    assert result.exit_code == 0, result.output
    assert "demo: 6 new, 0 already known" in result.output
    assert _states(database_url) == {"collected": 6}


def test_collect_with_nothing_enabled_or_an_unknown_source_exits_2(cli) -> None:  # type: ignore[no-untyped-def]
    nothing = cli("collect", "--once")
    assert (nothing.exit_code, "no source is enabled" in nothing.output) == (2, True)
    unknown = cli("collect", "--once", "--source", "myspace")
    assert unknown.exit_code == 2
    assert "no source named 'myspace'; known sources: demo" in unknown.output


def test_importing_a_missing_file_is_one_line(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("import", str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 2
    assert "nope.jsonl: no such file" in result.output


def test_db_upgrade_and_current(cli) -> None:  # type: ignore[no-untyped-def]
    upgraded = cli("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert "database at revision 0001 (was empty)" in upgraded.output
    assert "database: 0001; code: 0001" in cli("db", "current").output


def test_an_unreachable_database_is_one_line(
    write_settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SOCIALCRM_DATABASE_URL", "postgresql://nobody:pw@127.0.0.1:9/none")
    result = CliRunner().invoke(app, ["--config", str(write_settings("")), "status"])
    assert result.exit_code == 1
    assert "cannot reach the database" in result.output
    assert "pw@" not in result.output
    assert "Traceback" not in result.output


def test_help_is_everywhere() -> None:
    for command in (
        [],
        ["run"],
        ["collect"],
        ["process"],
        ["import"],
        ["db", "upgrade"],
        ["status"],
    ):
        result = CliRunner().invoke(app, [*command, "--help"])
        assert result.exit_code == 0
        assert "Usage" in result.output


def test_run_demo_reaches_the_end_of_the_pipeline_and_stops_on_ctrl_c(
    database_url: str, write_settings
) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "SOCIALCRM_DATABASE_URL": database_url}
    path = write_settings(SETTINGS)
    with subprocess.Popen(
        [sys.executable, "-m", "socialcrm", "--config", str(path), "run", "--demo"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        assert process.stderr is not None
        watchdog = threading.Timer(120, process.kill)  # a hung run fails the test, not CI
        watchdog.start()
        try:
            seen = []
            for line in process.stderr:
                seen.append(line)
                if "pipeline moved classify=6, link=6, route=6" in line:
                    break
            process.send_signal(signal.SIGINT)
            rest = process.stderr.read()
            assert process.wait(timeout=60) == 0, "".join(seen) + rest
        finally:
            watchdog.cancel()
    log = "".join(seen)
    assert "sources enabled: demo" in log
    assert "classify stage is a pass-through until issue #4" in log
    assert "stopped" in rest
    assert _states(database_url).get("routed", 0) >= 6
