"""Replies to Mastodon mentions from the brand account, idempotent through Idempotency-Key."""

from __future__ import annotations

import logging

from collectors.base import PostedReply
from collectors.mastodon.client import MastodonClient
from collectors.mastodon.collector import resolve_local_id
from collectors.mastodon.parse import SOURCE, reply_text, reply_visibility
from socialcrm.mention import Mention

log = logging.getLogger(__name__)


class MastodonResponder:
    """Posts replies with the brand account on its own instance (`client`)."""

    def __init__(self, client: MastodonClient) -> None:
        self.client = client

    @property
    def name(self) -> str:
        """Always `mastodon`."""
        return SOURCE

    def post(self, mention: Mention, text: str, idempotency_key: str) -> PostedReply:
        """Reply under `mention`; Mastodon answers a repeated key with the status it made first.

        The reply keeps the mention's content warning and is never more visible than it; a
        status from another instance is first resolved on the brand's instance.
        """
        target = resolve_local_id(self.client, mention)
        body = reply_text(text, mention.author.handle, self.client.base_url)
        visibility = reply_visibility(mention.extra.get("visibility"))
        spoiler = str(mention.extra.get("spoiler_text") or "")
        status = self.client.call(
            "reply",
            lambda api: api.status_post(
                body,
                in_reply_to_id=target,
                visibility=visibility,
                spoiler_text=spoiler,
                idempotency_key=idempotency_key,
            ),
            gone=True,
        )
        log.info("mastodon: replied to %s as %s", mention.url, status.get("url"))
        return PostedReply(str(status["id"]), status.get("url"))
