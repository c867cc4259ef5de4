"""Reddit through the real praw/prawcore code paths, replaying traffic recorded by praw's tests.

The cassettes (vcrpy JSON) are read in place from ../shared/peers/reddit and served by a
`requests` adapter handed to praw, so praw builds every request and parses every response
itself. Requests match on method, URL and query (order-free); token requests on the URL only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from collectors.queries import Query, QueryKind, Watch
from collectors.reddit import RedditCollector, RedditConfig, RedditResponder
from collectors.reddit.collector import Stream, plan_streams
from socialcrm.mention import Author, Cursor, Mention
from socialcrm.settings import WatchSettings
from tests.collectors.contract import fetch_all, mentions_of
from tests.peers import peer_file

CONFIG = RedditConfig("<USER_AGENT>", "<CLIENT_ID>", "<CLIENT_SECRET>", "<USERNAME>", "<PASSWORD>")
READ_ONLY = RedditConfig("<USER_AGENT>", "<CLIENT_ID>", "<CLIENT_SECRET>")
WATCH = Watch.from_settings(WatchSettings(brand=["PRAW"], competitors=["Quillpad"]), None)


def _key(method: str, url: str, ignore: frozenset[str]) -> tuple[str, str, tuple[Any, ...]]:
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}{unquote(parts.path)}"
    if base.endswith("/api/v1/access_token"):
        return (method.upper(), base, ())
    query = sorted((k, v) for k, v in parse_qsl(parts.query) if k not in ignore)
    return (method.upper(), base, tuple(query))


@dataclass
class Replay(BaseAdapter):
    """Serves recorded interactions (repeatable); records what praw sent and what had no match."""

    recorded: dict[tuple[str, str, tuple[Any, ...]], dict[str, Any]] = field(default_factory=dict)
    ignore: frozenset[str] = frozenset()
    sent: list[requests.PreparedRequest] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    @classmethod
    def of(cls, names: Iterable[str], ignore: Iterable[str] = ()) -> Replay:
        """The interactions of the cassettes `names` (files under peers/reddit)."""
        replay = cls(ignore=frozenset(ignore))
        for name in names:
            cassette = json.loads(peer_file("reddit", name).read_text(encoding="utf-8"))
            for interaction in cassette["interactions"]:
                request = interaction["request"]
                key = _key(request["method"], request["uri"], replay.ignore)
                replay.recorded[key] = interaction["response"]
        return replay

    def add(self, method: str, url: str, body: Any) -> None:
        """A response the cassettes lack, written by the test (and named as such there)."""
        self.recorded[_key(method, url, self.ignore)] = {
            "status": {"code": 200},
            "headers": {"content-type": ["application/json"]},
            "body": {"string": json.dumps(body)},
        }

    def session(self) -> requests.Session:
        """A session served by this replay."""
        session = requests.Session()
        session.mount("https://", self)
        return session

    def send(self, request: requests.PreparedRequest, **_kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.sent.append(request)
        recorded = self.recorded.get(_key(request.method or "GET", request.url or "", self.ignore))
        response = requests.Response()
        response.request = request
        response.url = request.url or ""
        response.encoding = "utf-8"
        if recorded is None:
            self.unmatched.append(f"{request.method} {request.url}")
            response.status_code = 418
            response._content = b"{}"
            return response
        response.status_code = recorded["status"]["code"]
        response._content = recorded["body"]["string"].encode()
        # the recorded Content-Length no longer matches the body (tokens were shortened)
        headers = {
            k: ", ".join(v) for k, v in recorded["headers"].items() if k.lower() != "content-length"
        }
        response.headers = CaseInsensitiveDict(headers)
        return response

    def close(self) -> None:
        """Nothing to release."""

    def queries(self, path: str) -> list[dict[str, str]]:
        """The query parameters of the requests sent to `path`."""
        return [
            dict(parse_qsl(urlsplit(r.url or "").query))
            for r in self.sent
            if urlsplit(r.url or "").path == path
        ]


def _collector(
    replay: Replay, streams: list[Stream], limit: int, config: RedditConfig = CONFIG
) -> RedditCollector:
    return RedditCollector(
        config, WATCH, streams, limit=limit, session=replay.session(), sleep=lambda _s: None
    )


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_search_yields_the_recorded_results_oldest_first_once() -> None:
    # recorded with sort=relevance, syntax=cloudsearch and limit=1024; the collector asks for
    # sort=new, so those parameters are left out of matching and checked on what was sent
    replay = Replay.of(["TestSubreddit.test_search.json"], ignore={"sort", "syntax", "limit", "q"})
    term = Query(QueryKind.KEYWORD, "praw oauth search")
    stream = Stream(
        "search:all:keyword:praw oauth search", "search", term, "all", '"praw oauth search"'
    )
    pages = fetch_all(_collector(replay, [stream], limit=100, config=READ_ONLY))
    assert replay.unmatched == []
    sent = replay.queries("/r/all/search/")[0]
    assert (sent["q"], sent["sort"], sent["restrict_sr"], sent["limit"]) == (
        '"praw oauth search"',
        "new",
        "False",
        "100",
    )
    found = mentions_of(pages)
    assert [m.source_id for m in found] == [
        "t3_1qvzkd",
        "t3_3b4erh",
        "t3_3gpbiu",
        "t3_3qc02b",
        "t3_3x4kt2",
        "t3_4at068",
    ]
    first = found[0]
    assert (first.author.handle, first.title, first.created_at) == (
        "DAsSNipez",
        "Praw, opening a user page.",
        _at(1384770349),
    )
    assert first.edited_at == _at(1384771238)
    # recorded as .../praw_opening_a_user_page/?ref=search_posts
    assert (
        first.url == "https://www.reddit.com/r/redditdev/comments/1qvzkd/praw_opening_a_user_page/"
    )
    assert {m.matched_query for m in found} == {"brand:PRAW"}
    assert found[4].edited_at is None
    assert pages[-1].cursor.state["streams"][stream.key]["newest"] == 1458221634.0
    again = fetch_all(
        _collector(replay, [stream], 100, READ_ONLY), Cursor.from_json(pages[-1].cursor.to_json())
    )
    assert mentions_of(again) == []


def test_a_watched_subreddit_yields_new_submissions_and_comments() -> None:
    replay = Replay.of(
        ["TestSubredditListings.test_new.json", "TestSubredditListings.test_comments.json"]
    )
    streams = plan_streams(WATCH, [], ["askreddit"], inbox=False)
    pages = fetch_all(_collector(replay, streams, limit=100, config=READ_ONLY))
    assert replay.unmatched == []
    submissions, comments = (page.mentions for page in pages)
    assert (submissions[0].source_id, submissions[-1].source_id) == ("t3_48f6io", "t3_48fbm9")
    assert submissions[-1].title == (
        "[Serious] Parents of Reddit, what's the biggest lie about yourself you've told your kids?"
    )
    assert submissions[-1].url == (
        "https://www.reddit.com/r/AskReddit/comments/48fbm9/"
        "serious_parents_of_reddit_whats_the_biggest_lie/"
    )
    assert submissions[-1].created_at == _at(1456821458)
    assert {m.matched_query for m in submissions} == {"subreddit:askreddit"}
    reply = next(m for m in comments if m.source_id == "t1_d4y8bdn")
    assert (reply.author.handle, reply.thread_id, reply.parent_id) == (
        "LoneStarCub15",
        "t3_4r2hd3",
        "t1_d4xrzgq",
    )
    assert reply.text.startswith("Seeing Don sucker punch the UTZ actor")
    assert comments[0].source_id == "t1_d4y8a9e"
    # nothing in these recordings is deleted or removed: every item is a mention
    assert (len(submissions), len(comments)) == (100, 100)
    cursor = pages[-1].cursor
    assert cursor.state["streams"]["comments:askreddit"]["newest"] == 1467590690.0
    assert fetch_all(_collector(replay, streams, 100, READ_ONLY), cursor)[-1].mentions == ()


def test_inbox_mentions_are_collected_with_their_thread() -> None:
    # recorded from /message/mentions: the collector reads /message/inbox, which holds these
    # too, so the stream here is the single-kind one that reads what was recorded
    replay = Replay.of(["TestInbox.test_mentions.json"])
    pages = fetch_all(_collector(replay, [Stream("mentions", "mentions", None)], limit=16))
    assert replay.unmatched == []
    found = mentions_of(pages)
    assert len(found) == 16
    assert (found[0].source_id, found[-1].source_id) == ("t1_ekfncs9", "t1_ekftbox")
    last = found[-1]
    assert (last.author.handle, last.author.external_id) == ("2Botter2Loop", "t2_3efd9zdo")
    assert (last.thread_id, last.parent_id, last.created_at) == (
        "t3_bb24k7",
        "t3_bb24k7",
        _at(1554774308),
    )
    assert last.url == (
        "https://www.reddit.com/r/RemovedByBotter/comments/bb24k7/"
        "just_a_normal_girl_going_for_her_10th_class_exam/ekftbox/"
    )
    assert last.text.startswith("Hello /u/<USERNAME>,")
    assert {m.matched_query for m in found} == {"account:mentions"}
    token = replay.sent[0]
    assert "grant_type=password" in str(token.body)


def test_follow_ups_in_private_message_threads_are_collected() -> None:
    # /message/messages: each thread's follow-ups nested in its root's `replies`
    replay = Replay.of(["TestMessage.test_reply.json"])
    pages = fetch_all(_collector(replay, [Stream("messages", "messages", None)], limit=100))
    assert replay.unmatched == []
    found = {m.source_id: m for m in mentions_of(pages)}
    # the thread t4_2r1s1k2 was opened by the account; its one answer from the other side
    follow_up = found["t4_2r1sada"]
    assert (follow_up.author.handle, follow_up.author.external_id) == ("Lil_SpazBot", "t2_3ebyblla")
    assert (follow_up.text, follow_up.thread_id) == ("test message\n\ntest response", "t4_2r1s1k2")
    assert follow_up.created_at == _at(1747845326)
    assert follow_up.matched_query == "account:messages"
    # the account's own messages (the root and its three answers among them) never are
    assert "<USERNAME>" not in {m.author.handle for m in found.values()}
    assert not {"t4_2r1s1k2", "t4_2r1svss", "t4_2r1t1g8", "t4_2r1u5ed"} & set(found)
    assert len(found) == 21
    # 100 threads holding 184 messages: every one of them is remembered as seen
    assert len(pages[-1].cursor.state["streams"]["messages"]["seen"]) == 184


def test_the_inbox_is_one_flat_listing_classified_item_by_item() -> None:
    replay = Replay.of(["TestInbox.test_all.json"])
    inbox = plan_streams(WATCH, [], [], inbox=True)
    assert [(s.key, s.kind) for s in inbox] == [("inbox", "inbox")]
    pages = fetch_all(_collector(replay, inbox, limit=100))
    assert replay.unmatched == []
    assert [urlsplit(r.url or "").path for r in replay.sent][1:] == ["/message/inbox/"]
    found = {m.source_id: m for m in mentions_of(pages)}
    labels = {name: found[name].matched_query for name in ("t1_myngt77", "t1_m30xcs6")}
    assert labels == {"t1_myngt77": "account:replies", "t1_m30xcs6": "account:replies"}
    assert found["t1_myngt77"].thread_id == "t3_1j7g9uj"
    # a follow-up in a message thread comes flat, with its thread's first message
    follow_up = found["t4_22ydkme"]
    assert (follow_up.author.handle, follow_up.thread_id, follow_up.parent_id) == (
        "UnExplanationBot",
        "t4_22ydk2c",
        "t4_22ydkji",
    )
    assert follow_up.matched_query == "account:messages"
    assert len(found) == 99  # 100 items, one from a subreddit without an author


def _mention(fullname: str, thread: str | None = None) -> Mention:
    return Mention("reddit", fullname, "x", _at(1458400000), Author("someone"), thread_id=thread)


@pytest.mark.parametrize(
    ("cassette", "parent", "text", "reply_id", "url"),
    [
        (
            "TestComment.test_reply.json",
            "t1_d1616q2",
            "Comment reply",
            "t1_d1680wu",
            "https://www.reddit.com/comments/4b1tfm/_/d1680wu/",
        ),
        (
            "TestSubmission.test_reply.json",
            "t3_4b1tfm",
            "Test reply",
            "t1_d162ara",
            "https://www.reddit.com/comments/4b1tfm/_/d162ara/",
        ),
    ],
)
def test_a_reply_is_posted_through_praw(
    cassette: str, parent: str, text: str, reply_id: str, url: str
) -> None:
    replay = Replay.of([cassette])
    # not recorded: the account's history that the responder checks first; here it is empty
    replay.add(
        "GET",
        "https://oauth.reddit.com/user/<USERNAME>/comments?limit=100&sort=new&raw_json=1",
        {"kind": "Listing", "data": {"after": None, "children": []}},
    )
    posted = RedditResponder(CONFIG, session=replay.session(), sleep=lambda _s: None).post(
        _mention(parent), text, "key-1"
    )
    assert replay.unmatched == []
    assert (posted.reply_id, posted.url) == (reply_id, url)
    form = dict(parse_qsl(str(replay.sent[-1].body)))
    assert (form["thing_id"], form["text"]) == (parent, text)


def test_context_is_the_submission_above_a_top_level_comment() -> None:
    replay = Replay.of(["TestComment.test_refresh.json"])
    collector = _collector(replay, [], limit=100, config=READ_ONLY)
    context = collector.context(_mention("t1_d81vwef", "t3_54hhwl"))
    assert replay.unmatched == []
    assert [urlsplit(r.url or "").path for r in replay.sent][1:] == ["/comments/54hhwl/_/d81vwef"]
    assert context.root is not None
    root = context.root
    assert (root.source_id, root.author.handle, root.title) == (
        "t3_54hhwl",
        "OkRedditBot",
        "[PRAW 4]: Fetch specific comment replies",
    )
    assert root.created_at == _at(1474842336)
    assert context.parents == ()
