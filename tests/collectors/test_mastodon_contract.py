"""Mastodon collector: the shared contract over FakeWeb, plus cursors, dedupe and pacing."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collectors import registry
from collectors.base import SourceConfigError
from collectors.mastodon import MastodonCollector
from collectors.queries import Watch
from socialcrm.mention import Cursor
from socialcrm.settings import MastodonSourceSettings, Secrets, Settings, WatchSettings
from tests.collectors.contract import CollectorContract, Harness, fetch_all, mentions_of
from tests.collectors.fakeweb import FakeWeb, Reply, Request

FIXTURES = Path(__file__).parent / "fixtures" / "mastodon"
BRAND = "https://mastodon.social"
OTHER = "https://fosstodon.example"
WATCH = WatchSettings(brand=["Inkwell"], competitors=["Quillpad"], exclude=["hiring"])
TAG_IDS = {
    "https://mastodon.social/users/ada/statuses/110000000000000003",
    "https://fosstodon.org/users/bob/statuses/8841",
}
SEARCH_ID = "https://hachyderm.io/users/cy/statuses/555"
MENTION_ID = "https://mas.to/users/dee/statuses/9001"
BROKEN = {"id": "110000000000000009", "uri": "https://x.example/s/9", "content": "<p>?</p>"}


def fixture(name: str) -> Any:
    """A JSON fixture written for these tests."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _after(items: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
    min_id = request.params.get("min_id")
    if min_id is None:
        return items
    return [item for item in items if (len(item["id"]), item["id"]) > (len(min_id), min_id)]


def mastodon_web(extra_search: list[dict[str, Any]] | None = None) -> FakeWeb:
    """A fake Mastodon serving the fixtures; timelines honour `min_id` like the real one."""
    web = FakeWeb()
    tag, mentions, search = (
        fixture("tag_inkwell.json"),
        fixture("notifications_mentions.json"),
        fixture("search_inkwell.json"),
    )

    def search_route(request: Request) -> Reply:
        if request.params.get("q") != "Inkwell":
            return Reply(body={"accounts": [], "statuses": [], "hashtags": []})
        return Reply(body={**search, "statuses": search["statuses"] + (extra_search or [])})

    web.route("GET", "/api/v2/instance/", fixture("instance_v2.json"))
    web.route("GET", "/api/v1/accounts/verify_credentials", fixture("verify_credentials.json"))
    web.route("GET", "/api/v1/timelines/tag/inkwell", lambda r: Reply(body=_after(tag, r)))
    web.route("GET", "/api/v1/notifications", lambda r: Reply(body=_after(mentions, r)))
    web.route("GET", "/api/v2/search", search_route)
    return web


def make_collector(
    web: FakeWeb,
    sleep: Callable[[float], None],
    token: str | None = "test-token",  # noqa: S107 (a fake)
    **changes: Any,
) -> MastodonCollector:
    """A collector on the fake web: hashtag #inkwell on two instances, search, mentions."""
    values: dict[str, Any] = {
        "enabled": True,
        "instance": BRAND,
        "extra_instances": [OTHER],
        "hashtags": ["inkwell"],
        "search": True,
        "notifications": True,
    }
    settings = MastodonSourceSettings(**{**values, **changes})
    watch = Watch.from_settings(WATCH, settings)
    return MastodonCollector(
        settings, watch, token, limit=40, session_factory=web.session, sleep=sleep
    )


class TestMastodonContract(CollectorContract):
    """The shared collector contract."""

    @pytest.fixture
    def harness(self) -> Harness:
        extra: list[dict[str, Any]] = []
        web = mastodon_web(extra)
        harness = Harness(
            web=web,
            build=lambda: make_collector(web, harness.sleep),
            break_one_item=lambda: extra.append(BROKEN),
            expected_ids={*TAG_IDS, SEARCH_ID, MENTION_ID},
            build_without_credentials=lambda: make_collector(web, harness.sleep, token=None),
        )
        return harness


def test_one_status_seen_on_two_instances_is_one_mention() -> None:
    web = mastodon_web()
    mentions = mentions_of(fetch_all(make_collector(web, lambda _s: None)))
    assert len(web.calls("/api/v1/timelines/tag/inkwell")) == 2  # brand and extra instance
    assert sorted(m.source_id for m in mentions) == sorted({*TAG_IDS, SEARCH_ID, MENTION_ID})


def test_cursor_holds_one_position_per_instance_and_stream() -> None:
    pages = fetch_all(make_collector(mastodon_web(), lambda _s: None))
    state = pages[-1].cursor.state
    assert state["tag:mastodon.social:inkwell"] == "110000000000000003"
    assert state["tag:fosstodon.example:inkwell"] == "110000000000000003"
    assert state["mentions:mastodon.social:mentions"] == "31"
    assert state["search:mastodon.social:Inkwell"]["after"] == "2026-11-20T11:00:00+00:00"
    assert len(state["search:mastodon.social:Inkwell"]["seen"]) == 1


def test_second_run_asks_for_newer_items_only() -> None:
    web = mastodon_web()
    saved = fetch_all(make_collector(web, lambda _s: None))[-1].cursor
    web.requests.clear()
    assert mentions_of(fetch_all(make_collector(web, lambda _s: None), saved)) == []
    assert web.calls("/api/v1/timelines/tag/inkwell")[0].params["min_id"] == "110000000000000003"
    assert web.calls("/api/v1/notifications")[0].params["min_id"] == "31"


def test_a_server_that_ignores_min_id_repeats_nothing() -> None:
    web = mastodon_web()
    web.route("GET", "/api/v1/timelines/tag/inkwell", fixture("tag_inkwell.json"))
    cursor = Cursor({"tag:mastodon.social:inkwell": "110000000000000002"})
    collector = make_collector(
        web, lambda _s: None, search=False, notifications=False, extra_instances=[]
    )
    ids = [m.source_id for m in mentions_of(fetch_all(collector, cursor))]
    assert ids == ["https://mastodon.social/users/ada/statuses/110000000000000003"]


def test_mentions_carry_what_a_reply_needs() -> None:
    mentions = mentions_of(fetch_all(make_collector(mastodon_web(), lambda _s: None)))
    dee = next(m for m in mentions if m.source_id == MENTION_ID)
    assert dee.matched_query == "account:mentions"
    assert dee.author.handle == "dee@mas.to"
    assert dict(dee.extra) == {
        "instance": BRAND,
        "status_id": "110000000000000005",
        "visibility": "direct",
        "spoiler_text": "",
        "id_space": "instance",
    }
    ada = next(m for m in mentions if m.author.handle == "ada@mastodon.social")
    assert ada.matched_query == "brand:Inkwell"
    assert ada.text == (
        "Loving #inkwell for notes\nso far\n\nsee https://inkwell.example/blog/export"
    )


def test_exclusions_drop_search_hits() -> None:
    mentions = mentions_of(fetch_all(make_collector(mastodon_web(), lambda _s: None)))
    assert not [m for m in mentions if "hiring" in m.text]


def test_hashtags_only_need_no_token() -> None:
    web = mastodon_web()
    collector = make_collector(web, lambda _s: None, token=None, search=False, notifications=False)
    collector.check()
    ids = {m.source_id for m in mentions_of(fetch_all(collector))}
    assert ids == TAG_IDS
    assert all("Authorization" not in request.headers for request in web.requests)


def test_the_token_never_goes_to_other_instances() -> None:
    web = mastodon_web()
    fetch_all(make_collector(web, lambda _s: None))
    others = [r for r in web.requests if r.url.startswith(OTHER)]
    assert others
    assert all("Authorization" not in request.headers for request in others)


def test_nothing_to_watch_is_a_config_error() -> None:
    collector = make_collector(mastodon_web(), lambda _s: None, hashtags=[], notifications=False)
    collector.watch = Watch(())
    with pytest.raises(SourceConfigError, match=r"\[sources.mastodon\] hashtags"):
        collector.check()


def test_low_quota_waits_for_the_reset() -> None:
    web = mastodon_web()
    reset = datetime.now(UTC) + timedelta(seconds=100)
    headers = {"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": reset.isoformat()}
    web.route(
        "GET",
        "/api/v1/accounts/verify_credentials",
        Reply(body=fixture("verify_credentials.json"), headers=headers),
    )
    sleeps: list[float] = []
    collector = make_collector(web, sleeps.append)
    collector.check()
    assert sleeps == []  # the first answer tells us that only 3 requests are left
    collector.check()
    collector.check()
    [wait] = sleeps  # waited once for the reset, not before every request
    assert 90 < wait <= 100


def test_the_registry_builds_collector_and_responder() -> None:
    settings = Settings(
        watch=WATCH,
        sources={"mastodon": {"enabled": True, "hashtags": ["inkwell"], "limit": 20}},
        secrets=Secrets(mastodon_access_token="tok"),
    )
    collector = registry.build("mastodon", settings)
    assert isinstance(collector, MastodonCollector)
    assert collector.brand.has_token
    assert collector.limit == 20
    assert collector.brand.base_url == "https://mastodon.social"
    assert registry.build_responder("mastodon", settings).name == "mastodon"
