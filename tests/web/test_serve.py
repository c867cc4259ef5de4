"""The dashboard inside `socialcrm run`: it says where it listens, or that it could not."""

from __future__ import annotations

import logging
import socket

import httpx
import pytest

from socialcrm.cli_web import serve_in_background
from socialcrm.db import Database
from socialcrm.settings import Secrets, Settings


def _settings(port: int) -> Settings:
    secrets = Secrets(web_secret="w" * 32)  # type: ignore[call-arg, arg-type]
    return Settings.model_validate({"web": {"port": port}, "secrets": secrets})


def test_the_dashboard_is_served_and_stopped(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with caplog.at_level(logging.INFO):
        stop = serve_in_background(_settings(port), db)
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/login", timeout=10).status_code == 200
    finally:
        stop()
    assert f"the dashboard is served on http://127.0.0.1:{port}/" in caplog.text


def test_a_taken_port_is_said_not_hidden(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.INFO):
            stop = serve_in_background(_settings(port), db)
        stop()
    assert "the dashboard could not start on" in caplog.text
    assert "served on" not in caplog.text
