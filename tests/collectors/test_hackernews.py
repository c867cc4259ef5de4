"""Hacker News collector: contract, Algolia paging, watermarks, dedupe, parsing without I/O."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collectors.base import RateLimitedError, SourceConfigError
from collectors.hackernews import HackerNewsCollector, build
from collectors.hackernews.parse import (
    LOOKBACK_SECONDS,
    MAX_REJECTED,
    MAX_SEEN,
    Hit,
    HitError,
    Watermark,
    cursor_for,
    hit_to_mention,
    read_hit,
    search_params,
    watermarks_from,
)
from collectors.queries import Query, QueryKind
from collectors.text import html_to_text
from socialcrm.mention import Cursor, Mention
from socialcrm.settings import Settings
from tests.collectors.contract import CollectorContract, Harness, fetch_all, mentions_of
from tests.collectors.fakeweb import FakeWeb, Reply, Request

FIXTURES = Path(__file__).parent / "fixtures" / "hackernews"
SEARCH = "/api/v1/search_by_date"
# a first run takes each term's newest page: Inkwell's page 1 (41000001, 41000002) is history
EXPECTED = {"41000004", "41000005", "41000006"}
NOW = 1793620000.0  # the fake clock: about 1.5 hours after the newest fixture hit


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


class FakeAlgolia:
    """Serves the fixture pages by query and page, ignoring `numericFilters` like a stale index."""

    def __init__(self) -> None:
        self.pages: dict[str, list[dict[str, Any]]] = {
            "Inkwell": [_load("inkwell_page0.json"), _load("inkwell_page1.json")],
            "Quillpad": [_load("quillpad_page0.json")],
        }

    def __call__(self, request: Request) -> Reply:
        pages = self.pages.get(request.params["query"].strip('"'), [])
        number = int(request.params.get("page", 0))
        if number >= len(pages):
            return Reply(body={"hits": [], "page": number, "nbPages": len(pages)})
        return Reply(body=pages[number])

    def add_hit(self, query: str, hit: dict[str, Any]) -> None:
        """Put `hit` on the first page of `query`, newest first like Algolia."""
        hits = self.pages[query][0]["hits"]
        hits.insert(0, hit)
        hits.sort(key=_newest_first)


def _newest_first(hit: Any) -> int:
    created = hit.get("created_at_i") if isinstance(hit, dict) else None
    return -created if isinstance(created, int) else -(10**13)


def _comment(object_id: str, created: int, text: str = "Inkwell 3 is out", **more: Any) -> Any:
    return {
        "_tags": ["comment"],
        "objectID": object_id,
        "author": "late",
        "comment_text": text,
        "created_at_i": created,
        "story_id": 41000001,
        "parent_id": 41000005,
        **more,
    }


def _settings(**hackernews: Any) -> Settings:
    return Settings.model_validate(
        {
            "watch": {"brand": ["Inkwell"], "competitors": ["Quillpad"], "exclude": ["giveaway"]},
            "sources": {"hackernews": {"enabled": True, "limit": 3, **hackernews}},
        }
    )


def _web(algolia: FakeAlgolia) -> FakeWeb:
    web = FakeWeb()
    web.route("GET", SEARCH, algolia)
    web.route("GET", "/api/v1/search", {"hits": [], "nbHits": 51234567, "nbPages": 0})
    return web


def _builder(web: FakeWeb, sleep: Callable[[float], None], **kw: Any) -> HackerNewsCollector:
    return build(_settings(**kw), transport=web.transport(), sleep=sleep, clock=lambda: NOW)


class TestHackerNewsContract(CollectorContract):
    """The shared collector contract against a fake Algolia."""

    @pytest.fixture
    def harness(self) -> Harness:
        algolia = FakeAlgolia()
        web = _web(algolia)

        def collector() -> HackerNewsCollector:
            return _builder(web, harness.sleep)

        def break_one_item() -> None:
            algolia.add_hit(
                "Quillpad", {"author": "x", "comment_text": "Quillpad", "created_at_i": 1793614300}
            )

        def add_item() -> str:
            # indexed after the first run, yet older than that run's newest Inkwell hit
            algolia.add_hit("Inkwell", _comment("41000020", 1793614050))
            return "41000020"

        harness = Harness(web, collector, break_one_item, EXPECTED, add_item=add_item)
        return harness


@pytest.fixture
def algolia() -> FakeAlgolia:
    return FakeAlgolia()


def test_a_first_run_takes_the_newest_page_of_each_term_without_a_warning(
    algolia: FakeAlgolia, caplog: pytest.LogCaptureFixture
) -> None:
    web = _web(algolia)
    with caplog.at_level(logging.WARNING):
        pages = fetch_all(_builder(web, lambda _s: None))
    assert [(r.params["query"], r.params["page"]) for r in web.calls(SEARCH)] == [
        ("Inkwell", "0"),
        ("Quillpad", "0"),
    ]
    assert {m.source_id for m in mentions_of(pages)} == EXPECTED
    assert caplog.records == []
    # the history left behind (page 1, older than the page taken) stays behind on the next run
    inkwell = watermarks_from(pages[-1].cursor)["brand:Inkwell"]
    assert inkwell.floor == 1793613900  # the oldest hit of the page taken
    assert mentions_of(fetch_all(_builder(web, lambda _s: None), pages[-1].cursor)) == []


def test_a_backlog_is_paged_through_nb_pages_and_yielded_oldest_first(
    algolia: FakeAlgolia,
) -> None:
    web = _web(algolia)
    old = {"brand:Inkwell": Watermark(1793613000), "competitor:Quillpad": Watermark(1793613000)}
    pages = fetch_all(_builder(web, lambda _s: None), cursor_for(old))
    inkwell_pages = [int(r.params["page"]) for r in web.calls(SEARCH) if "Inkwell" in r.url]
    assert inkwell_pages == [0, 1]
    # chunks of `limit` hits; the deleted 41000003 is skipped but still covered by the cursor
    assert [[m.source_id for m in page.mentions] for page in pages] == [
        ["41000001", "41000002"],
        ["41000004", "41000005", "41000006"],
    ]
    first = watermarks_from(pages[0].cursor)
    assert first["brand:Inkwell"].seen == {
        "41000001": 1793613700,
        "41000002": 1793613800,
        "41000003": 1793613900,
    }
    assert first["competitor:Quillpad"] == old["competitor:Quillpad"]
    last = watermarks_from(pages[-1].cursor)
    assert last["competitor:Quillpad"].floor == 1793614200 - LOOKBACK_SECONDS


def test_more_pages_than_the_budget_warns_and_skips_the_older_backlog(
    algolia: FakeAlgolia, caplog: pytest.LogCaptureFixture
) -> None:
    web = _web(algolia)
    collector = _builder(web, lambda _s: None)
    collector.max_pages = 1
    old = {"brand:Inkwell": Watermark(1793613000)}
    with caplog.at_level(logging.WARNING):
        pages = fetch_all(collector, cursor_for(old))
    assert [r.message for r in caplog.records] == [
        "hackernews: more than 1 pages of new hits for brand:Inkwell; older ones are skipped"
    ]
    assert watermarks_from(pages[-1].cursor)["brand:Inkwell"].floor == 1793613900


def test_second_run_with_overlapping_results_yields_only_newer_hits(
    algolia: FakeAlgolia,
) -> None:
    web = _web(algolia)
    pages = fetch_all(_builder(web, lambda _s: None))
    algolia.add_hit("Inkwell", _comment("41000010", 1793614900))
    web.requests.clear()
    again = fetch_all(_builder(web, lambda _s: None), pages[-1].cursor)
    assert [m.source_id for m in mentions_of(again)] == ["41000010"]
    filters = {r.params["query"]: r.params.get("numericFilters") for r in web.calls(SEARCH)}
    assert filters == {
        "Inkwell": "created_at_i>=1793613900",  # the page the first run took
        "Quillpad": f"created_at_i>={1793614200 - LOOKBACK_SECONDS}",  # the look-back window
    }


def test_a_page_reaching_below_the_floor_is_the_last_one_asked_for(algolia: FakeAlgolia) -> None:
    web = _web(algolia)
    mark = {"brand:Inkwell": Watermark(1793614050, {"41000005": 1793614100})}
    assert mentions_of(fetch_all(_builder(web, lambda _s: None), cursor_for(mark))) != []
    assert [r.params["page"] for r in web.calls(SEARCH) if "Inkwell" in r.url] == ["0"]


def test_a_hit_indexed_late_inside_the_look_back_is_yielded_once(algolia: FakeAlgolia) -> None:
    web = _web(algolia)
    first = fetch_all(_builder(web, lambda _s: None))
    newest = max(m.created_at.timestamp() for m in mentions_of(first))
    late = int(newest) - LOOKBACK_SECONDS + 60  # older than the newest hit stored
    algolia.add_hit("Quillpad", _comment("41000030", late, "Quillpad lost my notes"))
    second = fetch_all(_builder(web, lambda _s: None), first[-1].cursor)
    assert [m.source_id for m in mentions_of(second)] == ["41000030"]
    third = fetch_all(_builder(web, lambda _s: None), second[-1].cursor)
    assert mentions_of(third) == []
    seen = watermarks_from(third[-1].cursor if third else second[-1].cursor)
    assert "41000030" in seen["competitor:Quillpad"].seen


def test_exclusions_drop_the_item_but_the_watermark_moves_on(algolia: FakeAlgolia) -> None:
    algolia.add_hit(
        "Inkwell",
        {
            "_tags": ["story"],
            "objectID": "41000011",
            "author": "spam",
            "title": "Inkwell giveaway",
            "created_at_i": 1793615000,
        },
    )
    pages = fetch_all(_builder(_web(algolia), lambda _s: None))
    assert "41000011" not in {m.source_id for m in mentions_of(pages)}
    assert "41000011" in watermarks_from(pages[-1].cursor)["brand:Inkwell"].seen


def test_phrases_are_quoted_and_keywords_searched(algolia: FakeAlgolia) -> None:
    web = _web(algolia)
    fetch_all(_builder(web, lambda _s: None, keywords=["plain text notes"]))
    queries = {r.params["query"] for r in web.calls(SEARCH)}
    assert queries == {"Inkwell", "Quillpad", '"plain text notes"'}
    assert {r.params["tags"] for r in web.calls(SEARCH)} == {"(story,comment)"}


def test_server_error_then_ok_is_retried_and_long_429_ends_the_run(
    algolia: FakeAlgolia,
) -> None:
    web = _web(algolia)
    sleeps: list[float] = []
    web.fail_next(500)
    assert {m.source_id for m in mentions_of(fetch_all(_builder(web, sleeps.append)))} == EXPECTED
    assert len(sleeps) == 1
    web.fail_next(429, {"Retry-After": "900"})
    with pytest.raises(RateLimitedError):
        fetch_all(_builder(web, sleeps.append))


def test_no_terms_is_a_config_error_naming_the_settings() -> None:
    settings = Settings.model_validate({"sources": {"hackernews": {"enabled": True}}})
    collector = build(settings, transport=FakeWeb().transport())
    with pytest.raises(SourceConfigError, match=r"\[watch\] brand.*sources\.hackernews\.keywords"):
        collector.check()


def test_check_makes_one_cheap_request(algolia: FakeAlgolia) -> None:
    web = _web(algolia)
    _builder(web, lambda _s: None).check()
    assert [(r.path, r.params["hitsPerPage"]) for r in web.requests] == [("/api/v1/search", "0")]


# -- pure functions --------------------------------------------------------------------------


def test_html_to_text_keeps_paragraphs_and_decodes_entities() -> None:
    link = '<a href="x">https:&#x2F;&#x2F;a.example</a>'
    html = f"I use <i>Inkwell</i> &amp; like it.<p>Sync &gt; all: {link}"
    assert html_to_text(html) == "I use Inkwell & like it.\n\nSync > all: https://a.example"
    assert html_to_text("<script>alert(1)</script>plain") == "plain"


def test_story_and_comment_become_mentions() -> None:
    page0, page1 = _load("inkwell_page0.json"), _load("inkwell_page1.json")
    story = hit_to_mention(read_hit(page1["hits"][1]), "brand:Inkwell")
    assert story is not None
    assert story.title == story.text == page1["hits"][1]["title"]
    assert story.url == "https://news.ycombinator.com/item?id=41000001"
    assert story.extra == {"link": "https://inkwell.example/"}
    assert story.thread_id == "41000001"
    assert story.created_at == datetime(2026, 11, 2, 10, 1, 40, tzinfo=UTC)
    comment = hit_to_mention(read_hit(page0["hits"][0]))
    assert comment is not None
    assert comment.text.startswith("I switched to Inkwell last month & love it.\n\nThe sync is")
    assert (comment.thread_id, comment.parent_id, comment.title) == ("41000001", "41000002", None)
    assert comment.author.handle == "tanya_k"
    assert comment.author.url == "https://news.ycombinator.com/user?id=tanya_k"


def test_ask_hn_text_follows_the_title() -> None:
    hit = read_hit(_load("quillpad_page0.json")["hits"][0])
    mention = hit_to_mention(hit)
    assert mention is not None
    assert mention.text.endswith("We just shipped Quillpad 2.0.\n\nWhat should we build next?")
    assert mention.extra == {}


def test_deleted_hits_are_skipped() -> None:
    assert hit_to_mention(read_hit(_load("inkwell_page0.json")["hits"][2])) is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ([], "not a JSON object"),
        ({"created_at_i": 1}, "no objectID"),
        ({"objectID": "1", "created_at_i": "yesterday"}, "no valid created_at_i"),
        ({"objectID": "1"}, "no valid created_at_i"),
    ],
)
def test_malformed_hits_say_why(raw: Any, reason: str) -> None:
    with pytest.raises(HitError, match=reason):
        read_hit(raw)


def test_watermark_filters_by_floor_and_seen_ids_and_advances() -> None:
    mark = Watermark(100, {"a": 100})
    hits = [Hit("a", 100, {}), Hit("b", 100, {}), Hit("c", 99, {}), Hit("d", 101, {})]
    assert [h.object_id for h in hits if mark.is_new(h)] == ["b", "d"]
    assert mark.advance([hits[1]]) == Watermark(100, {"a": 100, "b": 100})
    later = Hit("e", 100 + LOOKBACK_SECONDS + 5, {})
    # the floor follows the newest hit at a look-back's distance; older ids are dropped
    assert mark.advance([hits[3], later]) == Watermark(105, {"e": later.created})
    assert mark.advance([]) is mark
    assert Watermark().is_fresh
    assert Watermark().is_new(hits[2])


def test_watermark_seen_set_is_bounded() -> None:
    hits = [Hit(str(n), 1000 + n, {}) for n in range(MAX_SEEN + 50)]
    mark = Watermark().advance(hits)
    assert len(mark.seen) == MAX_SEEN
    assert mark.floor == 1050
    assert not mark.is_new(Hit("late", 1049, {}))


def test_watermark_reads_the_state_before_the_look_back() -> None:
    legacy = Watermark.from_state({"t": 5, "ids": ["x"]})
    assert legacy == Watermark(5, {"x": 5})
    assert Watermark.from_state({"t": 0, "ids": []}).is_fresh
    assert Watermark.from_state({"floor": "soon"}).is_fresh
    assert Watermark.from_state(None).is_fresh


def test_cursor_round_trip_and_params() -> None:
    marks = {"brand:Inkwell": Watermark(5, {"x": 7})}
    cursor = Cursor.from_json(cursor_for(marks).to_json())
    assert watermarks_from(cursor) == marks
    assert watermarks_from(None) == {}
    params = search_params(Query(QueryKind.BRAND, "ink well"), marks["brand:Inkwell"], 50, 2)
    assert params["query"] == '"ink well"'
    assert params["numericFilters"] == "created_at_i>=5"
    assert "numericFilters" not in search_params(Query(QueryKind.BRAND, "a"), Watermark(), 5, 0)


def test_malformed_hit_on_a_later_run_is_quarantined_not_fatal(algolia: FakeAlgolia) -> None:
    web = _web(algolia)
    pages = fetch_all(_builder(web, lambda _s: None))
    algolia.add_hit("Inkwell", {"objectID": "41000012", "author": "x", "created_at_i": "soon"})
    again = fetch_all(_builder(web, lambda _s: None), pages[-1].cursor)
    assert mentions_of(again) == []
    assert [(q.locator, q.source) for page in again for q in page.quarantined] == [
        ("41000012", "hackernews")
    ]
    third = fetch_all(_builder(web, lambda _s: None), again[-1].cursor)
    assert [q for page in third for q in page.quarantined] == []


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"author": "   "}, "invalid author"),
        ({"author": ["x"]}, "invalid author"),
        ({"_tags": "comment"}, "_tags that are not a list"),
    ],
)
def test_a_hit_that_cannot_become_a_mention_is_quarantined_once(
    algolia: FakeAlgolia, fields: dict[str, Any], reason: str
) -> None:
    web = _web(algolia)
    algolia.add_hit("Inkwell", {**_comment("41000040", 1793614150), **fields})
    pages = fetch_all(_builder(web, lambda _s: None))
    assert [(q.locator, reason in q.reason) for p in pages for q in p.quarantined] == [
        ("41000040", True)
    ]
    assert {m.source_id for m in mentions_of(pages)} == EXPECTED
    again = fetch_all(_builder(web, lambda _s: None), pages[-1].cursor)
    assert [q for page in again for q in page.quarantined] == []


@pytest.mark.parametrize(
    ("created", "reason"),
    [
        (10**12, "no valid created_at_i"),  # passes a type check, fails datetime conversion
        (10**20, "no valid created_at_i"),
        (-5, "no valid created_at_i"),
        (int(NOW) + 7 * 86400, "in the future"),  # would lift the floor past every real hit
    ],
)
def test_a_hit_with_an_impossible_time_is_quarantined_and_blocks_nothing(
    algolia: FakeAlgolia, created: int, reason: str
) -> None:
    web = _web(algolia)
    algolia.add_hit("Inkwell", _comment("41000041", created))
    pages = fetch_all(_builder(web, lambda _s: None))
    (reject,) = [q for page in pages for q in page.quarantined]
    assert (reject.locator, reason in reject.reason) == ("41000041", True)
    assert {m.source_id for m in mentions_of(pages)} == EXPECTED
    algolia.add_hit("Inkwell", _comment("41000042", 1793614950))
    again = fetch_all(_builder(web, lambda _s: None), pages[-1].cursor)
    assert [m.source_id for m in mentions_of(again)] == ["41000042"]
    # the search still returns it (no floor passes it), but it was quarantined already
    assert [q for page in again for q in page.quarantined] == []
    third = fetch_all(_builder(web, lambda _s: None), again[-1].cursor)
    assert (mentions_of(third), [q for page in third for q in page.quarantined]) == ([], [])


def test_a_hit_without_an_object_id_is_quarantined_once_though_its_votes_change(
    algolia: FakeAlgolia,
) -> None:
    web = _web(algolia)
    nameless = {k: v for k, v in _comment("x", 1793614150).items() if k != "objectID"}
    algolia.add_hit("Inkwell", {**nameless, "points": 1})
    algolia.add_hit("Quillpad", {**nameless, "points": 1})  # found by two terms: one record
    pages = fetch_all(_builder(web, lambda _s: None))
    (reject,) = [q for page in pages for q in page.quarantined]
    assert "no objectID" in reject.reason
    for hits in (algolia.pages["Inkwell"][0]["hits"], algolia.pages["Quillpad"][0]["hits"]):
        for hit in hits:
            if "objectID" not in hit:
                hit["points"] = 7
    again = fetch_all(_builder(web, lambda _s: None), pages[-1].cursor)
    assert [q for page in again for q in page.quarantined] == []


def test_the_rejected_set_is_bounded_and_keeps_what_the_search_still_returns() -> None:
    keys = [f"k{n}" for n in range(MAX_REJECTED + 10)]
    mark = Watermark(5).reject(keys)
    assert mark.rejected == tuple(keys[-MAX_REJECTED:])
    assert mark.reject(keys[-3:]) is mark  # all known: the cursor does not change
    again = mark.reject([keys[-MAX_REJECTED], "new"])
    assert again.rejected[-2:] == (keys[-MAX_REJECTED], "new")
    assert len(again.rejected) == MAX_REJECTED
    assert Watermark.from_state(again.to_state()) == again
    assert again.advance([Hit("a", 100, {})]).rejected == again.rejected
    assert "rejected" not in Watermark(5).to_state()


def test_a_hit_the_mention_refuses_is_quarantined_once(
    algolia: FakeAlgolia, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refusing(**fields: Any) -> Mention:
        if len(fields["source_id"]) > 255:
            raise ValueError("mention source_id must be at most 255 characters")
        return Mention(**fields)

    monkeypatch.setattr("collectors.hackernews.parse.Mention", refusing)
    web = _web(algolia)
    algolia.add_hit("Inkwell", _comment("4" * 300, 1793614150))
    pages = fetch_all(_builder(web, lambda _s: None))
    (reject,) = [q for page in pages for q in page.quarantined]
    assert "at most 255" in reject.reason
    assert {m.source_id for m in mentions_of(pages)} == EXPECTED
    again = fetch_all(_builder(web, lambda _s: None), pages[-1].cursor)
    assert (mentions_of(again), [q for page in again for q in page.quarantined]) == ([], [])


def test_read_hit_refuses_times_a_datetime_cannot_hold() -> None:
    with pytest.raises(HitError, match="no valid created_at_i"):
        read_hit({"objectID": "1", "created_at_i": 10**12})
    with pytest.raises(HitError, match="in the future"):
        read_hit({"objectID": "1", "created_at_i": 2_000_000_000}, now=1_900_000_000)
    assert read_hit({"objectID": "1", "created_at_i": 1_900_000_000}, now=1_900_000_000)


def test_long_authors_and_labels_are_cut_to_the_database_columns() -> None:
    hit = read_hit(_comment("41000050", 1793614150, author="a" * 1000))
    mention = hit_to_mention(hit, "keyword:" + "k" * 300)
    assert mention is not None
    assert len(mention.author.handle) == 255
    assert mention.author.key == mention.author.handle
    other = hit_to_mention(read_hit(_comment("41000051", 1793614150, author="a" * 999 + "b")))
    assert other is not None
    assert other.author.handle != mention.author.handle  # still one identity per author
    assert mention.matched_query is not None
    assert len(mention.matched_query) == 255
    assert mention.matched_query.startswith("keyword:kkk")
