"""Bluesky over XRPC (httpx, no SDK): post search, notifications, thread context, replies."""

from __future__ import annotations

import time

import httpx

from collectors.bluesky.client import XrpcClient
from collectors.bluesky.collector import BlueskyCollector
from collectors.bluesky.responder import BlueskyResponder
from collectors.queries import Watch
from collectors.resilience import Sleep
from socialcrm.settings import Settings

__all__ = ["BlueskyCollector", "BlueskyResponder", "XrpcClient", "build", "build_responder"]


def client_from_settings(
    settings: Settings, transport: httpx.BaseTransport | None = None, sleep: Sleep = time.sleep
) -> XrpcClient:
    """An XRPC client logged in (lazily) as `sources.bluesky.handle`."""
    source = settings.sources.bluesky
    password = settings.secrets.bluesky_app_password
    return XrpcClient(
        source.service,
        source.handle,
        password.get_secret_value() if password is not None else None,
        transport=transport,
        sleep=sleep,
    )


def build(
    settings: Settings, transport: httpx.BaseTransport | None = None, sleep: Sleep = time.sleep
) -> BlueskyCollector:
    """The Bluesky collector as the settings configure it."""
    source = settings.sources.bluesky
    return BlueskyCollector(
        client_from_settings(settings, transport, sleep),
        Watch.from_settings(settings.watch, source),
        search=source.search,
        notifications=source.notifications,
        limit=source.limit,
    )


def build_responder(
    settings: Settings, transport: httpx.BaseTransport | None = None, sleep: Sleep = time.sleep
) -> BlueskyResponder:
    """The Bluesky responder, posting as `sources.bluesky.handle`."""
    return BlueskyResponder(client_from_settings(settings, transport, sleep))
