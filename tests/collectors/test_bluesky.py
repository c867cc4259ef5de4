"""Bluesky collector: the contract over FakeWeb, session handling, paging and the responder."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

import collectors.bluesky as bluesky
from collectors.base import SourceConfigError, TargetGoneError
from collectors.bluesky.collector import BlueskyCollector
from collectors.bluesky.tid import decode_tid, is_tid
from socialcrm.mention import Cursor
from socialcrm.settings import (
    BlueskySourceSettings,
    Secrets,
    Settings,
    SourcesSettings,
    WatchSettings,
)
from tests.collectors.contract import CollectorContract, Harness, fetch_all, mentions_of
from tests.collectors.fakeweb import FakeWeb, Reply, Request

FIXTURES = Path(__file__).parent / "fixtures" / "bluesky"
XRPC = "/xrpc/"
SEARCH = XRPC + "app.bsky.feed.searchPosts"
NOTIFICATIONS = XRPC + "app.bsky.notification.listNotifications"
SESSION = XRPC + "com.atproto.server.createSession"
REFRESH = XRPC + "com.atproto.server.refreshSession"
THREAD = XRPC + "app.bsky.feed.getPostThread"
CREATE = XRPC + "com.atproto.repo.createRecord"
GET_RECORD = XRPC + "com.atproto.repo.getRecord"


def fixture(name: str) -> Any:
    """A fixture file as JSON (a fresh copy each time)."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def settings(
    handle: str = "inkwell.bsky.social",
    password: str | None = "app-pass",  # noqa: S107 (a fake app password)
) -> Settings:
    """Settings watching the brand `Inkwell` as the fixtures' account."""
    source = BlueskySourceSettings(enabled=True, handle=handle, limit=25)
    secret = SecretStr(password) if password else None
    return Settings(
        watch=WatchSettings(brand=["Inkwell"], exclude=["giveaway"]),
        sources=SourcesSettings(bluesky=source),
        secrets=Secrets(bluesky_app_password=secret),
    )


def web_with_fixtures() -> tuple[FakeWeb, dict[str, Any]]:
    """A FakeWeb serving the fixtures; the returned listings can be changed by a test."""
    web = FakeWeb()
    listings = {"search": fixture("search_posts.json"), "notes": fixture("notifications.json")}
    web.route("POST", SESSION, fixture("session.json"))
    web.route("GET", SEARCH, lambda _r: Reply(body=listings["search"]))
    web.route("GET", NOTIFICATIONS, lambda _r: Reply(body=listings["notes"]))
    return web, listings


SEARCH_IDS = {post["uri"] for post in fixture("search_posts.json")["posts"]}
MENTION_URI = "at://did:plc:fan33333333333333333333333/app.bsky.feed.post/3m7ment333333"
THANKS_URI = "at://did:plc:fan33333333333333333333333/app.bsky.feed.post/3m7thanks3333"


class TestBlueskyContract(CollectorContract):
    """The collector contract over fixtures in the lexicons' shapes."""

    @pytest.fixture
    def harness(self) -> Harness:
        web, listings = web_with_fixtures()

        def break_one_item() -> None:
            broken = copy.deepcopy(listings["search"]["posts"][0])
            broken["uri"] = broken["uri"].replace("3m7reply2222a", "3m7broken222a")
            del broken["cid"]
            listings["search"]["posts"].insert(0, broken)

        def add_item() -> str:
            # indexed after the first run but dated before its newest post: the index lagged
            late = copy.deepcopy(listings["search"]["posts"][1])
            late["uri"] = late["uri"].replace("3m7root11111a", "3m7late11111a")
            late["record"]["createdAt"] = "2026-11-02T10:02:00.000Z"
            late["indexedAt"] = "2026-11-02T10:20:00.000Z"
            listings["search"]["posts"].insert(1, late)  # the API orders by the earlier time
            return str(late["uri"])

        harness = Harness(
            web=web,
            build=lambda: bluesky.build(settings(), web.transport(), harness.sleep),
            break_one_item=break_one_item,
            expected_ids={*SEARCH_IDS, MENTION_URI, THANKS_URI},
            build_without_credentials=lambda: bluesky.build(
                settings(password=None), web.transport(), harness.sleep
            ),
            add_item=add_item,
        )
        return harness


def test_mentions_carry_what_a_reply_needs() -> None:
    web, _ = web_with_fixtures()
    pages = fetch_all(bluesky.build(settings(), web.transport(), lambda _s: None))
    found = {m.source_id: m for m in mentions_of(pages)}
    root = found["at://did:plc:writer1111111111111111111/app.bsky.feed.post/3m7root11111a"]
    reply = found["at://did:plc:reader2222222222222222222/app.bsky.feed.post/3m7reply2222a"]
    assert root.url == "https://bsky.app/profile/ada.bsky.social/post/3m7root11111a"
    assert (root.author.handle, root.author.external_id, root.author.display_name) == (
        "ada.bsky.social",
        "did:plc:writer1111111111111111111",
        "Ada L.",
    )
    assert root.created_at == datetime(2026, 11, 2, 10, 0, 0, 250000, tzinfo=UTC)
    assert root.extra["root"] == {"uri": root.source_id, "cid": root.extra["cid"]}
    assert (root.thread_id, root.parent_id, root.lang) == (root.source_id, None, "en")
    assert reply.thread_id == reply.parent_id == root.source_id
    assert reply.extra["root"] == {"uri": root.source_id, "cid": root.extra["cid"]}
    assert {m.matched_query for m in found.values()} == {"brand:Inkwell", "account:mentions"}
    # the search page is yielded oldest first even though the API answers newest first
    assert [m.source_id for m in pages[0].mentions] == [root.source_id, reply.source_id]


def test_only_mentions_replies_and_quotes_come_from_notifications() -> None:
    web, listings = web_with_fixtures()
    listings["search"] = {"posts": []}
    pages = fetch_all(bluesky.build(settings(), web.transport(), lambda _s: None))
    mentions = mentions_of(pages)
    assert [m.source_id for m in mentions] == [MENTION_URI, THANKS_URI]
    # a term in the text wins over the stream (the handle contains the brand)
    assert [m.matched_query for m in mentions] == ["brand:Inkwell", "account:mentions"]
    assert mentions[1].parent_id.endswith("/3m7brand00000")
    assert web.calls(SEARCH)[0].params == {"q": "Inkwell", "sort": "latest", "limit": "25"}
    assert web.calls(SEARCH)[0].headers["authorization"] == "Bearer access-token-1"


def test_excluded_terms_drop_the_post_and_phrases_are_quoted() -> None:
    web, listings = web_with_fixtures()
    listings["search"]["posts"][0]["record"]["text"] = "Inkwell giveaway, RT to win"
    source = BlueskySourceSettings(enabled=True, handle="inkwell.bsky.social", notifications=False)
    config = settings().model_copy(
        update={
            "watch": WatchSettings(
                brand=["Inkwell"], competitors=["Quill Pro"], exclude=["giveaway"]
            ),
            "sources": SourcesSettings(bluesky=source),
        }
    )
    pages = fetch_all(bluesky.build(config, web.transport(), lambda _s: None))
    # the first post is excluded; the second, found again by the next term, is yielded once
    assert [m.source_id for m in mentions_of(pages)] == [listings["search"]["posts"][1]["uri"]]
    assert [call.params["q"] for call in web.calls(SEARCH)] == ["Inkwell", '"Quill Pro"']
    assert not web.calls(NOTIFICATIONS)


def test_a_second_run_pages_back_to_the_watermark_only() -> None:
    web, listings = web_with_fixtures()
    collector = bluesky.build(settings(), web.transport(), lambda _s: None)
    saved = fetch_all(collector)[-1].cursor
    old = listings["search"]["posts"]
    newer = []
    for n in range(25):
        post = copy.deepcopy(old[1])
        post["uri"] = post["uri"].replace("3m7root11111a", f"3m7new{n:07d}")
        post["record"]["createdAt"] = post["indexedAt"] = f"2026-11-02T11:{59 - n:02d}:00Z"
        newer.append(post)
    pages_by_cursor = {None: {"posts": newer, "cursor": "p2"}, "p2": {"posts": old}}
    web.route("GET", SEARCH, lambda r: Reply(body=pages_by_cursor[r.params.get("cursor")]))
    listings["notes"] = fixture("notifications.json")
    again = mentions_of(fetch_all(collector, Cursor.from_json(saved.to_json())))
    assert len(again) == 25
    assert {m.source_id for m in again}.isdisjoint(SEARCH_IDS | {MENTION_URI, THANKS_URI})
    assert [call.params.get("cursor") for call in web.calls(SEARCH)][-2:] == [None, "p2"]


def test_missing_handle_names_the_setting() -> None:
    web, _ = web_with_fixtures()
    with pytest.raises(SourceConfigError, match=r"sources\.bluesky\.handle"):
        bluesky.build(settings(handle=""), web.transport(), lambda _s: None).check()
    assert not web.requests


def test_an_expired_token_is_refreshed_once_and_the_call_repeated() -> None:
    web, _ = web_with_fixtures()
    expired = Reply(400, {"error": "ExpiredToken", "message": "Token has expired"})
    answers = [expired]
    search = fixture("search_posts.json")
    web.route("GET", SEARCH, lambda _r: answers.pop(0) if answers else Reply(body=search))
    web.route("POST", REFRESH, {**fixture("session.json"), "accessJwt": "access-token-2"})
    collector = bluesky.build(settings(), web.transport(), lambda _s: None)
    mentions = mentions_of(fetch_all(collector))
    assert {m.source_id for m in mentions} >= SEARCH_IDS
    assert web.calls(REFRESH)[0].headers["authorization"] == "Bearer refresh-token-1"
    assert [c.headers["authorization"] for c in web.calls(SEARCH)] == [
        "Bearer access-token-1",
        "Bearer access-token-2",
    ]
    assert len(web.calls(SESSION)) == 1


def test_a_refused_refresh_logs_in_again() -> None:
    web, _ = web_with_fixtures()
    answers = [Reply(400, {"error": "ExpiredToken"})]
    search = fixture("search_posts.json")
    web.route("GET", SEARCH, lambda _r: answers.pop(0) if answers else Reply(body=search))
    web.route("POST", REFRESH, Reply(400, {"error": "ExpiredToken"}))
    collector = bluesky.build(settings(), web.transport(), lambda _s: None)
    assert mentions_of(fetch_all(collector))
    assert len(web.calls(SESSION)) == 2


def test_the_session_is_kept_between_runs() -> None:
    web, _ = web_with_fixtures()
    collector = bluesky.build(settings(), web.transport(), lambda _s: None)
    collector.check()
    fetch_all(collector)
    fetch_all(collector)
    assert len(web.calls(SESSION)) == 1
    assert web.calls(SESSION)[0].json() == {
        "identifier": "inkwell.bsky.social",
        "password": "app-pass",
    }


def test_a_wrong_password_names_the_variable() -> None:
    web, _ = web_with_fixtures()
    web.route("POST", SESSION, Reply(401, {"error": "AuthenticationRequired"}))
    with pytest.raises(SourceConfigError, match="SOCIALCRM_BLUESKY_APP_PASSWORD"):
        bluesky.build(settings(), web.transport(), lambda _s: None).check()


# -- responder ---------------------------------------------------------------------------


def _mention_and_web() -> tuple[Any, FakeWeb]:
    web, _ = web_with_fixtures()
    pages = fetch_all(bluesky.build(settings(), web.transport(), lambda _s: None))
    reply = next(m for m in mentions_of(pages) if m.parent_id)
    return reply, web


def _thread(request: Request) -> Reply:
    return Reply(body={"thread": {"$type": "app.bsky.feed.defs#threadViewPost", "post": {}}})


def test_a_reply_goes_into_the_mentions_thread_with_a_derived_rkey() -> None:
    mention, web = _mention_and_web()
    web.route("GET", THREAD, _thread)
    created = "at://did:plc:inkwellbrand0000000000000/app.bsky.feed.post/"

    def create(request: Request) -> Reply:
        return Reply(body={"uri": created + request.json()["rkey"], "cid": "bafyreinew"})

    web.route("POST", CREATE, create)
    responder = bluesky.build_responder(settings(), web.transport(), lambda _s: None)
    posted = responder.post(mention, "Sorry! A fix ships today.", "reply-42")
    body = web.calls(CREATE)[0].json()
    assert is_tid(body["rkey"])
    assert decode_tid(body["rkey"])[0].replace(microsecond=0) == mention.created_at.replace(
        microsecond=0
    )
    assert body["repo"] == "did:plc:inkwellbrand0000000000000"
    assert body["record"]["reply"] == {
        "root": mention.extra["root"],
        "parent": {"uri": mention.source_id, "cid": mention.extra["cid"]},
    }
    assert body["record"]["langs"] == ["en"]
    assert posted.reply_id == created + body["rkey"]
    assert posted.url == f"https://bsky.app/profile/inkwell.bsky.social/post/{body['rkey']}"
    again = responder.post(mention, "Sorry! A fix ships today.", "reply-42")
    assert web.calls(CREATE)[1].json()["rkey"] == body["rkey"]
    assert again == posted


def test_posting_again_after_a_crash_returns_the_existing_reply() -> None:
    mention, web = _mention_and_web()
    web.route("GET", THREAD, _thread)
    web.route("POST", CREATE, Reply(400, {"error": "InvalidRequest", "message": "exists"}))
    existing = "at://did:plc:inkwellbrand0000000000000/app.bsky.feed.post/3m7done00000a"
    web.route("GET", GET_RECORD, {"uri": existing, "cid": "bafyreiold", "value": {}})
    responder = bluesky.build_responder(settings(), web.transport(), lambda _s: None)
    posted = responder.post(mention, "text", "reply-42")
    assert posted.reply_id == existing
    assert web.calls(GET_RECORD)[0].params["rkey"] == web.calls(CREATE)[0].json()["rkey"]


def test_a_failed_post_without_an_existing_record_is_raised() -> None:
    mention, web = _mention_and_web()
    web.route("GET", THREAD, _thread)
    web.route("POST", CREATE, Reply(400, {"error": "InvalidRequest", "message": "bad record"}))
    web.route("GET", GET_RECORD, Reply(400, {"error": "RecordNotFound"}))
    responder = bluesky.build_responder(settings(), web.transport(), lambda _s: None)
    with pytest.raises(Exception, match="bad record"):
        responder.post(mention, "text", "reply-42")


@pytest.mark.parametrize(
    "answer",
    [
        Reply(400, {"error": "NotFound", "message": "Post not found"}),
        Reply(body={"thread": {"$type": "app.bsky.feed.defs#notFoundPost", "notFound": True}}),
    ],
)
def test_replying_to_a_deleted_post_is_target_gone(answer: Reply) -> None:
    mention, web = _mention_and_web()
    web.route("GET", THREAD, answer)
    responder = bluesky.build_responder(settings(), web.transport(), lambda _s: None)
    with pytest.raises(TargetGoneError):
        responder.post(mention, "text", "reply-42")
    assert not web.calls(CREATE)


def test_the_collector_is_a_bluesky_collector() -> None:
    assert isinstance(bluesky.build(settings()), BlueskyCollector)


def test_a_mention_without_reply_refs_takes_them_from_the_thread() -> None:
    mention, web = _mention_and_web()
    bare = dataclasses.replace(mention, extra={})
    view = fixture("search_posts.json")["posts"][0]
    web.route("GET", THREAD, {"thread": {"post": view}})
    web.route("POST", CREATE, {"uri": mention.source_id + "x", "cid": "bafyreinew"})
    responder = bluesky.build_responder(settings(), web.transport(), lambda _s: None)
    responder.post(bare, "text", "reply-43")
    reply = web.calls(CREATE)[0].json()["record"]["reply"]
    assert reply["parent"] == {"uri": view["uri"], "cid": view["cid"]}
    assert reply["root"] == {
        "uri": view["record"]["reply"]["root"]["uri"],
        "cid": view["record"]["reply"]["root"]["cid"],
    }


# -- hostile data and a wrong service ----------------------------------------------------


def test_a_hostile_created_at_neither_fails_nor_blocks_the_stream() -> None:
    web, listings = web_with_fixtures()
    hostile = listings["search"]["posts"][0]
    hostile["record"]["createdAt"] = "0001-01-01T00:30:00+01:00"
    undatable = copy.deepcopy(listings["search"]["posts"][1])
    undatable["uri"] = undatable["uri"].replace("3m7root11111a", "3m7undated111")
    undatable["record"]["createdAt"] = undatable["indexedAt"] = "9999-12-31T23:30:00-01:00"
    listings["search"]["posts"].insert(0, undatable)
    collector = bluesky.build(settings(), web.transport(), lambda _s: None)
    pages = fetch_all(collector)
    found = {m.source_id: m for m in mentions_of(pages)}
    assert found[hostile["uri"]].created_at == datetime(2026, 11, 2, 10, 5, 1, 112000, tzinfo=UTC)
    assert [q.reason for q in pages[0].quarantined] == ["missing or malformed createdAt"]
    again = fetch_all(collector, Cursor.from_json(pages[-1].cursor.to_json()))
    assert mentions_of(again) == []


def test_a_value_a_mention_refuses_is_quarantined() -> None:
    web, listings = web_with_fixtures()
    listings["search"]["posts"][0]["author"]["handle"] = "   "
    pages = fetch_all(bluesky.build(settings(), web.transport(), lambda _s: None))
    assert [q.reason for q in pages[0].quarantined] == ["author handle must not be empty"]
    assert len(mentions_of(pages)) == len(SEARCH_IDS) + 1  # the other post and the notifications


def _service_settings(service: str) -> Settings:
    config = settings()
    source = config.sources.bluesky.model_copy(update={"service": service})
    return config.model_copy(update={"sources": SourcesSettings(bluesky=source)})


@pytest.mark.parametrize(
    "answer",
    [Reply(body="<html>Welcome</html>"), Reply(400, "<html>Bad request</html>")],
)
def test_a_service_that_is_no_xrpc_server_is_a_config_error(answer: Reply) -> None:
    web, _ = web_with_fixtures()
    web.route("POST", SESSION, answer)
    config = _service_settings("https://user:secret@www.example.com/")
    with pytest.raises(SourceConfigError) as caught:
        bluesky.build(config, web.transport(), lambda _s: None).check()
    message = str(caught.value)
    assert message == (
        "bluesky: https://www.example.com did not answer as an XRPC server: "
        "check sources.bluesky.service"
    )


def test_a_query_answered_with_html_is_a_config_error() -> None:
    web, _ = web_with_fixtures()
    web.route("GET", SEARCH, Reply(body=b"\xff<html>"))
    with pytest.raises(SourceConfigError, match=r"sources\.bluesky\.service"):
        fetch_all(bluesky.build(settings(), web.transport(), lambda _s: None))


def test_the_session_keeps_its_tokens_out_of_its_repr() -> None:
    web, _ = web_with_fixtures()
    collector = bluesky.build(settings(), web.transport(), lambda _s: None)
    shown = repr(collector.client.session)
    assert "access-token-1" not in shown
    assert "refresh-token-1" not in shown
    assert "did:plc:inkwellbrand0000000000000" in shown


def test_a_reply_to_a_mention_with_an_impossible_date_gets_a_valid_rkey() -> None:
    mention, web = _mention_and_web()
    ancient = dataclasses.replace(mention, created_at=datetime(1, 1, 1, tzinfo=UTC))
    web.route("GET", THREAD, _thread)
    web.route("POST", CREATE, lambda r: Reply(body={"uri": mention.source_id + "x", "cid": "b"}))
    responder = bluesky.build_responder(settings(), web.transport(), lambda _s: None)
    responder.post(ancient, "text", "reply-44")
    assert is_tid(web.calls(CREATE)[0].json()["rkey"])
