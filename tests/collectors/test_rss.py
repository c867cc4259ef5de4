"""RSS/Atom collector: contract, conditional GET, Google Alerts, filters, broken feeds, parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest

from collectors.base import RateLimitedError, SourceConfigError
from collectors.rss import RssCollector, build
from collectors.rss.parse import (
    EntryError,
    FeedInfo,
    FeedState,
    cursor_for,
    entry_id,
    entry_to_mention,
    states_from,
    unwrap_link,
)
from socialcrm.mention import Cursor, Mention
from socialcrm.settings import Settings
from tests.collectors.contract import CollectorContract, Harness, fetch_all, mentions_of
from tests.collectors.fakeweb import FakeWeb, Reply, Request

FIXTURES = Path(__file__).parent / "fixtures" / "rss"
BLOG = "https://blog.example/feed.xml"
ALERTS = "https://www.google.com/alerts/feeds/00000000000000000000/1234567890123456789"
NEWS = "https://news.example/atom.xml"
PATHS = {BLOG: "/feed.xml", ALERTS: "/alerts/feeds/00000000000000000000/1234567890123456789"}
PATHS[NEWS] = "/atom.xml"
FILES = {BLOG: "blog.xml", ALERTS: "google_alerts.atom", NEWS: "news.atom"}
BLOG_IDS = {"https://blog.example/?p=812", "https://blog.example/?p=799"}
ALERT_IDS = {f"tag:google.com,2013:googlealerts/feed:{n * 11111111111111111111}" for n in (1, 2)}
FETCHED_AT = datetime(2026, 11, 5, 9, 30, tzinfo=UTC)
BROKEN_ITEM = "<item><description>no id, no link, no title</description></item>"


class FakeFeeds:
    """Serves each fixture feed with an ETag, answering 304 when the client sends it back."""

    def __init__(self) -> None:
        self.bodies = {
            url: (FIXTURES / name).read_text(encoding="utf-8") for url, name in FILES.items()
        }
        self.honour_etags = False

    def etag(self, url: str) -> str:
        return f'"{abs(hash(self.bodies[url])) % 10**8}"'

    def handler(self, url: str) -> Any:
        def answer(request: Request) -> Reply:
            etag = self.etag(url)
            if self.honour_etags and request.headers.get("if-none-match") == etag:
                return Reply(304, b"", {"ETag": etag})
            headers = {
                "Content-Type": "application/rss+xml; charset=utf-8",
                "ETag": etag,
                "Last-Modified": "Tue, 03 Nov 2026 09:00:00 GMT",
            }
            return Reply(200, self.bodies[url], headers)

        return answer

    def web(self) -> FakeWeb:
        web = FakeWeb()
        for url, path in PATHS.items():
            web.route("GET", path, self.handler(url))
        return web

    def add_to_blog(self, item: str) -> None:
        self.bodies[BLOG] = self.bodies[BLOG].replace("</channel>", f"{item}</channel>")


def _build(web: FakeWeb, feeds: list[str], sleep: Any = None, **rss: Any) -> RssCollector:
    settings = Settings.model_validate(
        {
            "watch": {"brand": ["Inkwell"], "competitors": ["Quillpad"], "exclude": ["pens"]},
            "sources": {"rss": {"enabled": True, "feeds": feeds, **rss}},
        }
    )
    return build(
        settings,
        transport=web.transport(),
        sleep=sleep or (lambda _s: None),
        clock=lambda: FETCHED_AT,
    )


class TestRssContract(CollectorContract):
    """The shared collector contract against a blog feed and a Google Alerts feed."""

    @pytest.fixture
    def harness(self) -> Harness:
        feeds = FakeFeeds()
        web = feeds.web()

        def collector() -> RssCollector:
            return _build(web, [BLOG, NEWS], harness.sleep)

        def break_one_item() -> None:
            feeds.add_to_blog(BROKEN_ITEM)

        ids = BLOG_IDS | {"tag:news.example,2026:quillpad-prices", "tag:news.example,2026:ten-apps"}
        harness = Harness(web, collector, break_one_item, ids)
        return harness


@pytest.fixture
def feeds() -> FakeFeeds:
    return FakeFeeds()


def test_two_feeds_yield_a_page_each_with_a_growing_cursor(feeds: FakeFeeds) -> None:
    pages = fetch_all(_build(feeds.web(), [BLOG, ALERTS]))
    assert [{m.source_id for m in page.mentions} for page in pages] == [BLOG_IDS, {min(ALERT_IDS)}]
    assert set(states_from(pages[0].cursor)) == {BLOG}
    assert set(states_from(pages[1].cursor)) == {BLOG, ALERTS}
    blog = pages[0].mentions
    assert [m.created_at for m in blog] == sorted(m.created_at for m in blog)
    labels = {m.source_id: m.matched_query for m in blog}
    assert labels == {
        "https://blog.example/?p=812": "brand:Inkwell",
        "https://blog.example/?p=799": "feed:Ink & Paper Blog",
    }


def test_google_alerts_links_are_unwrapped_and_html_titles_made_plain(feeds: FakeFeeds) -> None:
    (alert,) = mentions_of(fetch_all(_build(feeds.web(), [ALERTS])))
    assert alert.url == "https://reviews.example/inkwell-review?ref=rss"
    assert alert.title == "Inkwell review: a calm notes app"
    assert alert.text.startswith("We spent a month with Inkwell, the notes app")
    assert alert.author.handle == "reviews.example"


def test_exclusions_always_drop(feeds: FakeFeeds) -> None:
    ids = {m.source_id for m in mentions_of(fetch_all(_build(feeds.web(), [ALERTS])))}
    assert ids == {min(ALERT_IDS)}  # the other alert is about pens, an exclusion


def test_match_terms_keeps_only_entries_naming_a_term(feeds: FakeFeeds) -> None:
    collector = _build(feeds.web(), [BLOG, NEWS], match_terms=True)
    labels = {m.source_id: m.matched_query for m in mentions_of(fetch_all(collector))}
    assert labels == {
        "https://blog.example/?p=812": "brand:Inkwell",
        "tag:news.example,2026:quillpad-prices": "brand:Inkwell",
    }


def test_304_yields_nothing_and_keeps_the_cursor(feeds: FakeFeeds) -> None:
    feeds.honour_etags = True
    web = feeds.web()
    first = fetch_all(_build(web, [BLOG]))
    web.requests.clear()
    assert fetch_all(_build(web, [BLOG]), first[-1].cursor) == []
    (request,) = web.calls("/feed.xml")
    assert request.headers["if-none-match"] == feeds.etag(BLOG)
    assert request.headers["if-modified-since"] == "Tue, 03 Nov 2026 09:00:00 GMT"


def test_second_run_when_the_server_ignores_conditional_get(feeds: FakeFeeds) -> None:
    web = feeds.web()
    first = fetch_all(_build(web, [BLOG, NEWS]))
    feeds.add_to_blog(
        "<item><title>Inkwell 3</title><link>https://blog.example/inkwell-3/</link>"
        "<pubDate>Wed, 04 Nov 2026 10:00:00 +0000</pubDate><description>New</description></item>"
    )
    again = fetch_all(_build(web, [BLOG, NEWS]), first[-1].cursor)
    assert [m.source_id for m in mentions_of(again)] == ["https://blog.example/inkwell-3/"]


def test_undated_entries_take_the_fetch_time_once(feeds: FakeFeeds) -> None:
    tip_item = "<item><title>Undated Inkwell tip</title><guid>tip-1</guid></item>"
    feeds.add_to_blog(tip_item * 2)  # listed twice: still one mention
    web = feeds.web()
    first = mentions_of(pages := fetch_all(_build(web, [BLOG])))
    (tip,) = [m for m in first if m.source_id == f"{BLOG}#tip-1"]
    assert tip.created_at == FETCHED_AT
    assert mentions_of(fetch_all(_build(web, [BLOG]), pages[-1].cursor)) == []


def test_a_404_feed_is_a_config_error_naming_it(feeds: FakeFeeds) -> None:
    web = feeds.web()
    missing = "https://blog.example/gone.xml"
    with pytest.raises(
        SourceConfigError, match=r"https://blog\.example/gone\.xml.*sources\.rss\.feeds"
    ):
        fetch_all(_build(web, [missing]))
    with pytest.raises(SourceConfigError, match=r"gone\.xml"):
        _build(web, [missing]).check()


def test_no_feeds_fails_check_naming_the_setting(feeds: FakeFeeds) -> None:
    with pytest.raises(SourceConfigError, match=r"sources\.rss\.feeds"):
        _build(feeds.web(), []).check()


def test_500_then_ok_is_retried_and_429_waited_or_raised(feeds: FakeFeeds) -> None:
    web = feeds.web()
    sleeps: list[float] = []
    web.fail_next(500)
    web.fail_next(429, {"Retry-After": "12"})
    assert {
        m.source_id for m in mentions_of(fetch_all(_build(web, [BLOG], sleeps.append)))
    } == BLOG_IDS
    assert 12 in sleeps
    assert len(sleeps) == 2
    web.fail_always(429, {"Retry-After": "7200"})
    with pytest.raises(RateLimitedError):
        fetch_all(_build(web, [BLOG], sleeps.append))


def test_a_broken_feed_is_quarantined_once_and_other_feeds_still_run(feeds: FakeFeeds) -> None:
    feeds.bodies[NEWS] = "<html><body><p>Maintenance<p></body>"
    web = feeds.web()
    pages = fetch_all(_build(web, [NEWS, BLOG]))
    rejects = [q for page in pages for q in page.quarantined]
    assert [(q.locator, q.reason.split(":")[0]) for q in rejects] == [
        (NEWS, "feed is not valid RSS/Atom")
    ]
    assert {m.source_id for m in mentions_of(pages)} == BLOG_IDS
    again = fetch_all(_build(web, [NEWS, BLOG]), pages[-1].cursor)
    assert [q for page in again for q in page.quarantined] == []


# -- pure functions --------------------------------------------------------------------------


def _entries(name: str) -> list[Any]:
    return list(feedparser.parse((FIXTURES / name).read_bytes()).entries)


def test_atom_entry_with_a_later_update_is_edited_and_html_made_plain() -> None:
    entry = _entries("news.atom")[0]
    mention = entry_to_mention(entry, FeedInfo(NEWS, "Productivity Weekly"), FETCHED_AT)
    assert mention.title == "Quillpad raises prices & drops free tier"
    assert mention.text == "Quillpad users are looking at alternatives such as Inkwell."
    assert mention.created_at == datetime(2026, 11, 4, 8, tzinfo=UTC)
    assert mention.edited_at == datetime(2026, 11, 4, 12, tzinfo=UTC)
    assert (mention.author.handle, mention.author.url) == (
        "Sam Reporter",
        "https://news.example/authors/sam",
    )
    assert mention.matched_query == "feed:Productivity Weekly"


def test_rss_dates_become_utc_and_unchanged_entries_are_not_edited() -> None:
    older = entry_to_mention(_entries("blog.xml")[1], FeedInfo(BLOG, None), FETCHED_AT)
    assert older.created_at == datetime(2026, 11, 2, 7, tzinfo=UTC)
    assert older.edited_at is None
    assert older.matched_query == f"feed:{BLOG}"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"id": "tag:x,2026:1", "link": "https://x/1"}, "tag:x,2026:1"),
        ({"id": "42"}, f"{BLOG}#42"),
        ({"link": "https://x/1", "title": "t"}, "https://x/1"),
    ],
)
def test_entry_ids(entry: dict[str, str], expected: str) -> None:
    assert entry_id(entry, BLOG) == expected


def test_title_only_ids_are_namespaced_and_stable_and_nameless_entries_refused() -> None:
    first = entry_id({"title": "Hello"}, BLOG)
    assert first == entry_id({"title": "Hello"}, BLOG) != entry_id({"title": "Hello"}, NEWS)
    assert first.startswith(f"{BLOG}#title:")
    with pytest.raises(EntryError, match="no id, link or title"):
        entry_id({"summary": "x"}, BLOG)
    with pytest.raises(EntryError, match="no title and no text"):
        entry_to_mention({"id": "tag:x,1:1"}, FeedInfo(BLOG, None), FETCHED_AT)


def test_unwrap_link() -> None:
    wrapped = "https://www.google.com/url?rct=j&sa=t&url=https://a.example/x%3Fy%3D1&ct=ga"
    assert unwrap_link(wrapped) == "https://a.example/x?y=1"
    assert unwrap_link("https://www.google.com/search?q=x") == "https://www.google.com/search?q=x"
    assert unwrap_link("https://www.google.com/url?url=javascript:alert(1)").startswith(
        "https://www"
    )


def _mention(source_id: str, hour: int) -> Mention:
    entry = {
        "id": source_id,
        "title": "t",
        "published_parsed": datetime(2026, 1, 1, hour, tzinfo=UTC).utctimetuple(),
    }
    return entry_to_mention(entry, FeedInfo(BLOG, None), FETCHED_AT)


def test_feed_state_filters_advances_and_round_trips() -> None:
    a, b, c = _mention("tag:a,1:a", 10), _mention("tag:a,1:b", 10), _mention("tag:a,1:c", 9)
    state = FeedState(etag='"e"').advance([a, c], [])
    assert (state.newest, state.ids) == (a.created_at.timestamp(), ("tag:a,1:a",))
    assert [m.source_id for m in (a, b, c) if state.is_new(m, dated=True)] == ["tag:a,1:b"]
    state = state.advance([b], [c])
    assert state.ids == ("tag:a,1:a", "tag:a,1:b")
    assert not state.is_new(c, dated=False)
    assert state.headers() == {"If-None-Match": '"e"'}
    cursor = Cursor.from_json(cursor_for({BLOG: state}).to_json())
    assert states_from(cursor) == {BLOG: state}
    assert states_from(None) == {}
