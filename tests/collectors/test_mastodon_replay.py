"""Mastodon collector and responder through the real Mastodon.py, against recorded traffic.

The cassettes are Mastodon.py's own (../shared/peers/mastodon), recorded against a Mastodon
4.6.4 server at http://localhost:3000; the values asserted here were read from them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import requests
import vcr
import yaml
from vcr.request import Request as VcrRequest

from collectors.mastodon import MastodonCollector, MastodonResponder
from collectors.mastodon.client import MastodonClient
from collectors.mastodon.parse import parse_status
from collectors.queries import Watch
from collectors.resilience import Retrier
from socialcrm.mention import Mention
from socialcrm.settings import MastodonSourceSettings, WatchSettings
from tests.collectors.contract import fetch_all, mentions_of
from tests.peers import peer_file

SERVER = "http://localhost:3000"
TOKEN = "__MASTODON_PY_TEST_ACCESS_TOKEN"


def _form(body: Any) -> dict[str, str] | Any:
    if body is None:
        return None
    text = body.decode() if isinstance(body, bytes) else str(body)
    pairs = parse_qsl(text, keep_blank_values=True)
    # Mastodon.py 2.3 sends sensitive=0 with every post; 2.2 (the recording) did not
    return {key: value for key, value in pairs if key != "sensitive"} if pairs else text


def body_without_sensitive(left: VcrRequest, right: VcrRequest) -> None:
    """vcrpy matcher: form bodies equal once the `sensitive` field is left out."""
    assert _form(left.body) == _form(right.body)


@contextmanager
def replaying(name: str) -> Iterator[None]:
    """Replay `name` strictly: an unrecorded request fails the test."""
    path = peer_file("mastodon", name)
    player = vcr.VCR(record_mode="none", match_on=["method", "path", "query", "body"])
    player.register_matcher("body", body_without_sensitive)
    with player.use_cassette(str(path)):
        yield


def recorded_status(name: str, index: int) -> dict[str, Any]:
    """The JSON body of interaction `index` in cassette `name`."""
    data = yaml.safe_load(Path(peer_file("mastodon", name)).read_text(encoding="utf-8"))
    body: dict[str, Any] = json.loads(data["interactions"][index]["response"]["body"]["string"])
    return body


def collector(terms: list[str] | None = None, **settings: Any) -> MastodonCollector:
    """A collector on the recording's server, asking for the server's default page size."""
    source = MastodonSourceSettings(enabled=True, instance=SERVER, **settings)
    watch = Watch.from_settings(WatchSettings(brand=terms or []), source)
    return MastodonCollector(source, watch, TOKEN, limit=None, sleep=_no_sleep)


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"a replay must not wait ({seconds} s)")


def test_hashtag_timeline() -> None:
    with replaying("test_hashtag_tl.yaml"):
        pages = fetch_all(
            collector(hashtags=["hoot"], search=False, notifications=False, extra_instances=[])
        )
    [mention] = mentions_of(pages)
    assert mention.source_id == (
        "http://localhost:3000/ap/users/117020566092212359/statuses/117020593741189701"
    )
    assert mention.url == "http://localhost:3000/@mastodonpy_test_2/117020593741189701"
    assert mention.text == "#hoot (hashtag toot)"
    assert mention.created_at == datetime(2026, 8, 1, 13, 55, 55, 867000, tzinfo=UTC)
    assert mention.author.handle == "mastodonpy_test_2@localhost:3000"
    assert mention.author.external_id == "http://localhost:3000/ap/users/117020566092212359"
    assert mention.author.followers == 0
    assert (mention.lang, mention.matched_query) == ("ja", "hashtag:hoot")
    assert mention.extra["status_id"] == "117020593741189701"
    assert pages[-1].cursor.state == {"tag:localhost:3000:hoot": "117020593741189701"}


def test_status_search() -> None:
    with replaying("test_search.yaml"):
        pages = fetch_all(collector(["mastodonpy_test"], notifications=False))
    assert mentions_of(pages) == []  # the recorded search found accounts, no statuses
    assert [page.quarantined for page in pages] == [()]
    assert pages[-1].cursor.state == {
        "search:localhost:3000:mastodonpy_test": {"after": None, "seen": []}
    }


def test_mentions_from_notifications() -> None:
    with replaying("test_notifications_mentions_only.yaml"):
        pages = fetch_all(collector(search=False, notifications=True))
    [mention] = mentions_of(pages)
    assert mention.source_id == (
        "http://localhost:3000/ap/users/117020565693913441/statuses/117020577157693549"
    )
    assert mention.url == "http://localhost:3000/@admin/117020577157693549"
    assert mention.text == "@mastodonpy_test hello!"
    assert mention.created_at == datetime(2026, 8, 1, 13, 51, 42, 823000, tzinfo=UTC)
    assert mention.author.handle == "admin@localhost:3000"
    assert mention.matched_query == "account:mentions"
    assert mention.extra["visibility"] == "public"
    assert pages[-1].cursor.state == {"mentions:localhost:3000:mentions": "21"}


def test_check_verifies_the_token() -> None:
    with replaying("test_verify_credentials.yaml"):
        collector(hashtags=["hoot"], search=False).check()


def test_thread_context_of_an_opening_post() -> None:
    parent = parse_status(recorded_status("test_status_context.yaml", 0), SERVER)
    with replaying("test_status_context.yaml"):
        context = collector(hashtags=["x"]).context(parent)
    assert context.root is None
    assert context.parents == ()


def _mention_to_answer() -> Mention:
    return parse_status(recorded_status("test_status_reply.yaml", 0), SERVER)


def test_reply_goes_under_the_mention_with_an_idempotency_key() -> None:
    mention = _mention_to_answer()
    session = requests.Session()
    sent: list[requests.PreparedRequest] = []
    session.hooks["response"].append(lambda response, *a, **k: sent.append(response.request))
    client = MastodonClient(SERVER, TOKEN, Retrier("mastodon", sleep=_no_sleep), session)
    with replaying("test_status_reply.yaml"):
        reply = MastodonResponder(client).post(mention, "same!", "reply-7-draft-3")
    assert reply.reply_id == "117020583258292382"
    assert reply.url == "http://localhost:3000/@admin/117020583258292382"
    [post] = sent
    assert post.headers["Idempotency-Key"] == "reply-7-draft-3"
    assert _form(post.body) == {
        "status": "@mastodonpy_test_2 same!",
        "in_reply_to_id": "117020583245459824",
        "visibility": "public",
        "spoiler_text": "",
    }
