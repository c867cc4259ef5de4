"""Reddit collector against a fake Reddit: the collector contract, streams, cursor and context."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from collectors.base import SourceConfigError, TransientSourceError
from collectors.queries import Query, QueryKind, Watch
from collectors.reddit import RedditCollector, RedditConfig, build, plan_streams
from collectors.reddit.collector import Stream, search_query
from collectors.reddit.cursor import StreamState, write_states
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
EXPECTED = {"t3_aaa01", "t3_bbb01", "t1_ccc01", "t1_ddd01", "t1_fff01", "t4_ggg01", "t4_ggg03"}
EMPTY: dict[str, Any] = {"kind": "Listing", "data": {"after": None, "children": []}}


def fixture(name: str) -> Any:
    """A fixture listing written for these tests."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def paged(listing: dict[str, Any], request: Request) -> Reply:
    """One page of `listing` as Reddit serves it: `limit` items after `after`, and the next."""
    children = listing["data"]["children"]
    names = [child["data"]["name"] for child in children]
    start = names.index(request.params["after"]) + 1 if "after" in request.params else 0
    page = children[start : start + int(request.params.get("limit", "100"))]
    more = start + len(page) < len(children)
    after = page[-1]["data"]["name"] if page and more else None
    return Reply(body={"kind": "Listing", "data": {"after": after, "children": page}})


def comment(short: str, created: float, body: str = "Quillpad vs Inkwell?") -> dict[str, Any]:
    """A comment in r/inkwell."""
    data = {"id": short, "name": f"t1_{short}", "author": "zed", "created_utc": created}
    data.update(body=body, link_id="t3_bbb01", parent_id="t3_bbb01", subreddit="inkwell")
    return {"kind": "t1", "data": data}


class FakeReddit:
    """A fake Reddit serving the fixtures; `break_one_item` adds an undated comment."""

    def __init__(self) -> None:
        self.web = FakeWeb()
        self.comments = fixture("comments.json")
        self.web.route("POST", "/api/v1/access_token", fixture("token.json"))
        self.web.route("GET", "/api/v1/me", fixture("me.json"))
        self.web.route("GET", "/r/all/search/", self._search)
        self.web.route("GET", "/r/inkwell/new", fixture("new.json"))
        self.web.route("GET", "/r/inkwell/comments/", lambda r: paged(self.comments, r))
        self.web.route("GET", "/message/inbox/", fixture("inbox.json"))

    def _search(self, request: Request) -> Reply:
        assert request.params["sort"] == "new"
        return Reply(body=fixture("search.json") if request.params["q"] == "Inkwell" else EMPTY)

    def break_one_item(self) -> None:
        bad = {"kind": "t1", "data": {"id": "bad01", "name": "t1_bad01", "author": "x"}}
        bad["data"].update(body="Inkwell crashed", link_id="t3_bbb01", parent_id="t3_bbb01")
        self.comments["data"]["children"].insert(0, bad)

    def add_comment(self) -> str:
        """A newer comment in r/inkwell, as one posted between two runs."""
        self.comments["data"]["children"].insert(0, comment("ccc09", 1793615000.0))
        return "t1_ccc09"

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
            add_item=fake.add_comment,
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
    reply, message, follow_up = found["t1_fff01"], found["t4_ggg01"], found["t4_ggg03"]
    assert (reply.matched_query, reply.parent_id, reply.thread_id) == (
        "account:replies",
        "t1_zzz01",
        "t3_yyy01",
    )
    assert message.matched_query == "brand:Inkwell"  # the term in the text wins
    assert message.text == "sync lost my notes\n\nAfter the update Inkwell sync lost two notes."
    assert (message.author.handle, message.thread_id) == ("pat_r", "t4_ggg01")
    assert message.url == "https://www.reddit.com/message/messages/ggg01"
    # a customer's follow-up in the conversation is a mention of its own, in the same thread
    assert (follow_up.author.handle, follow_up.thread_id, follow_up.parent_id) == (
        "pat_r",
        "t4_ggg01",
        "t4_ggg02",
    )
    assert follow_up.text.endswith("A Pixel 8, and the notes were in the Work notebook.")
    assert follow_up.matched_query == "account:messages"


def test_the_inbox_is_one_listing_for_mentions_replies_and_messages(fake: FakeReddit) -> None:
    _by_id(fake.collector(lambda _s: None))
    inbox = [r.path for r in fake.web.requests if r.path.startswith("/message/")]
    assert inbox == ["/message/inbox/"]


def test_a_follow_up_in_an_old_message_thread_is_collected(fake: FakeReddit) -> None:
    # /message/messages nests follow-ups in the thread's root; the root was seen last run
    fake.web.route("GET", "/message/messages/", fixture("messages.json"))
    stream = Stream("messages", "messages", None)
    collector = RedditCollector(
        CONFIG, WATCH, [stream], limit=25, session=fake.web.session(), sleep=lambda _s: None
    )
    seen = write_states({"messages": StreamState(1793614650.0, ("t4_ggg02", "t4_ggg01"))})
    found = mentions_of(fetch_all(collector, seen))
    # ggg02 is the account's own answer: seen, never a mention
    assert [(m.source_id, m.author.handle) for m in found] == [("t4_ggg03", "pat_r")]


def _dm(short: str, created: float, **more: Any) -> dict[str, Any]:
    data = {"id": short, "name": f"t4_{short}", "author": "pat_r", "dest": "inkwell_team"}
    data.update(created_utc=created, subject="sync", body=f"message {short}", **more)
    return {"kind": "t4", "data": {"replies": "", "subreddit": None, "parent_id": None, **data}}


def test_a_message_thread_is_as_new_as_its_newest_message(fake: FakeReddit) -> None:
    # threads come in order of their latest message: an old root must not end the listing
    old_root = _dm("a01", 1793600000.0)
    old_root["data"]["replies"] = {
        "kind": "Listing",
        "data": {"children": [_dm("a02", 1793615000.0)]},
    }
    listing = {
        "kind": "Listing",
        "data": {"after": None, "children": [old_root, _dm("b01", 1793614000.0)]},
    }
    fake.web.route("GET", "/message/messages/", listing)
    stream = Stream("messages", "messages", None)
    collector = RedditCollector(
        CONFIG, WATCH, [stream], limit=25, session=fake.web.session(), sleep=lambda _s: None
    )
    state = write_states({"messages": StreamState(1793615100.0, ())})
    found = mentions_of(fetch_all(collector, state))
    assert [m.source_id for m in found] == ["t4_b01", "t4_a02"]


def test_the_old_per_kind_inbox_cursor_carries_over(fake: FakeReddit) -> None:
    old = {"newest": 1793614700.0, "seen": ["t4_ggg03", "t4_ggg01"]}
    cursor = Cursor({"streams": {"messages": old, "mentions": {"newest": 1793614400.0}}})
    pages = fetch_all(fake.collector(lambda _s: None), cursor)
    inbox = [m.source_id for m in pages[-1].mentions]
    assert inbox == ["t1_ddd01", "t1_fff01"]
    assert sorted(pages[-1].cursor.state["streams"]) == [
        "comments:inkwell",
        "inbox",
        "new:inkwell",
        "search:all:brand:Inkwell",
        "search:all:competitor:Quillpad",
    ]


def test_one_page_per_stream_and_each_cursor_covers_only_its_streams(fake: FakeReddit) -> None:
    pages = fetch_all(fake.collector(lambda _s: None))
    keys = [sorted(page.cursor.state["streams"]) for page in pages]
    assert len(pages) == 5
    assert [len(k) for k in keys] == [5] * 5  # every configured stream, fresh ones empty
    first = pages[0].cursor.state["streams"]["search:all:brand:Inkwell"]
    assert first["newest"] == 1793613900.0
    assert first["seen"] == ["t3_aaa03", "t3_aaa02", "t3_aaa01"]
    assert pages[0].cursor.state["streams"]["inbox"] == {"newest": 0.0, "seen": []}
    assert pages[-1].cursor.state["streams"]["inbox"] == {
        "newest": 1793614700.0,
        "seen": ["t4_ggg03", "t4_ggg01", "t1_fff01", "t1_ddd01"],
    }
    assert [(m.source_id, m.matched_query) for m in pages[-1].mentions] == [
        ("t1_ddd01", "account:mentions"),
        ("t1_fff01", "account:replies"),
        ("t4_ggg01", "brand:Inkwell"),
        ("t4_ggg03", "account:messages"),
    ]


def test_a_new_item_after_the_saved_cursor_is_the_only_one_yielded(fake: FakeReddit) -> None:
    saved = fetch_all(fake.collector(lambda _s: None))[-1].cursor
    fake.add_comment()
    again = mentions_of(fetch_all(fake.collector(lambda _s: None), saved))
    assert [(m.source_id, m.matched_query) for m in again] == [("t1_ccc09", "brand:Inkwell")]


def _comments_only(fake: FakeReddit, limit: int) -> RedditCollector:
    streams = [s for s in plan_streams(WATCH, [], ["inkwell"], inbox=False) if s.kind == "comments"]
    session = fake.web.session()
    return RedditCollector(
        CONFIG, WATCH, streams, limit=limit, session=session, sleep=lambda _s: None
    )


def test_after_downtime_a_listing_is_paged_down_to_the_last_position(fake: FakeReddit) -> None:
    saved = fetch_all(_comments_only(fake, limit=3))[-1].cursor
    for n in range(5):  # more new comments than one page holds
        fake.comments["data"]["children"].insert(0, comment(f"new0{n}", 1793615000.0 + n))
    fake.web.requests.clear()
    again = mentions_of(fetch_all(_comments_only(fake, limit=3), saved))
    assert [m.source_id for m in again] == [f"t1_new0{n}" for n in range(5)]
    pages = fake.web.calls("/r/inkwell/comments/")
    assert [(r.params["limit"], r.params.get("after")) for r in pages] == [
        ("3", None),
        ("3", "t1_new02"),
    ]


def test_a_listing_that_ends_above_the_last_position_warns_of_a_gap(
    fake: FakeReddit, caplog: pytest.LogCaptureFixture
) -> None:
    fake.comments["data"]["children"] = [comment(f"new0{n}", 1793615009.0 - n) for n in range(5)]
    state = write_states({"comments:inkwell": StreamState(1793614100.0, ("t1_ccc01",))})
    with caplog.at_level(logging.WARNING, logger="collectors.reddit.collector"):
        found = mentions_of(fetch_all(_comments_only(fake, limit=3), state))
    assert len(found) == 5
    assert "comments:inkwell ended after 5 items above the last run's newest" in caplog.text
    caplog.clear()
    fake.comments = fixture("comments.json")  # reaches the last position: no warning
    with caplog.at_level(logging.WARNING, logger="collectors.reddit.collector"):
        fetch_all(_comments_only(fake, limit=3), state)
        fake.comments = EMPTY  # nothing at all: nothing skipped either
        fetch_all(_comments_only(fake, limit=3), state)
    assert caplog.text == ""


def test_an_impossible_time_is_quarantined_and_blocks_nothing(fake: FakeReddit) -> None:
    fake.comments["data"]["children"].insert(0, comment("far01", 1e20))
    pages = fetch_all(_comments_only(fake, limit=25))
    (reject,) = [q for page in pages for q in page.quarantined]
    assert (reject.reason, reject.locator) == (
        "created_utc 1e+20 is not epoch seconds",
        "comments:inkwell:t1_far01",
    )
    fake.add_comment()
    again = mentions_of(fetch_all(_comments_only(fake, limit=25), pages[-1].cursor))
    assert [m.source_id for m in again] == ["t1_ccc09"]


def test_the_config_repr_keeps_the_secrets_out() -> None:
    shown = repr(RedditConfig("ua", "client-id", "s3cret-client", "inkwell_team", "s3cret-pw"))
    assert "s3cret" not in shown
    assert "inkwell_team" in shown


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
        "inbox",
    ]
    assert collector.limit == 50
    with pytest.raises(SourceConfigError, match="SOCIALCRM_REDDIT_PASSWORD"):
        collector.check()


def _inbox_only(fake: FakeReddit, limit: int = 25) -> RedditCollector:
    stream = Stream("inbox", "inbox", None)
    return RedditCollector(
        CONFIG, WATCH, [stream], limit=limit, session=fake.web.session(), sleep=lambda _s: None
    )


def test_the_old_inbox_streams_carry_over_from_the_oldest_position(fake: FakeReddit) -> None:
    # the last old-format run failed after `messages`: `mentions` lags two hours behind it
    now = 1793620000.0
    listing = [_dm("m00", now), _dm("lag01", now - 5400), _dm("old01", now - 20000)]
    fake.web.route("GET", "/message/inbox/", _listing_of(listing))
    cursor = Cursor(
        {
            "streams": {
                "messages": {"newest": now, "seen": ["t4_m00"]},
                "mentions": {"newest": now - 7200, "seen": []},
                "comment_replies": {"newest": 0.0, "seen": []},  # never read: no position
            }
        }
    )
    pages = fetch_all(_inbox_only(fake), cursor)
    assert [m.source_id for m in mentions_of(pages)] == ["t4_lag01"]
    assert pages[-1].cursor.state["streams"]["inbox"]["newest"] == now


def _listing_of(children: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": "Listing", "data": {"after": None, "children": children}}


def test_the_first_inbox_run_after_a_released_cursor_reads_only_limit(fake: FakeReddit) -> None:
    # the released version kept only `mentions`: replies and messages since then were never
    # collected, and are not worth up to 1000 old items in one run
    listing = _listing_of([_dm(f"n{n:03}", 1793620000.0 - n) for n in range(60)])
    fake.web.route("GET", "/message/inbox/", lambda r: paged(listing, r))
    cursor = Cursor({"streams": {"mentions": {"newest": 1793500000.0, "seen": []}}})
    pages = fetch_all(_inbox_only(fake, limit=25), cursor)
    assert len(mentions_of(pages)) == 25
    assert [r.params["limit"] for r in fake.web.calls("/message/inbox/")] == ["25"]
    # from then on the inbox has its own position and pages down to it after downtime
    listing["data"]["children"][:0] = [_dm(f"z{n:03}", 1793630000.0 - n) for n in range(30)]
    again = mentions_of(fetch_all(_inbox_only(fake, limit=25), pages[-1].cursor))
    assert len(again) == 30


def test_a_fresh_stream_reads_limit_items_page_by_page(fake: FakeReddit) -> None:
    fake.comments = _listing_of([comment(f"f{n:03}", 1793615000.0 - n) for n in range(150)])
    found = mentions_of(fetch_all(_comments_only(fake, limit=150)))
    assert len(found) == 150
    pages = fake.web.calls("/r/inkwell/comments/")
    assert [(r.params["limit"], r.params.get("after")) for r in pages] == [
        ("100", None),
        ("100", "t1_f099"),
    ]


def test_an_id_too_long_to_store_is_quarantined_not_shortened(fake: FakeReddit) -> None:
    long_name = "t1_" + "x" * 300
    fake.comments["data"]["children"].insert(0, comment("x" * 300, 1793615000.0))
    pages = fetch_all(_comments_only(fake, limit=25))
    (reject,) = [q for page in pages for q in page.quarantined]
    assert reject.reason == "mention source_id is longer than 255 characters"
    assert json.loads(reject.payload)["name"] == long_name
    found = [m.source_id for m in mentions_of(pages)]
    assert found  # the rest of the listing goes on
    assert all(len(source_id) < 20 for source_id in found)
