"""Reddit parsing and cursor arithmetic, pure: no praw, no network."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from collectors.queries import Query, QueryKind, Watch
from collectors.reddit.cursor import (
    StreamState,
    advance,
    is_behind,
    read_states,
    select_new,
    write_states,
)
from collectors.reddit.parse import (
    ItemError,
    flatten,
    inbox_query,
    is_gone,
    parse_item,
    to_plain,
)
from collectors.reddit.responder import find_posted
from socialcrm.mention import Cursor
from socialcrm.settings import WatchSettings

WATCH = Watch.from_settings(
    WatchSettings(brand=["Inkwell"], competitors=["Quillpad"], exclude=["giveaway"]), None
)
SUB = Query(QueryKind.SUBREDDIT, "notes")
POST: dict[str, Any] = {
    "name": "t3_p1",
    "author": "ada",
    "author_fullname": "t2_a",
    "created_utc": 1793613600.0,
    "edited": False,
    "title": "Switching notes app",
    "selftext": "Thinking about Quillpad.",
    "permalink": "/r/notes/comments/p1/switching/",
    "subreddit": "notes",
}
COMMENT: dict[str, Any] = {
    "name": "t1_c1",
    "author": "bob",
    "created_utc": 1793613700,
    "edited": 1793613760.5,
    "body": "Inkwell does that",
    "link_id": "t3_p1",
    "parent_id": "t1_c0",
}


def test_a_submission_is_title_and_selftext_and_the_term_in_it_wins() -> None:
    mention = parse_item(POST, SUB, WATCH)
    assert mention is not None
    assert mention.text == "Switching notes app\n\nThinking about Quillpad."
    assert (mention.matched_query, mention.title) == ("competitor:Quillpad", "Switching notes app")
    assert (mention.thread_id, mention.parent_id, mention.edited_at) == ("t3_p1", None, None)
    assert mention.url == "https://www.reddit.com/r/notes/comments/p1/switching/"
    assert mention.author.url == "https://www.reddit.com/user/ada/"
    assert dict(mention.extra) == {"subreddit": "notes"}


def test_a_comment_keeps_thread_parent_and_edit_time() -> None:
    mention = parse_item(COMMENT, SUB, WATCH)
    assert mention is not None
    assert (mention.thread_id, mention.parent_id) == ("t3_p1", "t1_c0")
    assert mention.edited_at == datetime(2026, 11, 2, 10, 2, 40, 500000, tzinfo=UTC)
    assert mention.url == "https://www.reddit.com/comments/p1/_/c1/"
    assert mention.matched_query == "brand:Inkwell"


def test_a_comment_without_a_term_is_labelled_by_its_stream() -> None:
    mention = parse_item({**COMMENT, "body": "same here"}, SUB, WATCH)
    assert mention is not None
    assert mention.matched_query == "subreddit:notes"


@pytest.mark.parametrize(
    "change",
    [
        {"author": None},
        {"author": "[deleted]", "body": "[deleted]"},
        {"body": "[removed]"},
        {"removed_by_category": "moderator"},
    ],
)
def test_deleted_and_removed_items_are_skipped(change: dict[str, Any]) -> None:
    assert is_gone({**COMMENT, **change})
    assert parse_item({**COMMENT, **change}, SUB, WATCH) is None


def test_an_exclusion_drops_the_item() -> None:
    assert parse_item({**COMMENT, "body": "Inkwell giveaway!"}, SUB, WATCH) is None


def test_a_crosspost_becomes_its_original() -> None:
    crosspost = {
        **POST,
        "name": "t3_x9",
        "author": "reposter",
        "crosspost_parent": "t3_p1",
        "crosspost_original": POST,
    }
    mentions = [parse_item(item, SUB, WATCH) for item in (crosspost, POST)]
    assert {m.key for m in mentions if m} == {("reddit", "t3_p1")}
    assert mentions[0] == mentions[1]
    bare = parse_item({**crosspost, "crosspost_original": None}, SUB, WATCH)
    assert bare is not None
    assert (bare.source_id, bare.thread_id, bare.author.handle) == ("t3_p1", "t3_p1", "reposter")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"created_utc": None}, "created_utc None is not epoch seconds"),
        ({"created_utc": "yesterday"}, "is not epoch seconds"),
        ({"name": None}, "name is missing"),
        ({"name": "t5_m1"}, "not a comment"),
        ({"body": ""}, "body is missing"),
        ({"author": 7}, "author is missing or not a string"),
        ({"created_utc": 1e20}, "created_utc 1e\\+20 is not epoch seconds"),
        ({"created_utc": float("nan")}, "created_utc nan is not epoch seconds"),
    ],
)
def test_malformed_items_say_why(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(ItemError, match=reason):
        parse_item({**COMMENT, **change}, SUB, WATCH)


def test_inbox_items_find_their_thread_and_url_in_the_context() -> None:
    item = {
        **COMMENT,
        "link_id": None,
        "context": "/r/notes/comments/p7/title/c1/?context=3",
    }
    del item["link_id"]
    mention = parse_item(item, SUB, WATCH)
    assert mention is not None
    assert mention.thread_id == "t3_p7"
    assert mention.url == "https://www.reddit.com/r/notes/comments/p7/title/c1/"


def test_to_plain_keeps_only_the_needed_fields_as_json_values() -> None:
    class Named:
        def __str__(self) -> str:
            return "ada"

    class Thing:
        def __init__(self) -> None:
            self.name = "t1_c1"
            self.author = Named()
            self.ups = 12
            self._reddit = object()

    assert to_plain(Thing()) == {"name": "t1_c1", "author": "ada"}


def _item(name: str, created: float) -> dict[str, Any]:
    return {"name": name, "created_utc": created}


def test_the_watermark_drops_seen_and_old_items_and_orders_the_rest() -> None:
    state = StreamState(newest=1000.0, seen=("t1_b", "t1_a"))
    items = [_item("t1_d", 1003), _item("t1_b", 1000), _item("t1_c", 950), _item("t1_z", 800)]
    assert [i["name"] for i in select_new(items, state, lookback=100)] == ["t1_c", "t1_d"]
    assert is_behind(_item("t1_z", 800), state, 100)
    assert not is_behind(_item("t1_c", 950), state, 100)
    assert [i["name"] for i in select_new(items, StreamState(), 0)] == [
        "t1_z",
        "t1_c",
        "t1_b",
        "t1_d",
    ]


def test_advance_moves_the_watermark_and_bounds_the_seen_set() -> None:
    state = StreamState(newest=1000.0, seen=("t1_b", "t1_a"))
    after = advance(state, [_item("t1_c", 990), _item("t1_d", 1003)], keep=3)
    assert after == StreamState(1003.0, ("t1_d", "t1_c", "t1_b"))
    assert advance(after, [], keep=3) == after
    assert select_new([_item("t1_d", 1003), _item("t1_c", 990)], after, 3600) == []


def test_states_survive_the_cursor_and_garbage_starts_afresh() -> None:
    states = {"mentions": StreamState(5.0, ("t1_a",)), "new:x": StreamState()}
    cursor = Cursor.from_json(write_states(states).to_json())
    assert read_states(cursor) == states
    assert read_states(Cursor({"streams": {"a": "junk"}})) == {"a": StreamState()}
    assert read_states(None) == {}


def test_an_identical_reply_to_the_same_parent_is_found() -> None:
    ours = [
        {"name": "t1_r1", "parent_id": "t1_c1", "body": "Thanks!", "link_id": "t3_p1"},
        {"name": "t1_r2", "parent_id": "t1_c2", "body": "Glad  it\nhelps", "link_id": "t3_p1"},
    ]
    found = find_posted(ours, "t1_c2", "Glad it helps")
    assert found is not None
    assert (found.reply_id, found.url) == ("t1_r2", "https://www.reddit.com/comments/p1/_/r2/")
    assert find_posted(ours, "t1_c1", "Thanks! See you") is None
    assert find_posted(ours, "t1_c3", "Thanks!") is None


@pytest.mark.parametrize(
    ("item", "label"),
    [
        ({"name": "t4_m1", "type": "unknown", "was_comment": False}, "account:messages"),
        ({"name": "t1_c1", "type": "username_mention", "was_comment": True}, "account:mentions"),
        ({"name": "t1_c1", "subject": "username mention"}, "account:mentions"),
        ({"name": "t1_c1", "type": "comment_reply", "was_comment": True}, "account:replies"),
        ({"name": "t1_c1", "type": "post_reply", "was_comment": True}, "account:replies"),
    ],
)
def test_an_inbox_item_says_what_it_is_to_the_account(item: dict[str, Any], label: str) -> None:
    assert inbox_query(item).label == label


def test_a_message_thread_flattens_to_its_root_and_follow_ups() -> None:
    def message(name: str, replies: Any = "") -> dict[str, Any]:
        return {"name": name, "created_utc": 1.0, "replies": replies}

    nested = {"kind": "Listing", "data": {"children": [{"kind": "t4", "data": message("t4_b")}]}}
    assert [i["name"] for i in flatten(message("t4_a", nested))] == ["t4_a", "t4_b"]
    assert [i["name"] for i in flatten(message("t4_a"))] == ["t4_a"]
    assert [i["name"] for i in flatten({**COMMENT, "replies": nested})] == ["t1_c1"]
