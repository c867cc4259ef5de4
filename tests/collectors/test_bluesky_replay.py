"""Bluesky over recorded traffic: the atproto SDK's session with a local PDS/AppView, replayed.

The recording (`../shared/peers/bluesky/bsky_devenv_flow.yaml`, vcrpy YAML) is answered by a
small httpx transport matching method, path and query; request bodies are not matched (ours
carry a password and an rkey the SDK's did not), except the account they act as (`identifier`
of a login, `repo` of a record), which tells the recorded accounts apart.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import yaml

from collectors.bluesky.client import XrpcClient
from collectors.bluesky.collector import BlueskyCollector
from collectors.bluesky.responder import BlueskyResponder
from collectors.bluesky.tid import decode_tid
from collectors.queries import Query, QueryKind, Watch
from socialcrm.mention import Cursor, Mention
from tests.collectors.contract import fetch_all, mentions_of
from tests.peers import peer_file

SERVICE = "http://127.0.0.1:2683"
BOT = "crmbot625566.test"
BOT_DID = "did:plc:qpoh7qqvftl7dchwpuhzptic"
ALICE_DID = "did:plc:pskwetbnkfsf3ytigzkkbi63"
MENTION_URI = f"at://{ALICE_DID}/app.bsky.feed.post/3n35mo6mrks23"
MENTION_CID = "bafyreigixmamtd55z66fwqyzisvgaooxfsgcrqjt6i6g3erqlhberktcd4"
SEARCH_URI = "at://did:plc:3bj4hgu3xry6hln45ms6rxfs/app.bsky.feed.post/3n35mnjttak23"


def _key(method: str, url: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    parts = urlsplit(url)
    return method.upper(), parts.path, tuple(sorted(parse_qsl(parts.query)))


def _account(body: Any) -> tuple[str | None, str | None]:
    """The account a JSON body acts as (login `identifier`, record `repo`)."""
    try:
        data = json.loads(body) if body else None
    except (TypeError, ValueError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    return data.get("identifier"), data.get("repo")


class Replay:
    """An httpx transport answering from a vcrpy cassette, each recording in order.

    When a request's recordings are used up the last one answers again (a later run of the
    collector asks the same question); an unrecorded request fails the test.
    """

    def __init__(self, cassette: Path) -> None:
        data = yaml.safe_load(cassette.read_text(encoding="utf-8"))
        self.recorded = data["interactions"]
        self.queues: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for interaction in self.recorded:
            request = interaction["request"]
            key = (*_key(request["method"], request["uri"]), _account(request["body"]))
            self.queues[key].append(interaction)
        self.sent: list[httpx.Request] = []

    def transport(self) -> httpx.MockTransport:
        """The transport to give the client."""
        return httpx.MockTransport(self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        body = request.read()
        key = (*_key(request.method, str(request.url)), _account(body))
        queue = self.queues.get(key)
        if not queue:
            pytest.fail(f"request not in the recording: {request.method} {request.url}")
        interaction = queue.pop(0) if len(queue) > 1 else queue[0]
        response = interaction["response"]
        headers = {
            name: values[0]
            for name, values in response["headers"].items()
            if name.lower() not in ("content-length", "transfer-encoding", "content-encoding")
        }
        return httpx.Response(
            response["status"]["code"], headers=headers, content=response["body"]["string"]
        )

    def recorded_body(self, path_end: str, contains: str) -> Any:
        """The JSON body of the recorded request to `path_end` whose body contains `contains`."""
        for interaction in self.recorded:
            request = interaction["request"]
            if request["uri"].endswith(path_end) and contains in (request["body"] or ""):
                return json.loads(request["body"])
        raise AssertionError(f"no recorded {path_end} with {contains!r}")

    def sent_to(self, path_end: str) -> list[httpx.Request]:
        """Our requests to a path ending in `path_end`."""
        return [r for r in self.sent if r.url.path.endswith(path_end)]


@pytest.fixture
def replay() -> Replay:
    return Replay(peer_file("bluesky", "bsky_devenv_flow.yaml"))


def _client(replay: Replay) -> XrpcClient:
    return XrpcClient(SERVICE, BOT, "throwaway", transport=replay.transport(), sleep=_no_sleep)


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"the replay should never wait ({seconds} s)")


def _collector(replay: Replay) -> BlueskyCollector:
    watch = Watch((Query(QueryKind.BRAND, "acmecrm"),))
    # no limit: the SDK sent none, so the recorded requests carry none
    return BlueskyCollector(_client(replay), watch, limit=None)


def _two_runs(replay: Replay) -> tuple[list[Any], list[Any], BlueskyCollector]:
    collector = _collector(replay)
    first = fetch_all(collector)
    second = fetch_all(collector, Cursor.from_json(first[-1].cursor.to_json()))
    return first, second, collector


def test_search_finds_the_recorded_post(replay: Replay) -> None:
    first, _, _ = _two_runs(replay)
    (found,) = mentions_of(first)
    assert found.source_id == SEARCH_URI
    assert found.text == "My order from Acme is late #acmecrm cc @crmbot625544.test"
    assert (found.author.handle, found.author.external_id) == (
        "alice625544.test",
        "did:plc:3bj4hgu3xry6hln45ms6rxfs",
    )
    assert found.url == "https://bsky.app/profile/alice625544.test/post/3n35mnjttak23"
    assert found.created_at == datetime(2026, 11, 25, 16, 52, 28, 799954, tzinfo=UTC)
    assert (found.matched_query, found.lang, found.parent_id) == ("brand:acmecrm", "en", None)
    assert found.extra == {
        "cid": "bafyreihxzgomnlj7rawfstxkklpemp5y5snvyn2i2vkjkxcfhfrmckaal4",
        "root": {
            "uri": SEARCH_URI,
            "cid": "bafyreihxzgomnlj7rawfstxkklpemp5y5snvyn2i2vkjkxcfhfrmckaal4",
        },
    }
    (search,) = replay.sent_to("app.bsky.feed.searchPosts")[:1]
    assert dict(search.url.params) == {"q": "acmecrm", "sort": "latest"}
    assert search.headers["authorization"].startswith("Bearer eyJ")


def test_the_cursor_holds_a_watermark_per_stream(replay: Replay) -> None:
    first, _, _ = _two_runs(replay)
    streams = first[-1].cursor.state["streams"]
    # the first listNotifications of the recording is empty: nothing to remember yet
    assert set(streams) == {"brand:acmecrm"}
    # the search result's sortAt is its indexedAt, 16:52:28.799Z; the floor looks back 15 min
    assert streams["brand:acmecrm"]["floor"] == int(
        datetime(2026, 11, 25, 16, 37, 28, 799000, tzinfo=UTC).timestamp() * 1000
    )
    assert len(streams["brand:acmecrm"]["seen"]) == 1


def test_the_second_run_takes_the_mention_and_repeats_nothing(replay: Replay) -> None:
    _, second, _ = _two_runs(replay)
    (mention,) = mentions_of(second)
    assert mention.source_id == MENTION_URI
    assert (mention.author.handle, mention.author.external_id) == ("alice625566.test", ALICE_DID)
    assert mention.created_at == datetime(2026, 11, 25, 16, 52, 50, 609988, tzinfo=UTC)
    assert mention.url == "https://bsky.app/profile/alice625566.test/post/3n35mo6mrks23"
    # the text names the watched hashtag, which wins over the notification stream
    assert mention.matched_query == "brand:acmecrm"
    assert mention.extra["cid"] == MENTION_CID
    assert second[-1].cursor.state["streams"]["account:mentions"]["floor"] == int(
        datetime(2026, 11, 25, 16, 37, 50, 609000, tzinfo=UTC).timestamp() * 1000
    )
    assert len(replay.sent_to("com.atproto.server.createSession")) == 1


def test_the_reply_matches_the_sdks_and_returns_the_recorded_uri(replay: Replay) -> None:
    _, second, collector = _two_runs(replay)
    (mention,) = mentions_of(second)
    clock = lambda: datetime(2026, 11, 25, 16, 52, 51, 869330, tzinfo=UTC)  # noqa: E731
    responder = BlueskyResponder(collector.client, clock=clock)
    posted = responder.post(mention, "Sorry about that - DM us your order number.", "task-7")
    assert posted.reply_id == f"at://{BOT_DID}/app.bsky.feed.post/3n35mo7svc223"
    assert posted.url == f"https://bsky.app/profile/{BOT}/post/3n35mo7svc223"
    (sent,) = replay.sent_to("com.atproto.repo.createRecord")
    ours = json.loads(sent.content)
    theirs = replay.recorded_body("com.atproto.repo.createRecord", '"reply"')
    strip = lambda ref: {k: v for k, v in ref.items() if k != "$type"}  # noqa: E731
    assert ours["repo"] == theirs["repo"] == BOT_DID
    assert ours["collection"] == theirs["collection"]
    assert {k: strip(v) for k, v in ours["record"]["reply"].items()} == {
        k: strip(v) for k, v in theirs["record"]["reply"].items() if k != "$type"
    }
    assert ours["record"]["langs"] == theirs["record"]["langs"]
    assert decode_tid(ours["rkey"])[0].date() == mention.created_at.date()
    assert replay.sent_to("app.bsky.feed.getPostThread"), "the parent is checked before posting"


def test_context_of_a_root_post_has_no_parents(replay: Replay) -> None:
    collector = _collector(replay)
    mention = Mention(
        source="bluesky",
        source_id=MENTION_URI,
        text="x",
        created_at=datetime(2026, 11, 25, tzinfo=UTC),
        author=mentions_of(fetch_all(collector))[0].author,
    )
    context = collector.context(mention)
    assert context.parents == ()
    assert context.root is None
    (asked,) = replay.sent_to("app.bsky.feed.getPostThread")
    assert asked.url.params["uri"] == MENTION_URI
