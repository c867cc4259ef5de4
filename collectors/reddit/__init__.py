"""Reddit through praw: searches, watched subreddits and the account's inbox; replies as it."""

from __future__ import annotations

from collectors.queries import Watch
from collectors.reddit.client import RedditConfig
from collectors.reddit.collector import RedditCollector, Stream, plan_streams
from collectors.reddit.responder import RedditResponder
from socialcrm.settings import Settings

__all__ = [
    "RedditCollector",
    "RedditConfig",
    "RedditResponder",
    "Stream",
    "build",
    "build_responder",
]


def config_from(settings: Settings) -> RedditConfig:
    """The client configuration: the user agent from the settings, credentials from secrets."""
    secrets = settings.secrets

    def secret(name: str) -> str | None:
        value = getattr(secrets, name)
        return value.get_secret_value() if value is not None else None

    return RedditConfig(
        user_agent=settings.sources.reddit.user_agent,
        client_id=secret("reddit_client_id"),
        client_secret=secret("reddit_client_secret"),
        username=secret("reddit_username"),
        password=secret("reddit_password"),
    )


def build(settings: Settings) -> RedditCollector:
    """The Reddit collector as the settings configure it."""
    table = settings.sources.reddit
    watch = Watch.from_settings(settings.watch, table)
    streams = plan_streams(
        watch, list(table.search_subreddits), list(table.subreddits), table.inbox
    )
    return RedditCollector(config_from(settings), watch, streams, limit=table.limit)


def build_responder(settings: Settings) -> RedditResponder:
    """The Reddit responder, replying as SOCIALCRM_REDDIT_USERNAME."""
    return RedditResponder(config_from(settings))
