"""Where the recorded platform traffic lives (`../shared/peers`); tests skip cleanly without it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT

PEERS = ROOT.parent / "shared" / "peers"


def peer_file(*parts: str) -> Path:
    """The recorded file at `peers/<parts>`, or skip the test saying what is missing."""
    path = PEERS.joinpath(*parts)
    if not path.is_file():
        pytest.skip(
            f"recorded traffic {path} is absent (../shared/peers is not beside the project)"
        )
    return path
