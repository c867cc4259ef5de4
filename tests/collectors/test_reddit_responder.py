"""Reddit responder against a fake Reddit: posting once, idempotency, refusals, rate limits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from collectors.base import (
    RateLimitedError,
    SourceConfigError,
    SourceError,
    TargetGoneError,
    TransientSourceError,
)
from collectors.reddit import RedditConfig, RedditResponder
from collectors.reddit.client import ratelimit_seconds
from socialcrm.mention import Author, Mention
from tests.collectors.fakeweb import FakeWeb, Reply, Request

CONFIG = RedditConfig("socialcrm-test/1", "client-id", "client-secret", "inkwell_team", "pw")
HISTORY = "/user/inkwell_team/comments"
TOKEN = {"access_token": "t", "token_type": "bearer", "expires_in": 3600, "scope": "*"}
MENTION = Mention(
    source="reddit",
    source_id="t1_ccc01",
    text="Is there a dark mode?",
    created_at=datetime(2026, 11, 2, tzinfo=UTC),
    author=Author("linus"),
    thread_id="t3_bbb01",
    parent_id="t3_bbb01",
)


def _listing(*children: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "Listing", "data": {"after": None, "children": list(children)}}


def _ours(name: str, parent: str, body: str) -> dict[str, Any]:
    data = {"name": name, "id": name[3:], "author": "inkwell_team", "body": body}
    data.update(parent_id=parent, link_id="t3_bbb01", created_utc=1793620000.0)
    return {"kind": "t1", "data": data}


def _posted(body: str) -> dict[str, Any]:
    return {"json": {"errors": [], "data": {"things": [_ours("t1_rrr01", "t1_ccc01", body)]}}}


@pytest.fixture
def web() -> FakeWeb:
    web = FakeWeb()
    web.route("POST", "/api/v1/access_token", TOKEN)
    web.route("GET", HISTORY, _listing(_ours("t1_old01", "t1_zzz", "Dark mode is in 2.1")))
    return web


def _responder(web: FakeWeb) -> RedditResponder:
    return RedditResponder(CONFIG, session=web.session(), sleep=lambda _s: None)


def test_a_reply_is_posted_to_the_mention_and_its_id_returned(web: FakeWeb) -> None:
    web.route("POST", "/api/comment/", _posted("Yes: Settings, Theme."))
    reply = _responder(web).post(MENTION, "Yes: Settings, Theme.", "key-1")
    assert (reply.reply_id, reply.url) == (
        "t1_rrr01",
        "https://www.reddit.com/comments/bbb01/_/rrr01/",
    )
    form = web.calls("/api/comment/")[0].form()
    assert (form["thing_id"], form["text"]) == ("t1_ccc01", "Yes: Settings, Theme.")
    assert web.calls(HISTORY)[0].params["sort"] == "new"


def test_the_same_reply_already_there_is_not_posted_again(web: FakeWeb) -> None:
    web.route("GET", HISTORY, _listing(_ours("t1_rrr01", "t1_ccc01", "Yes: Settings, Theme.")))
    reply = _responder(web).post(MENTION, "Yes: Settings, Theme.", "key-1")
    assert reply.reply_id == "t1_rrr01"
    assert not web.calls("/api/comment/")


def test_a_deleted_parent_is_target_gone(web: FakeWeb) -> None:
    error = ["DELETED_COMMENT", "that comment has been deleted", "parent"]
    web.route("POST", "/api/comment/", {"json": {"errors": [error]}})
    with pytest.raises(TargetGoneError):
        _responder(web).post(MENTION, "Hello", "key-2")


def test_a_reply_reddit_does_not_confirm_is_looked_for_next_time(web: FakeWeb) -> None:
    web.route("POST", "/api/comment/", {"json": {"errors": [], "data": {"things": []}}})
    with pytest.raises(TransientSourceError, match="not confirmed"):
        _responder(web).post(MENTION, "Hello", "key-3")


def test_replying_needs_the_account() -> None:
    responder = RedditResponder(RedditConfig("ua", "id", "secret"))
    with pytest.raises(SourceConfigError, match="SOCIALCRM_REDDIT_USERNAME"):
        responder.post(MENTION, "Hello", "key-4")


def _message(name: str, parent: str | None, author: str, body: str) -> dict[str, Any]:
    data = {"name": name, "id": name[3:], "author": author, "body": body, "subject": "sync"}
    data.update(parent_id=parent, dest="pat_r", subreddit=None, created_utc=1793620000.0)
    data["replies"] = ""
    return {"kind": "t4", "data": data}


def test_a_private_message_is_answered_and_checked_against_the_sent_box(web: FakeWeb) -> None:
    dm = Mention(
        source="reddit",
        source_id="t4_ggg01",
        text="sync\n\nlost my notes",
        created_at=datetime(2026, 11, 2, tzinfo=UTC),
        author=Author("pat_r"),
    )
    web.route("GET", "/message/sent/", _listing(_message("t4_old01", "t4_x", "inkwell_team", "hi")))
    sent = _message("t4_rrr02", "t4_ggg01", "inkwell_team", "Sorry! Which device?")
    web.route("POST", "/api/comment/", {"json": {"errors": [], "data": {"things": [sent]}}})
    reply = _responder(web).post(dm, "Sorry! Which device?", "key-dm")
    assert (reply.reply_id, reply.url) == (
        "t4_rrr02",
        "https://www.reddit.com/message/messages/rrr02",
    )
    assert web.calls("/api/comment/")[0].form()["thing_id"] == "t4_ggg01"
    assert not web.calls(HISTORY)
    web.route("GET", "/message/sent/", _listing(sent))
    again = _responder(web).post(dm, "Sorry!  Which device?", "key-dm")
    assert again.reply_id == "t4_rrr02"
    assert len(web.calls("/api/comment/")) == 1


def _failing_once(failure: Reply | type[Exception], then: Any) -> Any:
    """A handler whose first answer is `failure` (a status, or an exception raised), then `then`."""
    answers: list[Any] = [failure]

    def handler(_request: Request) -> Reply:
        answer = answers.pop() if answers else Reply(body=then)
        if isinstance(answer, type):
            raise answer("the connection broke mid-request")
        return answer

    return handler


@pytest.mark.parametrize(
    "failure",
    [Reply(502, {"error": 502}), Reply(504, {"error": 504}), requests.exceptions.ReadTimeout],
)
def test_a_failed_post_is_sent_once_and_the_next_attempt_finds_the_reply(
    web: FakeWeb, failure: Reply | type[Exception]
) -> None:
    sleeps: list[float] = []
    web.route("POST", "/api/comment/", _failing_once(failure, _posted("Yes: Settings, Theme.")))
    responder = RedditResponder(CONFIG, session=web.session(), sleep=sleeps.append)
    with pytest.raises(TransientSourceError, match="not confirmed") as caught:
        responder.post(MENTION, "Yes: Settings, Theme.", "key-5")
    assert "\n" not in str(caught.value)
    assert (len(web.calls("/api/comment/")), sleeps) == (1, [])
    # Reddit created the comment all the same: the caller's retry finds it and posts nothing
    web.route("GET", HISTORY, _listing(_ours("t1_rrr01", "t1_ccc01", "Yes: Settings, Theme.")))
    again = responder.post(MENTION, "Yes: Settings, Theme.", "key-5")
    assert again.reply_id == "t1_rrr01"
    assert len(web.calls("/api/comment/")) == 1


def _refusal(kind: str, message: str) -> dict[str, Any]:
    return {"json": {"errors": [[kind, message, "ratelimit" if kind == "RATELIMIT" else None]]}}


@pytest.mark.parametrize("seconds", [3, 7])  # praw itself would sleep (for real) up to 5 s
def test_a_short_ratelimit_is_raised_not_slept(web: FakeWeb, seconds: int) -> None:
    # a wait here would hold the claimed reply past its in-flight window: another worker
    # could post it meanwhile, and we again after waking
    sleeps: list[float] = []
    message = f"Take a break for {seconds} seconds before trying again."
    refusal = Reply(body=_refusal("RATELIMIT", message))
    web.route("POST", "/api/comment/", _failing_once(refusal, _posted("Hello")))
    responder = RedditResponder(CONFIG, session=web.session(), sleep=sleeps.append)
    with pytest.raises(RateLimitedError) as caught:
        responder.post(MENTION, "Hello", "key-6")
    assert caught.value.retry_after == seconds
    assert (len(web.calls("/api/comment/")), sleeps) == (1, [])
    # the caller's later attempt looks at the history again, then posts
    assert responder.post(MENTION, "Hello", "key-6").reply_id == "t1_rrr01"
    assert (len(web.calls(HISTORY)), len(web.calls("/api/comment/"))) == (2, 2)


@pytest.mark.parametrize("path", ["/api/comment/", HISTORY])
def test_a_429_is_raised_with_its_wait_and_posts_nothing(web: FakeWeb, path: str) -> None:
    sleeps: list[float] = []
    method = "POST" if path == "/api/comment/" else "GET"
    web.route(method, path, Reply(429, {"error": 429}, {"Retry-After": "30"}))
    if method == "GET":
        web.route("POST", "/api/comment/", _posted("Hello"))
    responder = RedditResponder(CONFIG, session=web.session(), sleep=sleeps.append)
    with pytest.raises(RateLimitedError) as caught:
        responder.post(MENTION, "Hello", "key-9")
    assert caught.value.retry_after == 30
    assert (len(web.calls(path)), sleeps) == (1, [])
    if method == "GET":
        assert not web.calls("/api/comment/")


def test_a_used_up_request_budget_is_raised_not_slept(web: FakeWeb) -> None:
    sleeps: list[float] = []
    budget = {"x-ratelimit-remaining": "0", "x-ratelimit-used": "600", "x-ratelimit-reset": "300"}
    web.route("GET", HISTORY, Reply(body=_listing(), headers=budget))
    web.route("POST", "/api/comment/", _posted("Hello"))
    responder = RedditResponder(CONFIG, session=web.session(), sleep=sleeps.append)
    with pytest.raises(RateLimitedError) as caught:
        responder.post(MENTION, "Hello", "key-10")
    assert 290 < caught.value.retry_after <= 300
    assert (web.calls("/api/comment/"), sleeps) == ([], [])


def test_a_long_ratelimit_is_rate_limited_with_the_wait_reddit_asked(web: FakeWeb) -> None:
    sleeps: list[float] = []
    message = "you are doing that too much. try again in 9 minutes."
    web.route("POST", "/api/comment/", _refusal("RATELIMIT", message))
    responder = RedditResponder(CONFIG, session=web.session(), sleep=sleeps.append)
    with pytest.raises(RateLimitedError) as caught:
        responder.post(MENTION, "Hello", "key-7")
    assert caught.value.retry_after == 540
    assert (len(web.calls("/api/comment/")), sleeps) == (1, [])


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("THREAD_LOCKED", "Comments are locked."),
        ("SOMETHING_IS_BROKEN", "Something is broken,\nplease try again later."),
    ],
)
def test_other_refusals_are_one_line_source_errors(web: FakeWeb, kind: str, message: str) -> None:
    web.route("POST", "/api/comment/", _refusal(kind, message))
    with pytest.raises(SourceError) as caught:
        _responder(web).post(MENTION, "Hello", "key-8")
    assert type(caught.value) is SourceError
    assert str(caught.value).startswith(f"reddit refused the reply to t1_ccc01: {kind}: ")
    assert "\n" not in str(caught.value)
    assert len(web.calls("/api/comment/")) == 1


@pytest.mark.parametrize(
    ("message", "seconds"),
    [
        ("you are doing that too much. try again in 9 minutes.", 540.0),
        ("you are doing that too much. try again in 1 minute.", 60.0),
        ("Take a break for 33 seconds before trying again.", 33.0),
        ("you are doing that too much. try again in 500 milliseconds.", 0.5),
        ("slow down", 60.0),
    ],
)
def test_the_wait_is_read_from_the_ratelimit_message(message: str, seconds: float) -> None:
    assert ratelimit_seconds(message) == seconds
