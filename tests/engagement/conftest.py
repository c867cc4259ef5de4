"""Shared fixtures of the engagement tests."""

from __future__ import annotations

import pytest

from engagement import notify


@pytest.fixture(autouse=True)
def _fresh_chat_health(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chat outages (logged once, rounds held) start afresh in every test."""
    monkeypatch.setattr(notify, "_health", notify._Health())
