"""Hostile text neutralised; task cards, alerts and incident messages in Discord's shape."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagement import cards
from engagement.cards import (
    ZWSP,
    CustomerSummary,
    IncidentView,
    TaskView,
    alert_content,
    incident_card,
    neutralise,
    task_card,
)

HOSTILE = [
    "@everyone",
    "@here",
    "<@123456789012345678>",
    "<@!123456789012345678>",
    "<@&123>",
    "<#123456789012345678>",
    "</deploy:123456789012345678>",
    "[x](javascript:alert(1))",
    "[free money](https://evil.example/steal)",
]
# what would ping someone or point somewhere in Discord
LIVE_MENTION = re.compile(r"@(everyone|here)|<@[!&]?\d+>|<#\d+>|</[^>\s]+:\d+>", re.IGNORECASE)
DUE = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


def unescaped(text: str) -> str:
    """`text` without its backslash escapes: what markdown parses as syntax."""
    return re.sub(r"\\.", "", text, flags=re.DOTALL)


def assert_inert(text: str) -> None:
    """No live mention, no masked link, no inline markup left in `text`."""
    assert not LIVE_MENTION.search(text), text
    syntax = unescaped(text)
    assert not set("[]()`*|~<>") & set(syntax), text


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_pings_and_links_no_one(hostile: str) -> None:
    out = neutralise(f"hello {hostile} bye", 200)
    assert_inert(out)
    assert hostile not in out


def test_masked_link_is_shown_as_text() -> None:
    assert neutralise("[x](javascript:alert(1))", 100) == r"\[x\]\(javascript:alert\(1\)\)"


def test_two_masked_links_on_one_line_are_both_escaped() -> None:
    # discord.py's escape_markdown escapes only the first of these (its pattern is greedy)
    out = neutralise("[a](https://a.example) and [b](https://b.example)", 200)
    assert out.count(r"\[") == 2
    assert_inert(out)


def test_mentions_get_a_zero_width_space() -> None:
    assert neutralise("@everyone <@&123>", 100) == f"@{ZWSP}everyone \\<{ZWSP}@{ZWSP}&123\\>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("**bold** _it_ ~~gone~~ `code` ||spoiler||", r"\*\*bold\*\* \_it\_ \~\~gone\~\~"),
        ("# Heading", r"\# Heading"),
        ("-# subtext", r"\-# subtext"),
        ("> quote", r"\> quote"),
        ("  - item", r"  \- item"),
        ("1. first", r"1\. first"),
        ("back\\slash", r"back\\slash"),
    ],
)
def test_markdown_is_escaped(text: str, expected: str) -> None:
    assert neutralise(text, 200).startswith(expected)


def test_plain_text_is_left_alone() -> None:
    assert neutralise("Your app crashed twice today, 3 times yesterday.", 200) == (
        "Your app crashed twice today, 3 times yesterday."
    )


def test_urls_stay_clickable() -> None:
    out = neutralise("see https://mastodon.social/@ana/1_2 and https://w.org/Foo_(bar).", 200)
    assert "https://mastodon.social/@ana/1_2 " in out  # no escape, no zero-width space inside
    assert "https://w.org/Foo_%28bar%29\\." not in out
    assert "https://w.org/Foo_%28bar%29." in out


def test_a_url_cannot_smuggle_everyone_or_parentheses() -> None:
    out = neutralise("https://x.example/@everyone/(a)", 200)
    assert out == "https://x.example/%40everyone/%28a%29"
    assert_inert(out)


def test_controls_and_bidi_overrides_are_dropped() -> None:
    assert neutralise("a\x00b\u202ec\r\nd", 50) == "abc\nd"


def test_long_text_is_cut_with_an_ellipsis() -> None:
    out = neutralise("word " * 100, 50)
    assert len(out) == 50
    assert out.endswith("…")


def test_a_cut_never_leaves_a_lone_backslash() -> None:
    out = neutralise("a" * 8 + "[b", 10)  # escaped "aaaaaaaa\[b": a cut at 9 splits "\["
    assert out == "a" * 8 + "…"


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="limit"):
        neutralise("x", 0)


fragments = st.sampled_from(
    [*HOSTILE, "@", "<", ">", "[", "]", "(", ")", "\\", "*", "_", "`", "|", "~", "#", "-",
     "1.", "\n", " ", "https://a.example/", "everyone", "here", "javascript:", "\u200b"]
)  # fmt: skip
hostile_text = st.lists(fragments | st.text(max_size=8), max_size=40).map("".join)


@given(text=hostile_text, limit=st.integers(min_value=1, max_value=300))
def test_no_output_has_a_live_mention_or_a_masked_link(text: str, limit: int) -> None:
    out = neutralise(text, limit)
    assert len(out) <= limit
    assert_inert(out.removesuffix("…"))


@given(text=st.text(alphabet=st.characters(categories=["L", "N", "Zs"]), max_size=200))
def test_plain_words_come_out_unchanged(text: str) -> None:
    assert neutralise(text, 500) == text


def view(**changes: Any) -> TaskView:
    """A task view with hostile text everywhere the internet writes."""
    values: dict[str, Any] = {
        "task_id": 12,
        "state": "notified",
        "priority": 1,
        "queue": "support",
        "source": "reddit",
        "text": "Refund now @everyone [x](javascript:alert(1)) <@&123>",
        "title": "**URGENT** <@123456789012345678>",
        "author_handle": "ana_<@&9>",
        "author_name": "[Ana](https://evil.example)",
        "followers": 1234,
        "mention_url": "https://reddit.com/r/x/comments/1",
        "matched_query": "brand:@here",
        "sentiment": "negative",
        "sentiment_confidence": 0.91,
        "intents": {"complaint": 0.91, "question": 0.4, "praise": 0.05},
        "reason": "rule complaint: complaint 0.91 >= 0.50",
        "sla_due_at": DUE,
        "customer": CustomerSummary(
            id=7, name="Ana @here", segment="A", vip=True, mentions_total=5, open_tasks=2
        ),
    }
    return TaskView(**(values | changes))


def texts(embed: dict[str, Any]) -> list[str]:
    """Every piece of text in an embed."""
    found = [embed.get("title", ""), embed.get("description", ""), embed["footer"]["text"]]
    for item in embed["fields"]:
        found += [item["name"], item["value"]]
    return found


def fields(embed: dict[str, Any]) -> dict[str, str]:
    """Field values by name."""
    return {item["name"]: item["value"] for item in embed["fields"]}


def test_task_card_neutralises_everything_from_the_internet() -> None:
    content = task_card(view(), 1500)
    assert content.embed is not None
    for text in texts(content.embed):
        assert not LIVE_MENTION.search(text), text
        assert "](javascript" not in text
        assert "[Ana](" not in text


def test_task_card_shows_what_staff_need() -> None:
    embed = task_card(view(), 1500).embed
    assert embed is not None
    assert embed["title"] == "[P1] Reddit · complaint"
    assert embed["url"] == "https://reddit.com/r/x/comments/1"
    shown = fields(embed)
    assert list(shown) == [
        "Author", "Customer", "Sentiment", "Intents", "Query", "SLA due", "State / owner", "Why",
    ]  # fmt: skip
    assert "1,234 followers" in shown["Author"]
    assert "segment A · VIP" in shown["Customer"]
    assert "5 mentions" in shown["Customer"]
    assert "2 open tasks" in shown["Customer"]
    assert shown["Sentiment"] == "negative 91%"
    assert shown["Intents"] == "complaint 91%, question 40%"
    assert shown["SLA due"] == f"<t:{int(DUE.timestamp())}:R>"
    assert shown["State / owner"] == "notified · unclaimed"
    assert embed["footer"]["text"] == "task 12 · queue support"


def test_uncertain_and_unlabelled_are_marked() -> None:
    uncertain = fields(task_card(view(uncertain=True), 1500).embed or {})
    assert uncertain["Sentiment"] == "negative 91% · uncertain"
    other = fields(task_card(view(sentiment=None, lang="de", intents={}), 1500).embed or {})
    assert other["Sentiment"] == "not labelled (de)"
    assert other["Intents"] == "none"


def test_sla_warning_and_breach_show_on_the_card() -> None:
    assert "due soon" in fields(task_card(view(sla_warned=True), 1500).embed or {})["SLA due"]
    assert "breached" in fields(task_card(view(sla_breached=True), 1500).embed or {})["SLA due"]


def test_long_text_is_cut_with_a_link_to_the_original() -> None:
    embed = task_card(view(text="very long complaint " * 300, title=None), 1500).embed or {}
    assert len(embed["description"]) <= 1500
    assert embed["description"].endswith(
        "…\n[Read the whole post](https://reddit.com/r/x/comments/1)"
    )


def test_a_hostile_mention_url_is_not_linked() -> None:
    embed = task_card(view(mention_url="javascript:alert(1)", text="x " * 2000), 200).embed or {}
    assert "url" not in embed
    assert "javascript" not in embed["description"]


def test_owner_draft_and_reply_link() -> None:
    drafted = task_card(view(state="approved", assignee="discord:123456789012345678",
                             draft="Sorry @everyone", approved_by="cli:bo"), 1500)  # fmt: skip
    shown = fields(drafted.embed or {})
    assert shown["State / owner"] == "approved · <@123456789012345678> · approved by cli:bo"
    assert shown["Draft"] == f"Sorry @{ZWSP}everyone"
    sent = fields(task_card(view(state="sent", reply_url="https://r.example/1"), 1500).embed or {})
    assert sent["Reply"] == "[See the reply](https://r.example/1)"
    assert "SLA due" not in sent  # answered: the clock no longer matters


def test_every_part_fits_discord_limits() -> None:
    big = view(text="ä" * 5000, title="t" * 500, author_name="n" * 500, reason="r" * 3000,
               draft="d" * 3000, state="drafted")  # fmt: skip
    embed = task_card(big, 3500).embed or {}
    assert len(embed["title"]) <= 256
    assert len(embed["description"]) <= 4096
    assert all(len(item["value"]) <= 1024 for item in embed["fields"])
    assert sum(len(text) for text in texts(embed)) <= 6000


@pytest.mark.parametrize(
    ("state", "enabled"),
    [
        ("notified", {"claim", "reply", "note", "dismiss", "escalate", "correct"}),
        ("claimed", {"claim", "reply", "note", "dismiss", "escalate", "correct"}),
        ("escalated", {"claim", "reply", "note", "dismiss", "correct"}),
        ("sent", {"note", "correct"}),
        ("dismissed", {"note", "correct"}),
    ],
)
def test_buttons_follow_the_state(state: str, enabled: set[str]) -> None:
    buttons = task_card(view(state=state), 1500).buttons
    assert [b.custom_id for b in buttons] == [
        f"task:12:{action}"
        for action in ("claim", "reply", "note", "dismiss", "escalate", "correct")
    ]
    assert {b.custom_id.split(":")[2] for b in buttons if not b.disabled} == enabled


def test_closed_cards_change_colour() -> None:
    open_colour = (task_card(view(), 1500).embed or {})["color"]
    assert (task_card(view(state="sent"), 1500).embed or {})["color"] != open_colour


def test_alert_content_is_neutralised() -> None:
    content = alert_content("source reddit failing: <@&1> [x](javascript:alert(1))")
    assert content.embed is None
    assert content.content is not None
    assert_inert(content.content)


def incident(**changes: Any) -> IncidentView:
    """An incident with hostile drivers."""
    values: dict[str, Any] = {
        "id": 3,
        "query": "brand:inkwell",
        "window_start": datetime(2026, 11, 3, 9, 0, tzinfo=UTC),
        "kind": "volume+negative",
        "volume": 40,
        "negatives": 30,
        "baseline": {"mean": 4.0, "sigma": 2.0, "share_mean": 0.1},
        "drivers": {
            "terms": [["refund", 12], ["@everyone", 3]],
            "posts": [{"url": "https://r.example/1", "text": "[x](javascript:alert(1)) broken",
                       "reach": 900, "sentiment": "negative"}],
            "sentiment": {"negative": 30, "neutral": 8, "positive": 2},
        },
    }  # fmt: skip
    return IncidentView(**(values | changes))


def test_incident_card_shows_the_spike_and_its_drivers() -> None:
    content = incident_card(incident())
    embed = content.embed or {}
    assert embed["title"] == "Spike · volume+negative"
    assert (
        "**40** mentions (usually 4.0 ± 2.0), 75% negative (usually 10%)" in (embed["description"])
    )
    shown = fields(embed)
    assert shown["Top terms"] == f"refund (12), @{ZWSP}everyone (3)"
    assert "([open](https://r.example/1))" in shown["Top posts"]
    assert "\\[x\\]\\(javascript" in shown["Top posts"]
    assert shown["Sentiment"] == "negative 30 · neutral 8 · positive 2"
    assert shown["Acknowledged"] == "not yet"
    (button,) = content.buttons
    assert (button.custom_id, button.label, button.disabled) == (
        "incident:3:ack", "Acknowledge", False,
    )  # fmt: skip


def test_acknowledged_incident_disables_the_button() -> None:
    at = datetime(2026, 11, 3, 10, 5, tzinfo=UTC)
    content = incident_card(incident(acknowledged_at=at, acknowledged_by="cli:ana"))
    (button,) = content.buttons
    assert button.disabled
    assert button.label == "Acknowledged by cli:ana"
    assert fields(content.embed or {})["Acknowledged"] == f"by cli:ana <t:{int(at.timestamp())}:R>"


def test_incident_posts_that_do_not_fit_are_left_out_whole() -> None:
    post = {"url": "https://r.example/" + "p" * 200, "text": "t" * 300, "reach": 1}
    shown = fields(incident_card(incident(drivers={"posts": [post] * 10})).embed or {})
    assert len(shown["Top posts"]) <= cards.FIELD_LIMIT
    assert shown["Top posts"].count("([open](") == shown["Top posts"].count("•")


def test_markdown_characters_in_a_url_are_percent_encoded() -> None:
    # found by hypothesis: a URL ending in "*" was left as markup
    assert neutralise("https://a.example/*x|y~z", 100) == "https://a.example/%2Ax%7Cy%7Ez"


def test_a_language_tag_from_the_platform_is_escaped_too() -> None:
    # a Bluesky post names its own language: up to 16 characters of the author's choosing
    card = task_card(view(sentiment=None, lang="[x](http://x.co)"), 500)
    fields = card.embed["fields"] if card.embed else []
    (sentiment,) = [f["value"] for f in fields if f["name"] == "Sentiment"]
    assert sentiment.startswith(r"not labelled (\[x\]\(http")
