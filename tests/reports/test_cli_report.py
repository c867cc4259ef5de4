"""`socialcrm report --since 7d --format html|csv|png --output FILE`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from socialcrm.cli import app
from socialcrm.db import Database
from tests.reports import builders as b


@pytest.fixture
def cli(database_url: str, write_settings, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Invoke `socialcrm` against the test database, with two mentions of the last day."""
    db = Database(database_url)
    db.upgrade()
    ada = b.author(db, "ada")
    now = datetime.now(UTC)
    b.mention(db, ada, now - timedelta(hours=2), "printer jammed", sentiment="negative")
    b.mention(db, ada, now - timedelta(hours=1), "=cmd|' /C calc'!A0", sentiment="positive")
    db.dispose()
    monkeypatch.setenv("SOCIALCRM_DATABASE_URL", database_url)
    path = write_settings('[watch]\nbrand = ["acme"]\n')

    def invoke(*args: str) -> Result:
        return CliRunner(env={"COLUMNS": "200"}).invoke(app, ["--config", str(path), *args])

    return invoke


@pytest.mark.parametrize(("fmt", "start"), [("html", b"<!doctype html>"), ("png", b"\x89PNG")])
def test_report_writes_the_file(cli, tmp_path: Path, fmt: str, start: bytes) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / f"report.{fmt}"
    result = cli("report", "--since", "7d", "--format", fmt, "--output", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes().startswith(start)
    assert "2 mentions" in result.output


def test_report_csv_is_safe(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "report.csv"
    result = cli("report", "--since", "24h", "--format", "csv", "-o", str(target))
    assert result.exit_code == 0, result.output
    body = target.read_text(encoding="utf-8")
    assert body.startswith("section,key,series,value")
    assert "overview,volume,,2" in body


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--format", "pdf"), "unknown format 'pdf'"),
        (("--since", "last tuesday"), "cannot read the time"),
        (("--since", "1d", "--until", "3d"), "before its end"),
    ],
)
def test_bad_options_are_one_line(cli, tmp_path: Path, args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("report", *args, "--output", str(tmp_path / "x"))
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "x").exists()
