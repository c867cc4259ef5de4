"""The CLI end to end: import, collect, process, status, db, and `run` stopped by Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from socialcrm.cli import app
from socialcrm.db import Database
from tests.fakes import mention_states

SETTINGS = '[app]\nlog_level = "INFO"\n[sources.demo]\nper_run = 6\n[web]\nin_run = false\n'


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
        return mention_states(db)
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
    assert "quarantined items: 1 (import:" in shown.output
    assert "archive.jsonl:4" in shown.output
    assert "not valid JSON" in shown.output
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
    assert "no source named 'myspace'; known sources: demo, reddit" in unknown.output


def test_importing_a_missing_file_is_one_line(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("import", str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 2
    assert "nope.jsonl: no such file" in result.output


def test_db_upgrade_and_current(cli) -> None:  # type: ignore[no-untyped-def]
    upgraded = cli("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    head = Database("sqlite://").head_revision()
    assert f"database at revision {head} (was empty)" in upgraded.output
    assert f"database: {head}; code: {head}" in cli("db", "current").output


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


def _until_ctrl_c(
    database_url: str,
    settings: Path,
    args: list[str],
    wait_for: str,
    meanwhile: Callable[[], None] | None = None,
) -> str:
    """Start `socialcrm ARGS` as a process, read its log until `wait_for`, press Ctrl-C.

    `meanwhile` runs before the Ctrl-C. Returns the whole log; fails unless the process then
    exits 0.
    """
    env = {**os.environ, "SOCIALCRM_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "socialcrm", "--config", str(settings), *args]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env) as process:
        assert process.stderr is not None
        watchdog = threading.Timer(120, process.kill)  # a hung process fails the test, not CI
        watchdog.start()
        try:
            seen = []
            for line in process.stderr:
                seen.append(line)
                if wait_for in line:
                    break
            if meanwhile is not None:
                meanwhile()
            process.send_signal(signal.SIGINT)
            seen.append(process.stderr.read())
            assert process.wait(timeout=60) == 0, "".join(seen)
        finally:
            watchdog.cancel()
    return "".join(seen)


def test_run_demo_reaches_the_end_of_the_pipeline_and_stops_on_ctrl_c(
    database_url: str, write_settings
) -> None:  # type: ignore[no-untyped-def]
    log = _until_ctrl_c(
        database_url,
        write_settings(SETTINGS),
        ["run", "--demo"],
        wait_for="pipeline moved classify=6, link=6, route=6",
    )
    assert "sources enabled: demo" in log
    assert (
        "jobs: collect:demo every 10 s, health every 60 s, pipeline every 30 s, "
        "retention daily at 03:00" in log
    )
    assert "model socialcrm-minilm@" in log  # loaded once, at start
    assert log.rstrip().endswith("stopped")
    assert _states(database_url).get("routed", 0) >= 6


def test_collect_keeps_collecting_without_processing_until_ctrl_c(
    database_url: str, write_settings
) -> None:  # type: ignore[no-untyped-def]
    log = _until_ctrl_c(
        database_url,
        write_settings(SETTINGS),
        ["collect", "--source", "demo"],
        wait_for="source demo: 6 new mention(s)",
    )
    assert "jobs: collect:demo every 10 s, health every 60 s\n" in log
    assert "pipeline moved" not in log
    assert set(_states(database_url)) == {"collected"}


def test_run_leaves_out_a_misconfigured_source_with_one_alert(
    cli, write_settings, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    settings = write_settings(
        SETTINGS + '[watch]\nbrand = ["Inkwell"]\n[sources.bluesky]\nenabled = true\n'
    )
    result = CliRunner().invoke(app, ["--config", str(settings), "run", "--stop-after", "0"])
    assert result.exit_code == 0, result.output
    assert "sources enabled: bluesky" in result.output
    assert "source bluesky is not started" in result.output
    assert result.output.count("ALERT: source bluesky is disabled until fixed") == 1
    assert "jobs: pipeline every 30 s" in result.output


def test_run_stops_by_itself_after_stop_after(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("run", "--stop-after", "0")
    assert result.exit_code == 0, result.output
    assert "sources enabled: none" in result.output
    assert result.output.rstrip().endswith("stopped")


def test_run_serves_the_dashboard_beside_the_scheduler(database_url: str, write_settings) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as probe:  # a free port on the loopback
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = SETTINGS.replace("in_run = false", f"in_run = true\nport = {port}")
    answers: list[int] = []

    def visit() -> None:
        answers.append(httpx.get(f"http://127.0.0.1:{port}/login", timeout=10).status_code)

    log = _until_ctrl_c(
        database_url,
        write_settings(settings),
        ["run"],
        wait_for="Application startup complete",
        meanwhile=visit,
    )
    assert f"the dashboard is served on http://127.0.0.1:{port}/" in log
    assert answers == [200]
    assert log.rstrip().endswith("stopped")
