"""Mastodon: hashtag timelines, status search and the brand account's mentions; replies."""

from __future__ import annotations

from collectors.base import SourceConfigError
from collectors.mastodon.client import TOKEN_ENV, MastodonClient
from collectors.mastodon.collector import MastodonCollector
from collectors.mastodon.responder import MastodonResponder
from collectors.queries import Watch
from collectors.resilience import Retrier
from socialcrm.settings import Settings

__all__ = ["MastodonClient", "MastodonCollector", "MastodonResponder", "build", "build_responder"]


def _token(settings: Settings) -> str | None:
    secret = settings.secrets.mastodon_access_token
    return secret.get_secret_value() if secret is not None else None


def build(settings: Settings) -> MastodonCollector:
    """The Mastodon collector as the settings configure it."""
    source = settings.sources.mastodon
    watch = Watch.from_settings(settings.watch, source)
    return MastodonCollector(source, watch, _token(settings), limit=source.limit)


def build_responder(settings: Settings) -> MastodonResponder:
    """The responder posting as the brand account on `[sources.mastodon] instance`."""
    token = _token(settings)
    if not token:
        raise SourceConfigError(f"mastodon: replying needs {TOKEN_ENV} (scope write:statuses)")
    client = MastodonClient(settings.sources.mastodon.instance, token, Retrier("mastodon"))
    return MastodonResponder(client)
