"""Routing rules: the first rule whose every condition holds decides queue, priority and SLA."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from socialcrm.settings import RuleSettings

Segment = Literal["A", "B", "C"]
RouteAction = Literal["task", "ignore", "none"]


@dataclass(frozen=True)
class RouteInput:
    """What routing looks at for one mention: its labels, where it came from, who wrote it."""

    source: str
    text: str
    title: str | None = None
    matched_query: str | None = None
    # None: not labelled (e.g. a language the model does not know)
    sentiment: str | None = None
    sentiment_confidence: float | None = None
    intents: Mapping[str, float] = field(default_factory=dict)
    needs_reply: float | None = None
    uncertain: bool = False
    lang: str | None = None
    customer_id: int | None = None
    segment: Segment | None = None
    vip: bool = False


@dataclass(frozen=True)
class Decision:
    """What to do with a mention, and why (the reason is stored on the task and shown on cards)."""

    rule: str | None
    action: RouteAction
    queue: str | None
    priority: int
    sla_minutes: int
    business_hours: bool
    reason: str


NO_MATCH = Decision(
    rule=None,
    action="none",
    queue=None,
    priority=5,
    sla_minutes=0,
    business_hours=True,
    reason="no rule matched",
)

# one condition: None when the rule does not set it, else (holds, what held with its value)
Outcome = tuple[bool, str] | None


@lru_cache(maxsize=1024)
def _keyword_pattern(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex for a rule's keywords, compiled once per distinct list."""
    words = [r"\s+".join(re.escape(word) for word in term.split()) for term in terms]
    words = sorted({word for word in words if word}, key=len, reverse=True)  # longest wins
    if not words:
        return None
    # lookarounds instead of \b so terms starting or ending in symbols (#tag, c++) still work
    return re.compile(rf"(?<!\w)(?:{'|'.join(words)})(?!\w)", re.IGNORECASE)


def _intents(rule: RuleSettings, item: RouteInput) -> Outcome:
    if not rule.intents:
        return None
    scores = [(item.intents.get(name, 0.0), name) for name in rule.intents]
    hits = [(score, name) for score, name in scores if score >= rule.min_probability]
    if not hits:
        return False, ""
    score, name = max(hits, key=lambda hit: hit[0])
    return True, f"{name} {score:.2f} >= {rule.min_probability:.2f}"


def _sentiments(rule: RuleSettings, item: RouteInput) -> Outcome:
    if not rule.sentiments:
        return None
    return item.sentiment in rule.sentiments, f"sentiment {item.sentiment}"


def _needs_reply(rule: RuleSettings, item: RouteInput) -> Outcome:
    least = rule.needs_reply_at_least
    if least is None:
        return None
    if item.needs_reply is None:
        # not labelled: a person should look rather than the mention falling through
        return item.uncertain, "needs_reply unknown (uncertain)"
    return item.needs_reply >= least, f"needs_reply {item.needs_reply:.2f} >= {least:.2f}"


def _uncertain(rule: RuleSettings, item: RouteInput) -> Outcome:
    if rule.uncertain is None:
        return None
    return item.uncertain == rule.uncertain, "uncertain" if item.uncertain else "not uncertain"


def _segments(rule: RuleSettings, item: RouteInput) -> Outcome:
    if not rule.segments:
        return None
    return item.segment in rule.segments, f"segment {item.segment}"


def _vip(rule: RuleSettings, item: RouteInput) -> Outcome:
    if rule.vip is None:
        return None
    return item.vip == rule.vip, "vip" if item.vip else "not vip"


def _customer(rule: RuleSettings, item: RouteInput) -> Outcome:
    if rule.customer is None:
        return None
    linked = item.customer_id is not None
    return linked == rule.customer, f"customer {item.customer_id}" if linked else "no customer"


def _sources(rule: RuleSettings, item: RouteInput) -> Outcome:
    if not rule.sources:
        return None
    wanted = {source.casefold() for source in rule.sources}
    return item.source.casefold() in wanted, f"source {item.source}"


def _query_matches(pattern: str, query: str) -> bool:
    # "competitor:" is a family of queries; anything else names one query
    if pattern.endswith(":"):
        return query.startswith(pattern.casefold())
    return query == pattern.casefold()


def _queries(rule: RuleSettings, item: RouteInput) -> Outcome:
    if not rule.queries:
        return None
    query = (item.matched_query or "").casefold()
    held = bool(query) and any(_query_matches(pattern, query) for pattern in rule.queries)
    return held, f"query {item.matched_query}"


def _keywords(rule: RuleSettings, item: RouteInput) -> Outcome:
    pattern = _keyword_pattern(tuple(rule.keywords))
    if pattern is None:
        return None
    # title and text separately: a phrase must not match across the seam between them
    found = pattern.search(item.title or "") or pattern.search(item.text)
    if found is None:
        return False, ""
    return True, f"keyword {' '.join(found.group(0).casefold().split())!r}"


CONDITIONS: tuple[Callable[[RuleSettings, RouteInput], Outcome], ...] = (
    _intents,
    _sentiments,
    _needs_reply,
    _uncertain,
    _segments,
    _vip,
    _customer,
    _sources,
    _queries,
    _keywords,
)


def explain(rule: RuleSettings, item: RouteInput) -> str | None:
    """Why `rule` matches `item` (each condition that held, with its value), or None if not."""
    held: list[str] = []
    for condition in CONDITIONS:
        outcome = condition(rule, item)
        if outcome is None:
            continue
        ok, why = outcome
        if not ok:
            return None
        held.append(why)
    return f"rule {rule.name}: {'; '.join(held) or 'no conditions'}"


def _decide(rule: RuleSettings, reason: str) -> Decision:
    return Decision(
        rule=rule.name,
        action=rule.action,
        queue=rule.queue if rule.action == "task" else None,
        priority=rule.priority,
        sla_minutes=rule.sla_minutes,
        business_hours=rule.business_hours,
        reason=reason,
    )


class Router:
    """The rules from settings, keyword patterns compiled once, ready to route many mentions."""

    def __init__(self, rules: Sequence[RuleSettings]) -> None:
        self.rules = tuple(rules)
        for rule in self.rules:
            _keyword_pattern(tuple(rule.keywords))  # compile now, not while routing the first item

    def route(self, item: RouteInput) -> Decision:
        """The decision of the first rule that matches `item`; `NO_MATCH` when none does."""
        for rule in self.rules:
            reason = explain(rule, item)
            if reason is not None:
                return _decide(rule, reason)
        return NO_MATCH


def route(rules: Sequence[RuleSettings], item: RouteInput) -> Decision:
    """Route one mention: the first rule in `rules` whose every given condition holds wins."""
    return Router(rules).route(item)
