"""Mastodon replies and thread context over FakeWeb: resolution, visibility, retries, gone."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

import pytest

from collectors.base import SourceConfigError, TargetGoneError, TransientSourceError
from collectors.mastodon import MastodonResponder, build_responder
from collectors.mastodon.client import MastodonClient
from collectors.mastodon.parse import parse_status
from collectors.replies import send_reply
from collectors.resilience import Retrier
from socialcrm import models, storage
from socialcrm.db import Database
from socialcrm.mention import Cursor, Mention, Page
from socialcrm.settings import Secrets, Settings
from tests.collectors.fakeweb import FakeWeb, Reply, Request
from tests.collectors.test_mastodon_contract import BRAND, OTHER, fixture, make_collector

POSTED = {
    "id": "110000000000000100",
    "url": "https://mastodon.social/@inkwellapp/110000000000000100",
    "uri": "https://mastodon.social/users/inkwellapp/statuses/110000000000000100",
}


def dee() -> Mention:
    """The direct mention from the notifications fixture, collected on the brand instance."""
    return parse_status(fixture("notifications_mentions.json")[0]["status"], BRAND)


def bob_via_other_instance() -> Mention:
    """A status by bob@fosstodon.org with a CW, as collected from another instance."""
    return parse_status(fixture("tag_inkwell.json")[1], OTHER)


def responder(web: FakeWeb, sleeps: list[float] | None = None) -> MastodonResponder:
    """A responder for the brand account on the fake web."""
    retrier = Retrier("mastodon", sleep=(sleeps if sleeps is not None else []).append)
    return MastodonResponder(MastodonClient(BRAND, "test-token", retrier, web.session()))


def posting_web(posts: list[Request]) -> FakeWeb:
    """A fake brand instance that accepts posts and resolves bob's status to id 555."""
    web = FakeWeb()

    def post(request: Request) -> Reply:
        posts.append(request)
        return Reply(body=POSTED)

    def search(request: Request) -> Reply:
        found = fixture("tag_inkwell.json")[1]
        hit = request.params.get("q") == found["uri"] and request.params.get("resolve")
        statuses = [{**found, "id": "555"}] if hit else []
        return Reply(body={"accounts": [], "hashtags": [], "statuses": statuses})

    web.route("POST", "/api/v1/statuses", post)
    web.route("GET", "/api/v2/search", search)
    return web


def test_reply_to_a_direct_mention_stays_direct_and_names_the_author() -> None:
    posts: list[Request] = []
    reply = responder(posting_web(posts)).post(dee(), "Settings > Export.", "key-1")
    assert reply.reply_id == POSTED["id"]
    assert reply.url == POSTED["url"]
    [post] = posts
    assert parse_qs(post.body.decode(), keep_blank_values=True) == {
        "status": ["@dee@mas.to Settings > Export."],
        "in_reply_to_id": ["110000000000000005"],
        "visibility": ["direct"],
        "sensitive": ["0"],
        "spoiler_text": [""],
    }
    assert post.headers["Idempotency-Key"] == "key-1"


def test_a_status_from_another_instance_is_resolved_on_the_brand_instance() -> None:
    posts: list[Request] = []
    web = posting_web(posts)
    responder(web).post(bob_via_other_instance(), "Sorry! Fixed in 2.1.", "key-2")
    [search] = web.calls("/api/v2/search")
    assert search.params["q"] == "https://fosstodon.org/users/bob/statuses/8841"
    form = posts[0].form()
    assert form["in_reply_to_id"] == "555"
    assert form["visibility"] == "unlisted"
    assert form["spoiler_text"] == "app review"  # the reply keeps the content warning
    assert form["status"].startswith("@bob@fosstodon.org ")


def test_a_retried_post_sends_the_same_idempotency_key() -> None:
    posts: list[Request] = []
    web = posting_web(posts)
    web.fail_next(503)
    sleeps: list[float] = []
    responder(web, sleeps).post(dee(), "hi", "key-3")
    keys = [r.headers["Idempotency-Key"] for r in web.calls("/api/v1/statuses")]
    assert keys == ["key-3", "key-3"]
    assert len(sleeps) == 1


def test_a_deleted_mention_is_a_gone_target() -> None:
    web = FakeWeb()
    web.route("POST", "/api/v1/statuses", Reply(404, {"error": "Record not found"}))
    with pytest.raises(TargetGoneError):
        responder(web).post(dee(), "hi", "key-4")


def test_a_mention_that_cannot_be_resolved_now_is_retried_later() -> None:
    web = posting_web([])
    unknown = replace(bob_via_other_instance(), source_id="https://fosstodon.org/users/bob/s/0")
    with pytest.raises(TransientSourceError, match="will retry") as caught:
        responder(web).post(unknown, "hi", "key-5")
    assert "https://fosstodon.org/users/bob/s/0" in str(caught.value)
    assert not isinstance(caught.value, TargetGoneError)


def test_an_unresolvable_mention_is_not_marked_deleted(db: Database) -> None:
    bob = bob_via_other_instance()
    with db.transaction() as session:
        [mention_id] = storage.save_page(session, "mastodon", Page((bob,), Cursor({}))).new_ids
    posts: list[Request] = []
    web = posting_web(posts)
    # bob's server is down: resolving his status finds nothing, as Mastodon answers then
    web.route("GET", "/api/v2/search", {"accounts": [], "hashtags": [], "statuses": []})
    with pytest.raises(TransientSourceError):
        send_reply(db, responder(web), mention_id, "Sorry!", "key-6")
    with db.transaction() as session:
        row = session.get(models.Mention, mention_id)
        assert row is not None
        assert row.deleted_at is None
    web = posting_web(posts)  # it is back
    assert send_reply(db, responder(web), mention_id, "Sorry!", "key-6").posted_now
    assert [post.form()["in_reply_to_id"] for post in posts] == ["555"]


def test_replying_needs_the_token() -> None:
    with pytest.raises(SourceConfigError, match="SOCIALCRM_MASTODON_ACCESS_TOKEN"):
        build_responder(Settings())
    built = build_responder(Settings(secrets=Secrets(mastodon_access_token="t")))
    assert built.client.base_url == "https://mastodon.social"


def test_context_gives_the_parents_oldest_first() -> None:
    web = FakeWeb()
    tag = fixture("tag_inkwell.json")
    root: dict[str, Any] = {**tag[0], "id": "1", "uri": "https://m.s/s/1"}
    middle: dict[str, Any] = {**tag[0], "id": "2", "uri": "https://m.s/s/2", "in_reply_to_id": "1"}
    broken: dict[str, Any] = {"id": "3"}
    web.route(
        "GET",
        "/api/v1/statuses/110000000000000002/context",
        {"ancestors": [root, broken, middle], "descendants": []},
    )
    mention = parse_status(tag[1], OTHER)
    context = make_collector(web, lambda _s: None).context(mention)
    assert context.root is not None
    assert context.root.source_id == "https://m.s/s/1"
    assert [p.source_id for p in context.parents] == ["https://m.s/s/1", "https://m.s/s/2"]
    assert web.requests[0].url.startswith(OTHER)  # asked where the ids are valid


def test_context_of_a_deleted_mention_is_a_gone_target() -> None:
    web = FakeWeb()
    with pytest.raises(TargetGoneError):
        make_collector(web, lambda _s: None).context(dee())
