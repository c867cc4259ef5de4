"""Pure Mastodon parsing: HTML to text, CW, boosts, edits, exclusions, cursors, reply rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mastodon.errors import (
    MastodonAPIError,
    MastodonBadGatewayError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonUnauthorizedError,
)

from collectors.base import (
    RateLimitedError,
    SourceAuthError,
    SourceConfigError,
    SourceError,
    TargetGoneError,
    TransientSourceError,
)
from collectors.mastodon.client import classify
from collectors.mastodon.parse import (
    SEEN_LIMIT,
    StatusError,
    build_page,
    full_handle,
    html_to_text,
    newer_than,
    newest_id,
    parse_status,
    reply_text,
    reply_visibility,
    search_filter,
    uri_key,
)
from collectors.queries import Query, QueryKind, Watch
from socialcrm.mention import ProfileLink

INSTANCE = "https://mastodon.social"
TAG = Query(QueryKind.HASHTAG, "inkwell")
WATCH = Watch((Query(QueryKind.BRAND, "Inkwell"),), ("hiring",))


def status(n: int = 1, **changes: Any) -> dict[str, Any]:
    """A small status in Mastodon's JSON shape."""
    return {
        "id": f"11000000000000000{n}",
        "uri": f"https://mastodon.social/users/ada/statuses/{n}",
        "url": f"https://mastodon.social/@ada/{n}",
        "created_at": f"2026-11-20T10:0{n}:00.000Z",
        "content": f"<p>note {n} about tools</p>",
        "spoiler_text": "",
        "visibility": "public",
        "language": "en",
        "in_reply_to_id": None,
        "edited_at": None,
        "reblog": None,
        "account": {"acct": "ada", "uri": "https://mastodon.social/users/ada", "url": "u"},
        **changes,
    }


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>one</p><p>two</p>", "one\n\ntwo"),
        ("<p>line<br>break<br/>again</p>", "line\nbreak\nagain"),
        ("<p>Tom &amp; Jerry &lt;3</p>", "Tom & Jerry <3"),
        (
            '<p><span class="h-card"><a href="https://m.s/@x" class="u-url mention">'
            "@<span>x</span></a></span> hi</p>",
            "@x hi",
        ),
        (
            '<p><a href="https://a.example/long/path"><span class="invisible">https://</span>'
            '<span class="ellipsis">a.example/lo</span><span class="invisible">ng/path</span>'
            "</a></p>",
            "https://a.example/long/path",
        ),
        ("", ""),
    ],
)
def test_html_becomes_plain_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_content_warning_goes_before_the_content() -> None:
    mention = parse_status(status(spoiler_text="spoilers", content="<p>it ends well</p>"), INSTANCE)
    assert mention.text == "spoilers\n\nit ends well"
    assert mention.extra["spoiler_text"] == "spoilers"


def test_a_boost_is_the_boosted_status() -> None:
    boosted = status(2, account={"acct": "bob@fosstodon.org", "uri": "https://f.org/users/bob"})
    boost = status(3, reblog=boosted, content="")
    mention = parse_status(boost, INSTANCE)
    assert mention.source_id == boosted["uri"]
    assert mention.author.handle == "bob@fosstodon.org"
    assert mention.extra["status_id"] == boosted["id"]


def test_a_status_and_its_boosts_are_one_item() -> None:
    original = status(2, content="<p>Inkwell rocks</p>")
    page, rejects = build_page(
        [status(4, reblog=original), original, status(5, reblog=original)],
        INSTANCE,
        TAG,
        WATCH,
        set(),
    )
    assert [m.source_id for m in page] == [original["uri"]]
    assert rejects == []


def test_edited_reply_keeps_times_ids_and_language() -> None:
    mention = parse_status(
        status(
            in_reply_to_id="109",
            edited_at="2026-11-20T12:00:00+02:00",
            language="de",
            visibility="unlisted",
        ),
        INSTANCE,
    )
    assert mention.edited_at == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert mention.created_at == datetime(2026, 11, 20, 10, 1, tzinfo=UTC)
    assert (mention.parent_id, mention.thread_id, mention.lang) == ("109", None, "de")
    assert mention.extra["visibility"] == "unlisted"


def test_a_post_that_opens_a_thread_is_its_own_thread() -> None:
    mention = parse_status(status(), INSTANCE)
    assert (mention.thread_id, mention.parent_id) == ("110000000000000001", None)


def test_local_accounts_get_the_instance_domain() -> None:
    assert full_handle("ada", "https://mastodon.social") == "ada@mastodon.social"
    assert full_handle("@bob@fosstodon.org", INSTANCE) == "bob@fosstodon.org"
    assert full_handle("cy", "http://localhost:3000") == "cy@localhost:3000"


def test_the_profile_note_and_fields_are_kept_as_linking_evidence() -> None:
    account = {
        "acct": "ada",
        "uri": "https://mastodon.social/users/ada",
        "note": "<p>Maker of things. ada@example.org</p>",
        "fields": [
            {
                "name": "Shop",
                "value": '<a href="https://ada.shop" rel="me"><span class="invisible">https://'
                "</span>ada.shop</a>",
                "verified_at": "2026-01-01T00:00:00.000Z",
            },
            {
                "name": "Blog",
                "value": '<a href="https://ada.blog">ada.blog</a>',
                "verified_at": None,
            },
            {"name": "Pronouns", "value": "she/her"},
        ],
    }
    author = parse_status(status(account=account), INSTANCE).author
    assert author.bio == (
        "Maker of things. ada@example.org\nShop: https://ada.shop\nBlog: ada.blog\n"
        "Pronouns: she/her"
    )
    assert author.links == (
        ProfileLink("https://ada.shop", verified=True),
        ProfileLink("https://ada.blog", verified=False),
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"uri": None}, "no id or uri"),
        ({"id": None}, "no id or uri"),
        ({"created_at": None}, "created_at is missing"),
        ({"created_at": "yesterday"}, "not ISO 8601"),
        ({"created_at": "2026-11-20T10:00:00"}, "no time zone"),
        ({"account": None}, "account is missing"),
        ({"account": {"acct": None}}, "account has no acct"),
    ],
)
def test_broken_statuses_are_refused_with_a_reason(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(StatusError, match=reason):
        parse_status(status(**change), INSTANCE)


def test_broken_statuses_are_quarantined_and_the_rest_kept() -> None:
    page, rejects = build_page(
        [status(2), status(3, created_at=None), status(1)], INSTANCE, TAG, WATCH, set()
    )
    assert [m.source_id for m in page] == [status(1)["uri"], status(2)["uri"]]  # oldest first
    assert len(rejects) == 1
    assert rejects[0].reason == "created_at is missing"
    assert rejects[0].locator == status(3)["uri"]
    assert '"created_at": null' in rejects[0].payload


def test_exclusions_drop_and_terms_label() -> None:
    page, _ = build_page(
        [
            status(1, content="<p>Inkwell is hiring</p>"),
            status(2, content="<p>Inkwell rocks</p>"),
            status(3, content="<p>just a tag</p>"),
        ],
        INSTANCE,
        TAG,
        WATCH,
        set(),
    )
    assert [(m.text, m.matched_query) for m in page] == [
        ("Inkwell rocks", "brand:Inkwell"),
        ("just a tag", "hashtag:inkwell"),
    ]


def test_newest_id_and_client_side_min_id() -> None:
    items = [status(3), {"id": None}, status(1)]
    assert newest_id([{"id": None}, *items]) == "110000000000000003"
    assert newest_id([]) is None
    kept = newer_than(items, "110000000000000001")
    assert [item["id"] for item in kept] == ["110000000000000003", None]
    # numeric ids compare by value, not as text
    assert [i["id"] for i in newer_than([{"id": "99"}, {"id": "100"}], "98")] == ["99", "100"]
    assert newer_than([{"id": "99"}], "100") == []


def test_search_keeps_a_watermark_and_a_bounded_seen_set() -> None:
    first = [parse_status(status(n), INSTANCE) for n in (1, 2)]
    fresh, state = search_filter(first, None, 3600)
    assert fresh == first
    assert state["after"] == "2026-11-20T10:02:00+00:00"
    again, state2 = search_filter(first, state, 3600)
    assert again == []
    assert state2 == state
    late = parse_status(status(3, created_at="2026-11-20T09:30:00Z"), INSTANCE)
    old = parse_status(status(4, created_at="2026-11-19T09:30:00Z"), INSTANCE)
    found, state3 = search_filter([late, old], state, 3600)
    assert found == [late]  # inside the overlap window; `old` is behind the watermark
    assert uri_key(late.source_id) in state3["seen"]
    assert state3["after"] == state["after"]


def test_search_seen_set_is_bounded() -> None:
    base = datetime(2026, 11, 20, tzinfo=UTC)
    many = [
        parse_status(
            status(1, uri=f"https://m.s/s/{n}", created_at=base + timedelta(seconds=n)), INSTANCE
        )
        for n in range(SEEN_LIMIT + 50)
    ]
    _, state = search_filter(many, None, 0)
    assert len(state["seen"]) == SEEN_LIMIT
    assert state["seen"][-1] == uri_key(many[-1].source_id)


@pytest.mark.parametrize(
    ("visibility", "reply"),
    [
        ("direct", "direct"),
        ("private", "private"),
        ("unlisted", "unlisted"),
        ("public", "public"),
        (None, "direct"),
        ("limited", "direct"),
    ],
)
def test_a_reply_is_never_wider_than_the_mention(visibility: str | None, reply: str) -> None:
    assert reply_visibility(visibility) == reply


@pytest.mark.parametrize(
    ("text", "handle", "expected"),
    [
        ("thanks!", "ada@mastodon.social", "@ada thanks!"),
        ("thanks!", "bob@fosstodon.org", "@bob@fosstodon.org thanks!"),
        ("@ada thanks!", "ada@mastodon.social", "@ada thanks!"),
        ("@adam hi", "ada@mastodon.social", "@ada @adam hi"),
    ],
)
def test_replies_address_the_author(text: str, handle: str, expected: str) -> None:
    assert reply_text(text, handle, INSTANCE) == expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (MastodonUnauthorizedError("Mastodon API returned error", 401, "", "x"), SourceAuthError),
        (MastodonAPIError("Mastodon API returned error", 403, "Forbidden", "x"), SourceAuthError),
        (
            MastodonBadGatewayError("Mastodon API returned error", 502, "", None),
            TransientSourceError,
        ),
        (MastodonNetworkError("Could not complete request: timeout"), TransientSourceError),
        (MastodonNotFoundError("Mastodon API returned error", 404, "", None), SourceConfigError),
        (MastodonAPIError("Mastodon API returned error", 422, "", "bad"), SourceError),
    ],
)
def test_errors_map_to_who_must_act(error: MastodonError, expected: type[Exception]) -> None:
    mapped = classify(error, "reading", None)
    assert type(mapped) is expected
    if expected is SourceAuthError:
        assert "SOCIALCRM_MASTODON_ACCESS_TOKEN" in str(mapped)


def test_rate_limits_and_gone_targets() -> None:
    limited = classify(MastodonRatelimitError("Hit rate limit."), "reading", 42.0)
    assert isinstance(limited, RateLimitedError)
    assert limited.retry_after == 42.0
    gone = MastodonNotFoundError("Mastodon API returned error", 404, "", None)
    assert isinstance(classify(gone, "reply", None, gone=True), TargetGoneError)


def test_an_instance_that_wants_sign_in_says_so_without_a_token() -> None:
    refused = MastodonUnauthorizedError("Mastodon API returned error", 401, "", "x")
    mapped = classify(refused, "hashtag timeline", None, has_token=False)
    assert isinstance(mapped, SourceAuthError)
    assert "needs a signed-in account" in str(mapped)
    assert "\n" not in str(mapped)
