"""Hacker News collector: contract, Algolia paging, watermarks, dedupe, parsing without I/O."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collectors.base import RateLimitedError, SourceConfigError
from collectors.hackernews import HackerNewsCollector, build
from collectors.hackernews.parse import (
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
from socialcrm.mention import Cursor
from socialcrm.settings import Settings
from tests.collectors.contract import CollectorContract, Harness, fetch_all, mentions_of
from tests.collectors.fakeweb import FakeWeb, Reply, Request

FIXTURES = Path(__file__).parent / "fixtures" / "hackernews"
SEARCH = "/api/v1/search_by_date"
EXPECTED = {"41000001", "41000002", "41000004", "41000005", "41000006"}


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
        """Put `hit` at the top of the first page of `query` (the newest)."""
        self.pages[query][0]["hits"].insert(0, hit)


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
    return build(_settings(**kw), transport=web.transport(), sleep=sleep)


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

        harness = Harness(web, collector, break_one_item, EXPECTED)
        return harness


@pytest.fixture
def algolia() -> FakeAlgolia:
    return FakeAlgolia()


def test_pages_through_nb_pages_and_yields_oldest_first_in_covered_pages(
    algolia: FakeAlgolia,
) -> None:
    web = _web(algolia)
    pages = fetch_all(_builder(web, lambda _s: None))
    inkwell_pages = [int(r.params["page"]) for r in web.calls(SEARCH) if "Inkwell" in r.url]
    assert inkwell_pages == [0, 1]
    # chunks of `limit` hits; the deleted 41000003 is skipped but still covered by the cursor
    assert [[m.source_id for m in page.mentions] for page in pages] == [
        ["41000001", "41000002"],
        ["41000004", "41000005", "41000006"],
    ]
    first = watermarks_from(pages[0].cursor)
    assert first["brand:Inkwell"] == Watermark(1793613900, frozenset({"41000003"}))
    assert first["competitor:Quillpad"] == Watermark()
    last = watermarks_from(pages[-1].cursor)
    assert last["competitor:Quillpad"].second == 1793614200


def test_item_found_by_two_terms_is_one_mention_labelled_by_its_text(
    algolia: FakeAlgolia,
) -> None:
    mentions = mentions_of(fetch_all(_builder(_web(algolia), lambda _s: None)))
    both = [m for m in mentions if m.source_id == "41000004"]
    assert len(both) == 1
    assert both[0].matched_query == "brand:Inkwell"
    labels = {m.source_id: m.matched_query for m in mentions}
    assert labels["41000006"] == "competitor:Quillpad"


def test_second_run_with_overlapping_results_yields_only_newer_hits(
    algolia: FakeAlgolia,
) -> None:
    web = _web(algolia)
    pages = fetch_all(_builder(web, lambda _s: None))
    algolia.add_hit(
        "Inkwell",
        {
            "_tags": ["comment"],
            "objectID": "41000010",
            "author": "late",
            "comment_text": "Inkwell 3 is out",
            "created_at_i": 1793614900,
            "story_id": 41000001,
            "parent_id": 41000005,
        },
    )
    web.requests.clear()
    again = fetch_all(_builder(web, lambda _s: None), pages[-1].cursor)
    assert [m.source_id for m in mentions_of(again)] == ["41000010"]
    filters = {r.params.get("numericFilters") for r in web.calls(SEARCH)}
    assert filters == {"created_at_i>=1793614100", "created_at_i>=1793614200"}  # per term
    # the first page already holds hits older than the watermark: no second page is asked for
    assert all(r.params["page"] == "0" for r in web.calls(SEARCH))


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
    assert watermarks_from(pages[-1].cursor)["brand:Inkwell"].second == 1793615000


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


def test_watermark_filters_and_advances() -> None:
    mark = Watermark(100, frozenset({"a"}))
    hits = [Hit("a", 100, {}), Hit("b", 100, {}), Hit("c", 99, {}), Hit("d", 101, {})]
    assert [h.object_id for h in hits if mark.is_new(h)] == ["b", "d"]
    assert mark.advance([hits[1]]) == Watermark(100, frozenset({"a", "b"}))
    assert mark.advance([hits[1], hits[3]]) == Watermark(101, frozenset({"d"}))
    assert mark.advance([]) is mark


def test_cursor_round_trip_and_params() -> None:
    marks = {"brand:Inkwell": Watermark(5, frozenset({"x"}))}
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
