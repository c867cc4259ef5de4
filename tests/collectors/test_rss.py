"""RSS/Atom collector: contract, conditional GET, Google Alerts, filters, broken feeds, parsing."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest

from collectors.base import (
    RateLimitedError,
    SourceAuthError,
    SourceConfigError,
    SourceError,
    TransientSourceError,
)
from collectors.http import redact
from collectors.rss import RssCollector, build
from collectors.rss.parse import (
    MAX_SEEN,
    EntryError,
    FeedInfo,
    FeedState,
    cursor_for,
    entry_id,
    entry_to_mention,
    feed_tag,
    read_entry,
    seen_key,
    states_from,
    unwrap_link,
)
from socialcrm import pipeline
from socialcrm.db import Database
from socialcrm.mention import Cursor, Mention, Quarantined
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
# dated before every entry already in the blog feed, as an aggregator or a back-dated post adds
OLDER_ITEM = (
    "<item><title>Inkwell, a year on</title><guid>https://blog.example/?p=700</guid>"
    "<pubDate>Sun, 01 Nov 2026 08:00:00 +0000</pubDate><description>Still here</description></item>"
)


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

        def add_item() -> str:
            feeds.add_to_blog(OLDER_ITEM)
            return "https://blog.example/?p=700"

        ids = BLOG_IDS | {"tag:news.example,2026:quillpad-prices", "tag:news.example,2026:ten-apps"}
        harness = Harness(web, collector, break_one_item, ids, add_item=add_item)
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
    (tip,) = [m for m in first if m.source_id == f"{feed_tag(BLOG)}#tip-1"]
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


def test_an_older_dated_entry_that_appears_later_is_yielded_once(feeds: FakeFeeds) -> None:
    web = feeds.web()
    first = fetch_all(_build(web, [BLOG]))
    feeds.add_to_blog(OLDER_ITEM)
    second = fetch_all(_build(web, [BLOG]), first[-1].cursor)
    assert [m.source_id for m in mentions_of(second)] == ["https://blog.example/?p=700"]
    assert mentions_of(fetch_all(_build(web, [BLOG]), second[-1].cursor)) == []


DOWN = "https://down.example/feed.xml"
GONE = "https://blog.example/gone.xml"


def _with_failing_feeds(feeds: FakeFeeds, down: int = 503, gone: int = 404) -> FakeWeb:
    web = feeds.web()
    web.route("GET", "/gone.xml", Reply(gone, b"nothing here"))
    # the fake routes by path: the down feed shares the blog's path on another host
    web.routes[("GET", "/feed.xml")] = _by_host(
        {"down.example": Reply(down, b"busy")}, web.routes[("GET", "/feed.xml")]
    )
    return web


def _by_host(replies: dict[str, Reply], otherwise: Any) -> Any:
    def answer(request: Request) -> Reply:
        host = request.url.split("/")[2]
        return replies[host] if host in replies else otherwise(request)

    return answer


def test_one_bad_feed_neither_stops_nor_disables_the_others(feeds: FakeFeeds) -> None:
    web = _with_failing_feeds(feeds)
    collector = _build(web, [DOWN, GONE, NEWS, BLOG])
    pages: list[Any] = []
    with pytest.raises(SourceError) as caught:
        pages.extend(collector.fetch(None))
    assert type(caught.value) is SourceError  # not a config error: that would disable all feeds
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("rss: 2 of 4 feeds failed: feed https://down.example/feed.xml")
    assert "feed https://blog.example/gone.xml not found (HTTP 404): fix or remove it" in message
    assert {m.source_id for m in mentions_of(pages)} >= BLOG_IDS
    # a failed feed keeps its (empty) state: nothing of it is recorded as taken
    assert set(states_from(pages[-1].cursor)) == {NEWS, BLOG}


def test_feeds_that_are_all_passing_faults_end_the_run_as_transient(feeds: FakeFeeds) -> None:
    web = _with_failing_feeds(feeds)
    pages: list[Any] = []
    with pytest.raises(TransientSourceError) as caught:
        pages.extend(_build(web, [BLOG, DOWN]).fetch(None))
    assert "feed https://down.example/feed.xml: " in str(caught.value)
    assert "HTTP 503" in str(caught.value)
    assert {m.source_id for m in mentions_of(pages)} == BLOG_IDS


def test_check_passes_when_one_feed_answers_and_fails_when_none_does(feeds: FakeFeeds) -> None:
    web = _with_failing_feeds(feeds)
    _build(web, [GONE, BLOG]).check()
    with pytest.raises(SourceConfigError, match=r"feed https://blog\.example/gone\.xml not found"):
        _build(web, [GONE]).check()
    with pytest.raises(SourceError) as caught:
        _build(web, [GONE, DOWN]).check()
    assert not isinstance(caught.value, SourceConfigError)
    assert "gone.xml" in str(caught.value)
    assert "down.example" in str(caught.value)


def test_every_feed_refusing_access_is_an_auth_error(feeds: FakeFeeds) -> None:
    web = _with_failing_feeds(feeds, gone=403)
    with pytest.raises(SourceAuthError, match=r"gone\.xml refused access \(HTTP 403\)"):
        fetch_all(_build(web, [GONE]))
    with pytest.raises(SourceError) as caught:
        fetch_all(_build(web, [GONE, BLOG]))
    assert type(caught.value) is SourceError


def test_feed_urls_never_show_their_credentials_or_token(feeds: FakeFeeds) -> None:
    private = "https://reader:s3cret@blog.example/gone.xml?token=abc123"
    web = _with_failing_feeds(feeds)
    with pytest.raises(SourceError) as caught:
        fetch_all(_build(web, [private, BLOG]))
    message = str(caught.value)
    assert "feed https://***@blog.example/gone.xml?*** not found" in message
    assert "s3cret" not in message
    assert "abc123" not in message
    assert redact("https://a:b@h.example:8443/p?q=1#f") == "https://***@h.example:8443/p?***"
    assert redact(BLOG) == BLOG
    untitled = FeedInfo("https://reader:s3cret@blog.example/f.xml?token=abc123", None)
    assert untitled.query.label == "feed:https://***@blog.example/f.xml?***"


def test_a_broken_private_feed_is_quarantined_under_its_masked_url(feeds: FakeFeeds) -> None:
    private = "https://blog.example/feed.xml?key=abc123"
    feeds.bodies[BLOG] = "<html><body><p>Maintenance<p></body>"
    (page,) = fetch_all(_build(feeds.web(), [private]))
    assert [q.locator for q in page.quarantined] == ["https://blog.example/feed.xml?***"]


@pytest.mark.parametrize("date", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"])
def test_an_entry_with_a_date_out_of_range_is_quarantined_once(feeds: FakeFeeds, date: str) -> None:
    feeds.add_to_blog(
        f"<item><title>Inkwell</title><guid>tag:x,1:odd</guid><pubDate>{date}</pubDate></item>"
    )
    web = feeds.web()
    pages = fetch_all(_build(web, [BLOG]))
    (reject,) = [q for page in pages for q in page.quarantined]
    assert "unreadable published date" in reject.reason
    assert {m.source_id for m in mentions_of(pages)} == BLOG_IDS
    again = fetch_all(_build(web, [BLOG]), pages[-1].cursor)
    assert [q for page in again for q in page.quarantined] == []


def test_a_long_author_and_feed_title_fit_their_columns(feeds: FakeFeeds) -> None:
    authors = ", ".join(f"Author Number{n}" for n in range(70))  # an arXiv-style list
    assert len(authors) > 1000
    feeds.bodies[BLOG] = (
        feeds.bodies[BLOG]
        .replace("Ada Byron", authors)
        .replace("Ink &amp; Paper Blog", "Ink " * 100)
    )
    mentions = mentions_of(fetch_all(_build(feeds.web(), [BLOG])))
    assert {len(m.author.handle) for m in mentions} == {255}
    assert {len(m.author.display_name or "") for m in mentions} == {255}
    feed_label = ("feed:" + " ".join(["Ink"] * 100))[:254] + "…"
    assert {m.matched_query for m in mentions} == {"brand:Inkwell", feed_label}


def test_an_arxiv_style_author_list_is_stored(feeds: FakeFeeds, db: Database) -> None:
    authors = ", ".join(f"Author Number{n}" for n in range(70))
    feeds.bodies[BLOG] = feeds.bodies[BLOG].replace("Ada Byron", authors)
    summary = pipeline.collect(db, _build(feeds.web(), [BLOG]))
    assert (summary.status, summary.new) == ("ok", 2), summary.error


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
        ({"id": "42"}, "feed:" + hashlib.sha256(BLOG.encode()).hexdigest()[:16] + "#42"),
        ({"link": "https://x/1", "title": "t"}, "https://x/1"),
    ],
)
def test_entry_ids(entry: dict[str, str], expected: str) -> None:
    assert entry_id(entry, BLOG) == expected


def test_title_only_ids_are_namespaced_and_stable_and_nameless_entries_refused() -> None:
    first = entry_id({"title": "Hello"}, BLOG)
    assert first == entry_id({"title": "Hello"}, BLOG) != entry_id({"title": "Hello"}, NEWS)
    assert first.startswith(f"{feed_tag(BLOG)}#title:")
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


def test_feed_state_decides_newness_by_seen_keys_and_round_trips() -> None:
    a, b, c = (seen_key(f"tag:a,1:{n}") for n in "abc")
    state = FeedState(etag='"e"').remember([a, c])
    assert [key for key in (a, b, c) if state.is_new(key)] == [b]
    assert state.remember([c, a]) is state  # nothing new: the cursor does not change
    state = state.remember([b, c])
    assert state.seen == (a, b, c)  # the document's keys last, in document order
    assert state.headers() == {"If-None-Match": '"e"'}
    cursor = Cursor.from_json(cursor_for({BLOG: state}).to_json())
    assert states_from(cursor) == {BLOG: state}
    assert states_from(None) == {}


def test_feed_state_is_bounded_but_keeps_every_key_of_the_document() -> None:
    old = [seen_key(f"old-{n}") for n in range(MAX_SEEN)]
    document = [seen_key(f"doc-{n}") for n in range(MAX_SEEN + 100)]
    state = FeedState().remember(old).remember(document)
    assert state.seen == tuple(document)
    state = state.remember([seen_key("next"), *document[:10]])
    assert len(state.seen) == MAX_SEEN
    assert not state.is_new(document[0])
    assert not state.is_new(seen_key("next"))


def test_feed_state_reads_the_state_before_the_seen_set() -> None:
    legacy = FeedState.from_state({"etag": "x", "newest": 5.0, "ids": ["i"], "undated": ["u"]})
    assert legacy == FeedState("x", None, (seen_key("u"), seen_key("i")))
    assert FeedState.from_state({"etag": 5, "seen": "odd"}) == FeedState()


def test_odd_dates_make_a_quarantine_record_not_a_crash() -> None:
    huge = time.struct_time((10**10, 1, 1, 0, 0, 0, 0, 1, 0))  # OverflowError, not ValueError
    entry = {"id": "tag:x,1:1", "title": "t", "published_parsed": huge}
    with pytest.raises(EntryError, match="unreadable published date"):
        entry_to_mention(entry, FeedInfo(BLOG, None), FETCHED_AT)
    odd = {**entry, "published_parsed": "soon"}  # TypeError
    key, item = read_entry(odd, FeedInfo(BLOG, None), FETCHED_AT)
    assert isinstance(item, Quarantined)
    assert item.reason.startswith("entry has an unreadable")
    assert key == read_entry(odd, FeedInfo(BLOG, None), FETCHED_AT)[0]


def test_ids_of_a_long_feed_url_stay_unique_and_within_the_column() -> None:
    long_feed = "https://blog.example/feed.xml?" + "x" * 270
    assert len(long_feed) == 300
    first, second = (entry_id({"title": t}, long_feed) for t in ("One", "Two"))
    assert first != second
    bare = [entry_id({"id": f"{n}" * 300}, long_feed) for n in (1, 2)]
    links = [entry_id({"link": f"https://x.example/{c * 300}"}, long_feed) for c in "ab"]
    assert len({*bare, *links}) == 4
    assert max(len(i) for i in (first, second, *bare, *links)) <= 255


def test_ids_never_carry_the_feeds_password_or_token() -> None:
    private = "https://reader:s3cret@blog.example/feed.xml?token=abc123"
    ids = [entry_id(entry, private) for entry in ({"id": "42"}, {"title": "Hello"})]
    assert ids[0] != entry_id({"id": "42"}, BLOG)  # still namespaced by the feed
    for source_id in ids:
        assert "s3cret" not in source_id
        assert "abc123" not in source_id
        assert "blog.example" not in source_id


def test_an_entry_the_mention_refuses_is_quarantined_once(
    feeds: FakeFeeds, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refusing(**fields: Any) -> Mention:
        if fields["source_id"] == "tag:x,1:refused":
            raise ValueError("mention source_id must be at most 255 characters")
        return Mention(**fields)

    monkeypatch.setattr("collectors.rss.parse.Mention", refusing)
    feeds.add_to_blog("<item><title>Inkwell</title><guid>tag:x,1:refused</guid></item>")
    web = feeds.web()
    pages = fetch_all(_build(web, [BLOG]))
    (reject,) = [q for page in pages for q in page.quarantined]
    assert "at most 255" in reject.reason
    assert {m.source_id for m in mentions_of(pages)} == BLOG_IDS
    again = fetch_all(_build(web, [BLOG]), pages[-1].cursor)
    assert [q for page in again for q in page.quarantined] == []


def test_a_rate_limited_feed_holds_up_no_other_feed(feeds: FakeFeeds) -> None:
    web = feeds.web()
    web.fail_next(429, {"Retry-After": "120"})  # the first feed's request
    sleeps: list[float] = []
    pages: list[Any] = []
    with pytest.raises(RateLimitedError) as caught:
        pages.extend(_build(web, [NEWS, BLOG], sleeps.append).fetch(None))
    assert {m.source_id for m in mentions_of(pages)} == BLOG_IDS
    assert sleeps == []
    assert caught.value.retry_after == 120
    assert "feed https://news.example/atom.xml: rate limited (HTTP 429)" in str(caught.value)
    assert len(web.calls("/atom.xml")) == 1


def test_a_short_429_is_waited_out_after_the_other_feeds(feeds: FakeFeeds) -> None:
    web = feeds.web()
    web.fail_next(429, {"Retry-After": "7"})
    events: list[Any] = []
    collector = _build(web, [NEWS, BLOG], lambda seconds: events.append(seconds))
    for page in collector.fetch(None):
        events.append(set(states_from(page.cursor)))
    assert events == [{BLOG}, 7, {BLOG, NEWS}]
