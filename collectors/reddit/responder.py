"""RedditResponder: replies to a comment or submission, without posting the same reply twice."""

from __future__ import annotations

import logging
import time
from typing import Any

import praw
import requests
from praw.exceptions import RedditAPIException
from praw.models import Message
from prawcore import exceptions as pce

from collectors.base import (
    PostedReply,
    RateLimitedError,
    SourceError,
    TargetGoneError,
    TransientSourceError,
)
from collectors.reddit import parse
from collectors.reddit.client import Calls, RedditConfig, make_reddit, single_attempt_calls
from collectors.resilience import Sleep
from socialcrm.mention import Mention

log = logging.getLogger(__name__)

# Reddit's error types for a parent that can no longer be answered
GONE_ERRORS = frozenset({"DELETED_COMMENT", "DELETED_LINK", "TOO_OLD"})
# how many of the account's newest comments are searched for a reply already posted
RECENT_COMMENTS = 100
# prawcore spreads requests by at most 10 s; a longer pace means the budget is used up
# until its reset, which is the caller's to wait (the reply stays claimed while we sleep)
MAX_PACE = 10.0


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def find_posted(comments: list[dict[str, Any]], parent: str, text: str) -> PostedReply | None:
    """Our reply to `parent` with the same text among `comments`, if one was posted already."""
    for comment in comments:
        body = comment.get("body")
        if comment.get("parent_id") == parent and isinstance(body, str) and _same(body, text):
            name = str(comment.get("name"))
            return PostedReply(name, parse.permalink_url(comment, name))
    return None


def refused(parent: str, error: RedditAPIException) -> SourceError:
    """The taxonomy's error for Reddit refusing a reply (locked thread, deleted parent, ...)."""
    types = {item.error_type for item in error.items}
    if types & GONE_ERRORS:
        return TargetGoneError(f"reddit: {parent} is deleted or archived")
    first = error.items[0] if error.items else None
    said = f"{first.error_type}: {first.message or ''}" if first else str(error)
    return SourceError(f"reddit refused the reply to {parent}: {' '.join(said.split())}")


class RedditResponder:
    """Posts a reply as the configured account.

    Reddit takes no idempotency key, so before posting we look through the account's newest
    comments for one with the same parent and the same text (one listing request). The post
    itself is tried once and nothing is waited out (rate limits raise `RateLimitedError`):
    Reddit often creates a comment while answering 502/504 or timing out, so a retry belongs
    to the caller, after a fresh look at that history.
    """

    def __init__(
        self,
        config: RedditConfig,
        session: requests.Session | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.config = config
        self.session = session
        self.sleep = sleep
        # nothing is waited out here, not even a 429 or RATELIMIT: while we slept, the claim
        # on the reply could lapse and another worker post it; the caller retries later
        self.calls: Calls = single_attempt_calls()
        self._reddit: praw.Reddit | None = None

    @property
    def name(self) -> str:
        """Always `reddit`."""
        return parse.SOURCE

    @property
    def reddit(self) -> praw.Reddit:
        """The praw client acting as the account, built on first use."""
        if self._reddit is None:
            self.config.require_account("replying on reddit")
            # no prawcore retries either: a retried POST can post the reply twice
            self._reddit = make_reddit(
                self.config, self.session, self.sleep, retries=0, max_pace=MAX_PACE
            )
        return self._reddit

    def post(self, mention: Mention, text: str, idempotency_key: str) -> PostedReply:
        """Reply to `mention`; an identical reply already there is returned, not posted again."""
        parent = mention.source_id
        if (posted := self._already_posted(parent, text)) is not None:
            log.info("reddit: reply %s for key %s already posted", posted.reply_id, idempotency_key)
            return posted
        reply = self._reply(parent, text)
        if reply is None:
            # Reddit created it but did not say so (quarantined subreddits): find it next time
            raise TransientSourceError(f"reddit: reply to {parent} not confirmed; will look again")
        name = str(reply.fullname)
        return PostedReply(name, parse.permalink_url(parse.to_plain(reply), name))

    def _reply(self, parent: str, text: str) -> Any:
        target = self._target(parent)
        try:
            return self.calls.call(lambda: target.reply(text))
        except RedditAPIException as error:
            raise refused(parent, error) from error
        except pce.NotFound as error:
            raise TargetGoneError(f"reddit: {parent} no longer exists") from error
        except RateLimitedError:
            raise  # refused before anything was created: the caller waits, then looks again
        except TransientSourceError as error:
            raise TransientSourceError(
                f"reddit: reply to {parent} not confirmed ({error}); "
                "the next attempt looks for it before posting"
            ) from error

    def _target(self, fullname: str) -> Any:
        kind, _, short = fullname.partition("_")
        if kind == "t1":
            return self.reddit.comment(short)
        if kind == "t3":
            return self.reddit.submission(short)
        if kind == "t4":
            return Message(self.reddit, _data={"id": short, "name": fullname})
        raise TargetGoneError(f"reddit: {fullname!r} is not a comment, submission or message")

    def _already_posted(self, parent: str, text: str) -> PostedReply | None:
        username = self.config.username or ""
        # a reply to a private message is a message in the account's sent box, not a comment
        listing = iter(
            self.reddit.inbox.sent(limit=RECENT_COMMENTS)
            if parent.startswith("t4_")
            else self.reddit.redditor(username).comments.new(limit=RECENT_COMMENTS)
        )
        comments: list[dict[str, Any]] = []
        while (thing := self.calls.call(lambda: next(listing, None))) is not None:
            comments.append(parse.to_plain(thing))
        return find_posted(comments, parent, text)
