"""Routing: every rule kind, first match wins, and the reason names what held."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagement.routing import NO_MATCH, Decision, RouteInput, Router, explain, route
from socialcrm.settings import EngagementSettings, RuleSettings

ITEM = RouteInput(source="reddit", text="The pen leaked all over my notes.")


def rule(**conditions: Any) -> RuleSettings:
    """A rule named `r` with the given conditions."""
    return RuleSettings(name="r", **conditions)


def reason(conditions: dict[str, Any], item: RouteInput) -> str | None:
    """The reason `r` gives for `item`, or None when it does not match."""
    decision = route([rule(**conditions)], item)
    return None if decision.rule is None else decision.reason


# (conditions, item changes that make it hold and the reason, item changes that make it fail)
KINDS: list[tuple[str, dict[str, Any], dict[str, Any], str, dict[str, Any]]] = [
    (
        "intents",
        {"intents": ["complaint", "question"], "min_probability": 0.5},
        {"intents": {"complaint": 0.91, "question": 0.55}},
        "complaint 0.91 >= 0.50",
        {"intents": {"complaint": 0.49, "praise": 0.99}},
    ),
    (
        "sentiments",
        {"sentiments": ["negative", "neutral"]},
        {"sentiment": "negative"},
        "sentiment negative",
        {"sentiment": "positive"},
    ),
    (
        "needs_reply",
        {"needs_reply_at_least": 0.6},
        {"needs_reply": 0.72},
        "needs_reply 0.72 >= 0.60",
        {"needs_reply": 0.59},
    ),
    (
        "needs_reply unknown",
        {"needs_reply_at_least": 0.6},
        {"needs_reply": None, "uncertain": True},
        "needs_reply unknown (uncertain)",
        {"needs_reply": None, "uncertain": False},
    ),
    ("uncertain", {"uncertain": True}, {"uncertain": True}, "uncertain", {"uncertain": False}),
    (
        "certain",
        {"uncertain": False},
        {"uncertain": False},
        "not uncertain",
        {"uncertain": True},
    ),
    ("segments", {"segments": ["A", "B"]}, {"segment": "B"}, "segment B", {"segment": "C"}),
    ("vip", {"vip": True}, {"vip": True}, "vip", {"vip": False}),
    ("not vip", {"vip": False}, {"vip": False}, "not vip", {"vip": True}),
    ("customer", {"customer": True}, {"customer_id": 42}, "customer 42", {"customer_id": None}),
    (
        "no customer",
        {"customer": False},
        {"customer_id": None},
        "no customer",
        {"customer_id": 7},
    ),
    ("sources", {"sources": ["Reddit", "bluesky"]}, {}, "source reddit", {"source": "mastodon"}),
    (
        "query prefix",
        {"queries": ["competitor:"]},
        {"matched_query": "Competitor:Acme"},
        "query Competitor:Acme",
        {"matched_query": "brand:inkwell"},
    ),
    (
        "query exact",
        {"queries": ["brand:inkwell"]},
        {"matched_query": "BRAND:Inkwell"},
        "query BRAND:Inkwell",
        {"matched_query": "brand:inkwell-pro"},
    ),
    (
        "keywords in text",
        {"keywords": ["refund", "leaked"]},
        {},
        "keyword 'leaked'",
        {"text": "The pen is unleakedable"},
    ),
    (
        "keywords in title",
        {"keywords": ["refund"]},
        {"title": "REFUND please"},
        "keyword 'refund'",
        {"title": "refunds please"},
    ),
]


@pytest.mark.parametrize(
    ("conditions", "holds", "why", "fails"),
    [kind[1:] for kind in KINDS],
    ids=[kind[0] for kind in KINDS],
)
def test_every_rule_kind_holds_and_fails(
    conditions: dict[str, Any], holds: dict[str, Any], why: str, fails: dict[str, Any]
) -> None:
    assert reason(conditions, replace(ITEM, **holds)) == f"rule r: {why}"
    assert reason(conditions, replace(ITEM, **fails)) is None


@pytest.mark.parametrize(
    ("conditions", "item"),
    [
        ({"intents": ["complaint"]}, ITEM),  # not labelled: no intents at all
        ({"sentiments": ["negative"]}, ITEM),  # not labelled
        ({"segments": ["A"]}, ITEM),  # no customer, no segment
        ({"queries": ["competitor:"]}, ITEM),  # no matched query
        ({"queries": ["competitor"]}, replace(ITEM, matched_query="competitor:acme")),
    ],
)
def test_a_missing_value_never_satisfies_a_condition(
    conditions: dict[str, Any], item: RouteInput
) -> None:
    assert reason(conditions, item) is None


def test_the_intent_threshold_is_inclusive_and_the_best_listed_intent_is_named() -> None:
    item = replace(ITEM, intents={"question": 0.5, "complaint": 0.7, "spam": 0.99})
    got = reason({"intents": ["question", "complaint"], "min_probability": 0.5}, item)
    assert got == "rule r: complaint 0.70 >= 0.50"
    assert reason({"intents": ["question"], "min_probability": 0.5}, item) is not None


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("my #inkwell pen", True),
        ("inkwell's cap", True),
        ("ask for a REFUND  NOW", True),
        ("refundable", False),
        ("prerefund", False),
        ("c++ compiler", True),
        ("c+ compiler", False),
    ],
)
def test_keywords_match_on_word_boundaries_case_insensitively(text: str, matches: bool) -> None:
    conditions = {"keywords": ["#inkwell", "inkwell", "refund now", "c++"]}
    assert (reason(conditions, replace(ITEM, text=text)) is not None) is matches


def test_a_keyword_phrase_does_not_match_across_title_and_text() -> None:
    item = replace(ITEM, title="please refund", text="now or never")
    assert reason({"keywords": ["refund now"]}, item) is None


def test_the_longest_keyword_is_named() -> None:
    item = replace(ITEM, text="I want a refund now")
    assert reason({"keywords": ["refund", "refund now"]}, item) == "rule r: keyword 'refund now'"


def test_every_condition_must_hold_and_each_is_named_in_order() -> None:
    conditions = {"intents": ["complaint"], "sentiments": ["negative"], "vip": True}
    item = replace(ITEM, intents={"complaint": 0.91}, sentiment="negative", vip=True)
    assert reason(conditions, item) == "rule r: complaint 0.91 >= 0.50; sentiment negative; vip"
    assert reason(conditions, replace(item, vip=False)) is None
    assert reason(conditions, replace(item, sentiment="neutral")) is None


def test_a_rule_without_conditions_matches_everything() -> None:
    assert reason({}, ITEM) == "rule r: no conditions"


def test_the_first_matching_rule_wins() -> None:
    rules = [
        RuleSettings(name="sales", intents=["purchase_intent"], queue="sales", priority=2),
        RuleSettings(name="complaint", intents=["complaint"], queue="support", sla_minutes=240),
        RuleSettings(name="any-complaint", intents=["complaint"], queue="other", priority=1),
    ]
    item = replace(ITEM, intents={"complaint": 0.8})
    assert route(rules, item) == Decision(
        rule="complaint",
        action="task",
        queue="support",
        priority=3,
        sla_minutes=240,
        business_hours=True,
        reason="rule complaint: complaint 0.80 >= 0.50",
    )
    assert route(list(reversed(rules)), item).rule == "any-complaint"


def test_an_ignore_rule_has_no_queue() -> None:
    rules = [RuleSettings(name="spam", intents=["spam"], min_probability=0.8, action="ignore")]
    decision = route(rules, replace(ITEM, intents={"spam": 0.95}))
    assert (decision.rule, decision.action, decision.queue) == ("spam", "ignore", None)


def test_no_rule_matched() -> None:
    rules = [rule(sources=["bluesky"])]
    assert route(rules, ITEM) == NO_MATCH
    assert route([], ITEM) == NO_MATCH
    assert (NO_MATCH.rule, NO_MATCH.action, NO_MATCH.queue) == (None, "none", None)
    assert NO_MATCH.reason == "no rule matched"


def test_explain_says_none_when_a_rule_does_not_match() -> None:
    assert explain(rule(vip=True), ITEM) is None
    assert explain(rule(vip=False), ITEM) == "rule r: not vip"


DEFAULTS = EngagementSettings().rules


@pytest.mark.parametrize(
    ("changes", "expected_rule", "queue"),
    [
        ({"intents": {"spam": 0.9, "complaint": 0.9}}, "spam", None),
        ({"intents": {"complaint": 0.9}, "vip": True}, "vip-complaint", "escalations"),
        ({"uncertain": True, "needs_reply": None}, "unsure", "triage"),
        ({"uncertain": True, "needs_reply": 0.2}, None, None),
        ({"intents": {"complaint": 0.9}}, "complaint", "support"),
        ({"intents": {"question": 0.6}}, "question", "support"),
        ({"intents": {"purchase_intent": 0.7}}, "lead", "sales"),
        ({"needs_reply": 0.65}, "needs-reply", "community"),
        ({"intents": {"praise": 0.9}, "needs_reply": 0.1}, None, None),
    ],
)
def test_the_default_rules(
    changes: dict[str, Any], expected_rule: str | None, queue: str | None
) -> None:
    decision = Router(DEFAULTS).route(replace(ITEM, **changes))
    assert (decision.rule, decision.queue) == (expected_rule, queue)


def test_a_router_compiles_once_and_routes_many() -> None:
    router = Router([RuleSettings(name="kw", keywords=["leak", "broken"], queue="support")])
    items = [
        replace(ITEM, text=f"item {n} is {word}") for n in range(50) for word in ("ok", "broken")
    ]
    queues = [router.route(item).queue for item in items]
    assert queues.count("support") == 50
    assert queues.count(None) == 50


labels = st.sampled_from(["negative", "neutral", "positive", None])
probability = st.floats(0, 1)
items = st.builds(
    RouteInput,
    source=st.sampled_from(["reddit", "mastodon", "bluesky"]),
    text=st.text(max_size=40),
    title=st.none() | st.text(max_size=20),
    matched_query=st.none() | st.sampled_from(["brand:inkwell", "competitor:acme"]),
    sentiment=labels,
    intents=st.dictionaries(st.sampled_from(["complaint", "question", "spam"]), probability),
    needs_reply=st.none() | probability,
    uncertain=st.booleans(),
    customer_id=st.none() | st.integers(1, 5),
    segment=st.sampled_from(["A", "B", "C", None]),
    vip=st.booleans(),
)


@given(items)
def test_routing_is_the_first_rule_that_explains_the_item(item: RouteInput) -> None:
    decision = route(DEFAULTS, item)
    explained = [(r.name, explain(r, item)) for r in DEFAULTS]
    first = next(((name, why) for name, why in explained if why is not None), (None, None))
    assert (decision.rule, decision.reason if decision.rule else None) == first
    if decision.rule is not None:
        assert decision.reason.startswith(f"rule {decision.rule}: ")


@given(items)
def test_a_catch_all_rule_at_the_end_routes_everything(item: RouteInput) -> None:
    catch_all = RuleSettings(name="rest", queue="triage", priority=5)
    decision = route([*DEFAULTS, catch_all], item)
    assert decision.action in {"task", "ignore"}
    assert decision.rule is not None
