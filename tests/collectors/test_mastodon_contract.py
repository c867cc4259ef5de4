"""Mastodon collector: the shared contract over FakeWeb, plus cursors, dedupe and pacing."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collectors import registry
from collectors.base import (
    RateLimitedError,
    SourceConfigError,
    SourceError,
    TransientSourceError,
)
from collectors.mastodon import MastodonCollector
from collectors.queries import Watch
from socialcrm import models, pipeline
from socialcrm.db import Database
from socialcrm.mention import Cursor, Page
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


def mastodon_web(
    extra_search: list[dict[str, Any]] | None = None,
    newer_tagged: list[dict[str, Any]] | None = None,
) -> FakeWeb:
    """A fake Mastodon serving the fixtures; timelines honour `min_id` like the real one.

    `newer_tagged` (newest first) are shown above the #inkwell fixture on every instance.
    """
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
    web.route(
        "GET",
        "/api/v1/timelines/tag/inkwell",
        lambda r: Reply(body=_after([*(newer_tagged or []), *tag], r)),
    )
    web.route("GET", "/api/v1/notifications", lambda r: Reply(body=_after(mentions, r)))
    web.route("GET", "/api/v2/search", search_route)
    return web


def newer_status(number: int) -> dict[str, Any]:
    """A #inkwell status by ada, newer than the fixture's (ids and times grow with `number`)."""
    status: dict[str, Any] = fixture("tag_inkwell.json")[0]
    local_id = f"1100000000000000{number:02d}"
    return {
        **status,
        "id": local_id,
        "uri": f"https://mastodon.social/users/ada/statuses/{local_id}",
        "url": f"https://mastodon.social/@ada/{local_id}",
        "created_at": f"2026-11-20T11:{number:02d}:00.000Z",
    }


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
        newer: list[dict[str, Any]] = []
        web = mastodon_web(extra, newer)

        def add_item() -> str:
            newer.insert(0, newer_status(4))
            return str(newer[0]["uri"])

        harness = Harness(
            web=web,
            build=lambda: make_collector(web, harness.sleep),
            break_one_item=lambda: extra.append(BROKEN),
            expected_ids={*TAG_IDS, SEARCH_ID, MENTION_ID},
            build_without_credentials=lambda: make_collector(web, harness.sleep, token=None),
            add_item=add_item,
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


# -- extra instances fail alone ----------------------------------------------------------

DOWN = "https://down.example"
SECOND = "https://second.example"
ONLY_ON_SECOND = newer_status(7)


def two_extra_instances(status: int, outage: dict[str, bool] | None = None) -> FakeWeb:
    """The fixtures on every instance; DOWN answers `status` while `outage["on"]`, SECOND
    shows one more status."""
    outage = {"on": True} if outage is None else outage
    web = mastodon_web()
    for key, handler in list(web.routes.items()):

        def route(request: Request, handler: Any = handler, path: str = key[1]) -> Reply:
            if request.url.startswith(DOWN) and outage["on"]:
                return Reply(status, {"error": f"HTTP {status}"})
            reply: Reply = handler(request)
            if request.url.startswith(SECOND) and path.startswith("/api/v1/timelines/tag/"):
                return Reply(body=_after([ONLY_ON_SECOND, *reply.body], request))
            return reply

        web.routes[key] = route
    return web


def fetch_until_error(
    collector: MastodonCollector, cursor: Cursor | None
) -> tuple[list[Page], SourceError]:
    """The pages of a run that ends with an error, and the error."""
    pages: list[Page] = []
    with pytest.raises(SourceError) as caught:
        pages.extend(collector.fetch(cursor))  # keeps the pages yielded before the error
    return pages, caught.value


@pytest.mark.parametrize(("status", "transient"), [(503, True), (404, False)])
def test_an_extra_instance_that_fails_does_not_hold_up_the_others(
    status: int, transient: bool
) -> None:
    web = two_extra_instances(status)
    collector = make_collector(web, lambda _s: None, extra_instances=[DOWN, SECOND])
    saved = Cursor({"tag:down.example:inkwell": "110000000000000001"})
    pages, error = fetch_until_error(collector, saved)
    assert ONLY_ON_SECOND["uri"] in {m.source_id for m in mentions_of(pages)}
    assert {m.source_id for m in mentions_of(pages)} >= {*TAG_IDS, SEARCH_ID, MENTION_ID}
    assert isinstance(error, TransientSourceError) is transient
    assert not isinstance(error, SourceConfigError)  # that would disable the whole source
    assert DOWN in str(error)
    assert SECOND not in str(error)
    assert "\n" not in str(error)
    state = pages[-1].cursor.state
    assert state["tag:down.example:inkwell"] == "110000000000000001"  # kept as it was
    assert state["tag:second.example:inkwell"] == ONLY_ON_SECOND["id"]


def test_a_run_with_a_failed_extra_instance_commits_the_rest_and_fails(db: Database) -> None:
    web = two_extra_instances(503)
    collector = make_collector(web, lambda _s: None, extra_instances=[DOWN, SECOND])
    summary = pipeline.collect(db, collector)
    assert summary.status == "error"
    assert summary.error is not None
    assert DOWN in summary.error
    assert summary.new == len({*TAG_IDS, SEARCH_ID, MENTION_ID}) + 1
    with db.transaction() as session:
        row = session.get(models.CollectorCursor, "mastodon")
        assert row is not None
        saved = Cursor.from_json(row.cursor)
    assert saved is not None
    assert saved.state["tag:second.example:inkwell"] == ONLY_ON_SECOND["id"]
    assert "tag:down.example:inkwell" not in saved.state


def test_an_extra_instance_outage_is_logged_when_it_starts_and_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outage = {"on": True}
    web = two_extra_instances(503, outage)
    collector = make_collector(web, lambda _s: None, extra_instances=[DOWN, SECOND])
    with caplog.at_level(logging.INFO, logger="collectors.mastodon.collector"):
        fetch_until_error(collector, None)
        fetch_until_error(collector, None)
        outage["on"] = False
        fetch_all(collector)
        fetch_all(collector)
    # only the collector's own outage lines (the retry layer logs its retries elsewhere)
    about_down = [
        r.getMessage()
        for r in caplog.records
        if r.name == "collectors.mastodon.collector" and DOWN in r.getMessage()
    ]
    assert len(about_down) == 2
    assert "skipped until it answers again" in about_down[0]
    assert about_down[1] == f"mastodon: {DOWN} answers again"


def test_a_rate_limited_extra_instance_keeps_its_wait() -> None:
    web = two_extra_instances(429)
    collector = make_collector(web, lambda _s: None, extra_instances=[DOWN, SECOND])
    pages, error = fetch_until_error(collector, None)
    assert ONLY_ON_SECOND["uri"] in {m.source_id for m in mentions_of(pages)}
    assert isinstance(error, RateLimitedError)
    assert error.retry_after > 0
    assert DOWN in str(error)
