"""Reddit collector against a fake Reddit: the collector contract, streams, cursor and context."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from collectors.base import SourceConfigError, TransientSourceError
from collectors.queries import Query, QueryKind, Watch
from collectors.reddit import RedditCollector, RedditConfig, build, plan_streams
from collectors.reddit.collector import search_query
from socialcrm.mention import Cursor
from socialcrm.settings import (
    RedditSourceSettings,
    Secrets,
    Settings,
    SourcesSettings,
    WatchSettings,
)
from tests.collectors.contract import CollectorContract, Harness, fetch_all, mentions_of
from tests.collectors.fakeweb import FakeWeb, Reply, Request

FIXTURES = Path(__file__).parent / "fixtures" / "reddit"
WATCH = Watch.from_settings(
    WatchSettings(brand=["Inkwell"], competitors=["Quillpad"], exclude=["giveaway"]), None
)
CONFIG = RedditConfig("socialcrm-test/1", "client-id", "client-secret", "inkwell_team", "pw")
EXPECTED = {"t3_aaa01", "t3_bbb01", "t1_ccc01", "t1_ddd01", "t1_fff01", "t4_ggg01"}
EMPTY: dict[str, Any] = {"kind": "Listing", "data": {"after": None, "children": []}}


def fixture(name: str) -> Any:
    """A fixture listing written for these tests."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class FakeReddit:
    """A fake Reddit serving the fixtures; `break_one_item` adds an undated comment."""

    def __init__(self) -> None:
        self.web = FakeWeb()
        self.comments = fixture("comments.json")
        self.web.route("POST", "/api/v1/access_token", fixture("token.json"))
        self.web.route("GET", "/api/v1/me", fixture("me.json"))
        self.web.route("GET", "/r/all/search/", self._search)
        self.web.route("GET", "/r/inkwell/new", fixture("new.json"))
        self.web.route("GET", "/r/inkwell/comments/", lambda _r: Reply(body=self.comments))
        self.web.route("GET", "/message/mentions", fixture("mentions.json"))
        self.web.route("GET", "/message/comments/", fixture("replies.json"))
        self.web.route("GET", "/message/selfreply/", EMPTY)
        self.web.route("GET", "/message/messages/", fixture("messages.json"))

    def _search(self, request: Request) -> Reply:
        assert request.params["sort"] == "new"
        return Reply(body=fixture("search.json") if request.params["q"] == "Inkwell" else EMPTY)

    def break_one_item(self) -> None:
        bad = {"kind": "t1", "data": {"id": "bad01", "name": "t1_bad01", "author": "x"}}
        bad["data"].update(body="Inkwell crashed", link_id="t3_bbb01", parent_id="t3_bbb01")
        self.comments["data"]["children"].insert(0, bad)

    def collector(self, sleep: Any, config: RedditConfig = CONFIG) -> RedditCollector:
        streams = plan_streams(WATCH, ["all"], ["inkwell"], inbox=True)
        return RedditCollector(
            config, WATCH, streams, limit=25, session=self.web.session(), sleep=sleep
        )


class TestRedditContract(CollectorContract):
    """The shared collector contract."""

    @pytest.fixture
    def harness(self) -> Harness:
        fake = FakeReddit()
        no_credentials = RedditConfig("socialcrm-test/1", None, None)
        # the lambdas run after `harness` exists, so the collectors sleep through it
        harness = Harness(
            fake.web,
            lambda: fake.collector(harness.sleep),
            fake.break_one_item,
            EXPECTED,
            build_without_credentials=lambda: fake.collector(harness.sleep, no_credentials),
        )
        return harness


@pytest.fixture
def fake() -> FakeReddit:
    return FakeReddit()


def _by_id(collector: RedditCollector, cursor: Cursor | None = None) -> dict[str, Any]:
    return {m.source_id: m for m in mentions_of(fetch_all(collector, cursor))}


def test_mentions_carry_what_the_fixtures_say(fake: FakeReddit) -> None:
    found = _by_id(fake.collector(lambda _s: None))
    post, competitor = found["t3_aaa01"], found["t3_bbb01"]
    comment, mention = found["t1_ccc01"], found["t1_ddd01"]
    assert (post.source_id, post.author.handle, post.author.external_id) == (
        "t3_aaa01",
        "ada",
        "t2_a1",
    )
    assert post.text == "Inkwell 2.0 is out\n\nSync finally works on Linux."
    assert post.url == "https://www.reddit.com/r/inkwell/comments/aaa01/inkwell_20_is_out/"
    assert (post.matched_query, post.thread_id, post.parent_id) == (
        "brand:Inkwell",
        "t3_aaa01",
        None,
    )
    assert competitor.matched_query == "competitor:Quillpad"
    assert comment.matched_query == "subreddit:inkwell"
    assert (comment.thread_id, comment.parent_id) == ("t3_bbb01", "t3_bbb01")
    assert comment.edited_at == datetime.fromtimestamp(1793614160, UTC)
    assert mention.matched_query == "account:mentions"
    assert mention.thread_id == "t3_eee01"
    assert (
        mention.url
        == "https://www.reddit.com/r/productivity/comments/eee01/note_apps_in_2026/ddd01/"
    )
    assert mention.created_at == datetime.fromtimestamp(1793614400, UTC)


def test_replies_and_private_messages_to_the_account_are_collected(fake: FakeReddit) -> None:
    found = _by_id(fake.collector(lambda _s: None))
    reply, message = found["t1_fff01"], found["t4_ggg01"]
    assert (reply.matched_query, reply.parent_id, reply.thread_id) == (
        "account:replies",
        "t1_zzz01",
        "t3_yyy01",
    )
    assert message.matched_query == "brand:Inkwell"  # the term in the text wins
    assert message.text == "sync lost my notes\n\nAfter the update Inkwell sync lost two notes."
    assert (message.author.handle, message.thread_id) == ("pat_r", "t4_ggg01")
    assert message.url == "https://www.reddit.com/message/messages/ggg01"
    assert "t4_ggg02" not in found  # sent by the account itself


def test_one_page_per_stream_and_each_cursor_covers_only_its_streams(fake: FakeReddit) -> None:
    pages = fetch_all(fake.collector(lambda _s: None))
    keys = [sorted(page.cursor.state["streams"]) for page in pages]
    assert len(pages) == 8
    assert [len(k) for k in keys] == [8] * 8  # every configured stream, fresh ones empty
    first = pages[0].cursor.state["streams"]["search:all:brand:Inkwell"]
    assert first["newest"] == 1793613900.0
    assert first["seen"] == ["t3_aaa03", "t3_aaa02", "t3_aaa01"]
    assert pages[0].cursor.state["streams"]["mentions"] == {"newest": 0.0, "seen": []}
    assert pages[-1].cursor.state["streams"]["mentions"]["seen"] == ["t1_ddd01"]
    # the account's own sent message is seen (not asked for again) but is not a mention
    assert pages[-1].cursor.state["streams"]["messages"]["seen"] == ["t4_ggg02", "t4_ggg01"]
    assert [m.source_id for m in pages[-1].mentions] == ["t4_ggg01"]


def test_a_new_item_after_the_saved_cursor_is_the_only_one_yielded(fake: FakeReddit) -> None:
    saved = fetch_all(fake.collector(lambda _s: None))[-1].cursor
    fresh = {"kind": "t1", "data": {"id": "ccc09", "name": "t1_ccc09", "author": "zed"}}
    fresh["data"].update(created_utc=1793615000.0, body="Quillpad vs Inkwell?", link_id="t3_b")
    fake.comments["data"]["children"].insert(0, fresh)
    again = mentions_of(fetch_all(fake.collector(lambda _s: None), saved))
    assert [(m.source_id, m.matched_query) for m in again] == [("t1_ccc09", "brand:Inkwell")]


def test_context_is_fetched_only_when_asked(fake: FakeReddit) -> None:
    collector = fake.collector(lambda _s: None)
    fake.web.route("GET", "/comments/bbb01/_/ccc01", fixture("context.json"))
    found = _by_id(collector)
    assert not fake.web.calls("/comments/bbb01/_/ccc01")
    context = collector.context(found["t1_ccc01"])
    assert [call.params["context"] for call in fake.web.calls("/comments/bbb01/_/ccc01")] == ["100"]
    assert context.root is not None
    assert (context.root.source_id, context.root.author.handle) == ("t3_bbb01", "grace")
    assert [p.source_id for p in context.parents] == ["t1_ccc00"]
    assert collector.context(found["t3_bbb01"]).root is None


def test_inbox_without_an_account_names_the_variables(fake: FakeReddit) -> None:
    collector = fake.collector(lambda _s: None, RedditConfig("ua", "id", "secret"))
    with pytest.raises(SourceConfigError, match="SOCIALCRM_REDDIT_USERNAME"):
        collector.check()


def test_a_missing_subreddit_is_a_config_error_naming_it(fake: FakeReddit) -> None:
    fake.web.route("GET", "/r/inkwell/new", Reply(404, {"message": "Not Found", "error": 404}))
    with pytest.raises(SourceConfigError, match="r/inkwell"):
        fetch_all(fake.collector(lambda _s: None))


def test_read_only_check_fetches_only_a_token(fake: FakeReddit) -> None:
    collector = RedditCollector(
        RedditConfig("ua", "id", "secret"),
        WATCH,
        plan_streams(WATCH, ["all"], [], inbox=False),
        session=fake.web.session(),
    )
    collector.check()
    assert [r.path for r in fake.web.requests] == ["/api/v1/access_token"]
    assert fake.web.requests[0].form()["grant_type"] == "client_credentials"


def test_a_server_error_on_a_listing_is_retried_by_prawcore_only(fake: FakeReddit) -> None:
    sleeps: list[float] = []
    fake.web.route("GET", "/r/inkwell/new", Reply(503, {"error": 503}))
    with pytest.raises(TransientSourceError, match="HTTP 503"):
        fetch_all(fake.collector(sleeps.append))
    # prawcore's own three attempts, and no second layer on top of them
    assert len(fake.web.calls("/r/inkwell/new")) == 3
    assert len(sleeps) == 2


def test_a_malformed_item_is_quarantined_with_its_reason_and_where(fake: FakeReddit) -> None:
    fake.break_one_item()
    pages = fetch_all(fake.collector(lambda _s: None))
    (reject,) = [q for page in pages for q in page.quarantined]
    assert reject.reason == "created_utc None is not epoch seconds"
    assert reject.locator == "comments:inkwell:t1_bad01"
    assert json.loads(reject.payload)["body"] == "Inkwell crashed"
    again = fetch_all(fake.collector(lambda _s: None), pages[-1].cursor)
    assert not [q for page in again for q in page.quarantined]


def test_phrases_are_quoted_in_searches() -> None:
    assert search_query(Query(QueryKind.BRAND, "ink well")) == '"ink well"'
    assert search_query(Query(QueryKind.BRAND, "inkwell")) == "inkwell"


def test_build_from_settings_plans_the_streams() -> None:
    settings = Settings(
        watch=WatchSettings(brand=["Inkwell"]),
        sources=SourcesSettings(
            reddit=RedditSourceSettings(
                search_subreddits=["all", "notes"], subreddits=["inkwell"], inbox=True, limit=50
            )
        ),
        secrets=Secrets(reddit_client_id=SecretStr("id"), reddit_client_secret=SecretStr("s")),
    )
    collector = build(settings)
    assert [s.key for s in collector.streams] == [
        "search:all:brand:Inkwell",
        "search:notes:brand:Inkwell",
        "new:inkwell",
        "comments:inkwell",
        "mentions",
        "comment_replies",
        "submission_replies",
        "messages",
    ]
    assert collector.limit == 50
    with pytest.raises(SourceConfigError, match="SOCIALCRM_REDDIT_PASSWORD"):
        collector.check()
