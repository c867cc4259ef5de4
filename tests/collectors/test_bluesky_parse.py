"""Bluesky pure logic: views to mentions, TIDs, watermarks, paging stops, reply refs."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collectors.bluesky.collector import Stream, item_key, walk
from collectors.bluesky.parse import (
    invalid_reason,
    is_wanted_notification,
    parse_datetime,
    reply_refs,
    sort_time,
    thread_context,
    to_mention,
)
from collectors.bluesky.tid import decode_tid, derive_rkey, encode_tid, is_tid
from collectors.bluesky.watermark import LOOKBACK_MS, MAX_SEEN, Watermark
from collectors.queries import Query, QueryKind

FIXTURES = Path(__file__).parent / "fixtures" / "bluesky"
POSTS: list[dict[str, Any]] = json.loads((FIXTURES / "search_posts.json").read_text())["posts"]
REPLY, ROOT = POSTS
NOTES = json.loads((FIXTURES / "notifications.json").read_text())["notifications"]


# -- views to mentions -------------------------------------------------------------------


def test_a_reply_view_becomes_a_mention_in_its_thread() -> None:
    mention = to_mention(REPLY, "brand:Inkwell")
    assert mention.source_id == REPLY["uri"]
    assert mention.text == "Same here, Inkwell sync has been flaky since Monday"
    assert mention.created_at == datetime(2026, 11, 2, 10, 5, tzinfo=UTC)
    assert mention.author.display_name is None
    assert mention.author.url == "https://bsky.app/profile/ben.example.com"
    assert mention.author.followers is None
    assert mention.thread_id == mention.parent_id == ROOT["uri"]
    assert mention.extra == {
        "cid": REPLY["cid"],
        "root": {"uri": ROOT["uri"], "cid": ROOT["cid"]},
    }


def test_a_handle_that_no_longer_resolves_links_by_did() -> None:
    view = copy.deepcopy(ROOT)
    view["author"]["handle"] = "handle.invalid"
    mention = to_mention(view, None)
    assert mention.url == (
        "https://bsky.app/profile/did:plc:writer1111111111111111111/post/3m7root11111a"
    )


def test_created_at_falls_back_to_indexed_at() -> None:
    view = copy.deepcopy(ROOT)
    view["record"]["createdAt"] = "not a date"
    assert invalid_reason(view) is None
    assert to_mention(view, None).created_at == datetime(2026, 11, 2, 10, 0, 0, 731000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-02T10:00:00Z", datetime(2026, 11, 2, 10, tzinfo=UTC)),
        ("2026-11-02T12:00:00.123456789+02:00", datetime(2026, 11, 2, 10, 0, 0, 123456, UTC)),
        ("2026-11-02T10:00:00", datetime(2026, 11, 2, 10, tzinfo=UTC)),
        ("yesterday", None),
        (1793613600, None),
    ],
)
def test_datetimes_are_read_as_utc(value: object, expected: datetime | None) -> None:
    assert parse_datetime(value) == expected


def test_search_order_uses_the_earlier_of_created_and_indexed() -> None:
    view = copy.deepcopy(ROOT)
    view["record"]["createdAt"] = "2030-01-01T00:00:00Z"  # a post dated in the future
    assert sort_time(view) == datetime(2026, 11, 2, 10, 0, 0, 731000, tzinfo=UTC)


def _without(path: tuple[str, ...]) -> dict[str, Any]:
    view = copy.deepcopy(ROOT)
    target = view
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return view


@pytest.mark.parametrize(
    ("view", "reason"),
    [
        (_without(("uri",)), "uri"),
        (_without(("cid",)), "cid"),
        (_without(("author",)), "author"),
        (_without(("author", "did")), "author did"),
        (_without(("record", "text")), "text"),
        ({**_without(("indexedAt",)), "record": {"text": "x", "createdAt": "soon"}}, "createdAt"),
        ({**ROOT, "uri": "https://bsky.app/x"}, "uri"),
        ("a string", "JSON object"),
    ],
)
def test_malformed_views_say_why(view: Any, reason: str) -> None:
    found = invalid_reason(view)
    assert found is not None
    assert reason in found


def test_only_mentions_replies_and_quotes_are_wanted() -> None:
    assert [n["reason"] for n in NOTES if is_wanted_notification(n)] == ["reply", "mention"]
    assert is_wanted_notification({"reason": "quote"})
    assert not is_wanted_notification({"reason": "repost"})
    assert not is_wanted_notification(None)


# -- replies and threads -----------------------------------------------------------------


def test_a_reply_to_a_top_level_post_uses_it_as_root_and_parent() -> None:
    mention = to_mention(ROOT, None)
    ref = {"uri": ROOT["uri"], "cid": ROOT["cid"]}
    assert reply_refs(mention) == {"root": ref, "parent": ref}


def test_a_reply_to_a_reply_keeps_the_threads_root() -> None:
    refs = reply_refs(to_mention(REPLY, None))
    assert refs["root"]["uri"] == ROOT["uri"]
    assert refs["parent"] == {"uri": REPLY["uri"], "cid": REPLY["cid"]}


def test_thread_context_lists_parents_oldest_first() -> None:
    thread = {
        "$type": "app.bsky.feed.defs#threadViewPost",
        "post": {**REPLY, "uri": REPLY["uri"].replace("2222a", "2222b")},
        "parent": {"post": REPLY, "parent": {"post": ROOT}},
    }
    context = thread_context(thread)
    assert [m.source_id for m in context.parents] == [ROOT["uri"], REPLY["uri"]]
    assert context.root is not None
    assert context.root.source_id == ROOT["uri"]


def test_a_truncated_thread_has_no_root() -> None:
    context = thread_context({"post": ROOT, "parent": {"post": REPLY}})
    assert [m.source_id for m in context.parents] == [REPLY["uri"]]
    assert context.root is None


# -- TIDs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rkey", "created"),
    [
        ("3n35mo6mrks23", datetime(2026, 11, 25, 16, 52, 50, 609988, tzinfo=UTC)),
        ("3n35mo7svc223", datetime(2026, 11, 25, 16, 52, 51, 869330, tzinfo=UTC)),
    ],
)
def test_recorded_record_keys_decode_to_their_posting_time(rkey: str, created: datetime) -> None:
    moment, _clock = decode_tid(rkey)
    assert abs((moment - created).total_seconds()) < 0.1


def test_tids_round_trip_and_sort_by_time() -> None:
    early, late = encode_tid(1_700_000_000_000_000, 5), encode_tid(1_700_000_000_000_001, 0)
    assert is_tid(early)
    assert is_tid(late)
    assert early < late
    assert decode_tid(early)[1] == 5
    with pytest.raises(ValueError, match="out of range"):
        encode_tid(2**53, 0)


def test_derived_rkeys_are_valid_deterministic_and_distinct() -> None:
    anchor = datetime(2026, 11, 2, 10, 5, 30, 999999, tzinfo=UTC)
    first = derive_rkey("task-1:reply", anchor)
    assert is_tid(first)
    assert first == derive_rkey("task-1:reply", anchor)
    assert first != derive_rkey("task-2:reply", anchor)
    assert decode_tid(first)[0].replace(microsecond=0) == anchor.replace(microsecond=0)
    assert len({derive_rkey(f"k{n}", anchor) for n in range(1000)}) == 1000


@pytest.mark.parametrize("bad", ["3n35mo6mrks2", "kn35mo6mrks23", "3n35mo6mrks21", "3N35MO6MRKS23"])
def test_tid_syntax_is_checked(bad: str) -> None:
    assert not is_tid(bad)


# -- watermarks and paging ---------------------------------------------------------------

T0 = 1_793_613_600_000


def test_a_watermark_filters_what_was_taken_and_keeps_late_arrivals() -> None:
    mark = Watermark().advance([("a", T0), ("b", T0 + 1000)])
    assert mark.floor == T0 + 1000 - LOOKBACK_MS
    assert not mark.is_new("a", T0)
    assert not mark.is_new("b", T0 + 1000)
    # indexed late: older than the newest taken, but within the look-back window
    assert mark.is_new("late", T0 + 500)
    assert not mark.is_new("ancient", T0 - LOOKBACK_MS)
    assert mark.is_below(T0 - LOOKBACK_MS)
    assert Watermark.from_state(json.loads(json.dumps(mark.to_state()))) == mark


def test_a_watermark_stays_bounded() -> None:
    mark = Watermark().advance((f"k{n}", T0 + n) for n in range(MAX_SEEN + 50))
    assert len(mark.seen) == MAX_SEEN
    assert mark.floor == T0 + 50
    assert not mark.is_new("k49", T0 + 49)
    assert not mark.is_new("k50", T0 + 50)


def test_unreadable_state_starts_afresh() -> None:
    assert Watermark.from_state({"floor": "x"}).is_fresh
    assert Watermark.from_state(None).is_fresh


def _stream(pages: dict[str | None, tuple[list[dict[str, Any]], str | None]], size: int) -> Any:
    asked: list[str | None] = []

    def fetch(cursor: str | None) -> tuple[list[Any], str | None]:
        asked.append(cursor)
        return pages.get(cursor, ([], None))  # an unknown cursor: the end of the listing

    def at(item: Any) -> datetime:
        return datetime.fromtimestamp(item["t"] / 1000, UTC)

    return Stream(Query(QueryKind.BRAND, "x"), fetch, at, size), asked


def _items(*times: int) -> list[dict[str, Any]]:
    return [{"uri": f"at://did:plc:x/app.bsky.feed.post/{t}", "t": t} for t in times]


def _taken(items: list[dict[str, Any]]) -> Watermark:
    return Watermark().advance((item_key(item), item["t"]) for item in items)


def test_walk_pages_back_to_what_the_last_run_took() -> None:
    old = _items(T0 + 2000, T0 + 1000)
    pages = {
        None: (_items(T0 + 9000, T0 + 8000), "p2"),
        "p2": (_items(T0 + 7000) + old[:1], "p3"),
        # a taken item and a late arrival (indexed after the last run, dated before it)
        "p3": (old[1:] + _items(T0 + 500), "p4"),
    }
    stream, asked = _stream(pages, 2)
    taken = walk(stream, _taken(old))
    assert [i["t"] for i in taken] == [T0 + 9000, T0 + 8000, T0 + 7000, T0 + 500]
    assert asked == [None, "p2", "p3", "p4"]


def test_walk_stops_at_a_page_with_nothing_new() -> None:
    old = _items(T0 + 2000, T0 + 1000, T0 + 800)
    pages = {
        None: (_items(T0 + 3000) + old[:1], "p2"),
        "p2": (old[1:], "p3"),
        "p3": (_items(T0 + 700, T0 + 600), "p4"),
    }
    stream, asked = _stream(pages, 2)
    assert [i["t"] for i in walk(stream, _taken(old))] == [T0 + 3000]
    assert asked == [None, "p2"]


def test_walk_takes_one_page_on_a_first_run() -> None:
    stream, asked = _stream({None: (_items(T0 + 2, T0 + 1), "more")}, 2)
    assert len(walk(stream, Watermark())) == 2
    assert asked == [None]


def test_walk_stops_below_the_floor() -> None:
    mark = Watermark(floor=T0, seen={})
    below = _items(T0 + 5, T0 - 5)
    stream, asked = _stream({None: (below, "more"), "more": (_items(T0 - 9), None)}, 2)
    assert [i["t"] for i in walk(stream, mark)] == [T0 + 5]
    assert asked == [None]


# -- hostile dates -----------------------------------------------------------------------

HOSTILE_DATES = [
    "0001-01-01T00:30:00+01:00",  # converting to UTC overflows
    "9999-12-31T23:30:00-01:00",
    "1969-12-31T23:59:59Z",
    "2300-01-01T00:00:00Z",
]


@pytest.mark.parametrize("value", HOSTILE_DATES)
def test_out_of_range_datetimes_are_unparseable(value: str) -> None:
    assert parse_datetime(value) is None


@pytest.mark.parametrize("value", HOSTILE_DATES)
def test_a_hostile_created_at_falls_back_to_indexed_at(value: str) -> None:
    view = copy.deepcopy(ROOT)
    view["record"]["createdAt"] = value
    indexed = datetime(2026, 11, 2, 10, 0, 0, 731000, tzinfo=UTC)
    assert invalid_reason(view) is None
    assert sort_time(view) == indexed
    assert to_mention(view, None).created_at == indexed


def test_a_post_without_any_usable_date_is_invalid() -> None:
    view = copy.deepcopy(ROOT)
    view["record"]["createdAt"] = HOSTILE_DATES[0]
    view["indexedAt"] = HOSTILE_DATES[1]
    assert sort_time(view) is None
    assert invalid_reason(view) == "missing or malformed createdAt"


def test_walk_takes_items_with_hostile_dates() -> None:
    view = copy.deepcopy(ROOT)
    view["record"]["createdAt"] = HOSTILE_DATES[0]
    undated = {**copy.deepcopy(REPLY), "indexedAt": HOSTILE_DATES[1]}
    undated["record"]["createdAt"] = HOSTILE_DATES[1]
    stream = Stream(Query(QueryKind.BRAND, "x"), lambda _c: ([undated, view], None), sort_time, 25)
    mark = Watermark().advance([("other", T0)])
    assert walk(stream, mark) == [undated, view]


@pytest.mark.parametrize(
    ("anchor", "year"),
    [
        (datetime(1, 1, 1, 0, 30, tzinfo=UTC), 2023),
        (datetime(1969, 12, 31, tzinfo=UTC), 2023),
        (datetime(9999, 12, 31, 23, 59, tzinfo=UTC), 2200),
    ],
)
def test_derived_rkeys_are_valid_for_any_anchor(anchor: datetime, year: int) -> None:
    rkey = derive_rkey("task-1:reply", anchor)
    assert is_tid(rkey)
    assert rkey == derive_rkey("task-1:reply", anchor)
    assert rkey != derive_rkey("task-2:reply", anchor)
    assert decode_tid(rkey)[0].year == year
