"""Fixtures of the NLP tests: the shipped classifier (loaded once), a guard against the network."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from nlp.classifier import Classifier, shared
from socialcrm.settings import NlpSettings


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    """The shipped model with the default settings, as the pipeline loads it."""
    return shared(NlpSettings())


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Fail any connection that leaves this machine; yields the addresses that were tried."""
    tried: list[Any] = []
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if (
            isinstance(host, str)
            and host not in ("127.0.0.1", "::1", "localhost")
            and "/" not in host
        ):
            tried.append(address)
            raise OSError(f"test forbids network access to {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return tried
