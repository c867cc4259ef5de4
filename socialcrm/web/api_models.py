"""The REST API's response bodies: typed, so the OpenAPI schema says exactly what comes back."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_ID: Final = 2**63 - 1  # ids are 64-bit on PostgreSQL: a larger number names nothing


class Model(BaseModel):
    """A response body: unknown fields are refused, so the schema and the data cannot drift."""

    model_config = ConfigDict(extra="forbid")


class Error(Model):
    """What went wrong, in one line."""

    detail: str


class Sentiment(StrEnum):
    """A sentiment label, or `unlabelled` for mentions in a language the model does not label."""

    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"
    UNLABELLED = "unlabelled"


class Intent(StrEnum):
    """An intent the NLP stage detects (present at probability ≥ 0.5)."""

    COMPLAINT = "complaint"
    QUESTION = "question"
    PURCHASE_INTENT = "purchase_intent"
    PRAISE = "praise"
    FEATURE_REQUEST = "feature_request"
    SPAM = "spam"


class AuthorOut(Model):
    """Who wrote a mention, as the platform names them."""

    id: int
    source: str
    handle: str
    display_name: str | None
    url: str | None
    followers: int | None
    customer_id: int | None


class LabelsOut(Model):
    """The NLP stage's labels of a mention."""

    sentiment: str | None
    sentiment_scores: dict[str, float]
    intents: dict[str, float]
    needs_reply: float | None
    uncertain: bool
    lang: str | None
    model: str


class MentionOut(Model):
    """One collected post or comment with its author and labels."""

    id: int
    source: str
    source_id: str
    text: str
    title: str | None
    url: str | None
    lang: str | None
    thread_id: str | None
    parent_id: str | None
    matched_query: str | None
    created_at: datetime
    collected_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    state: str
    author: AuthorOut
    labels: LabelsOut | None
    task_id: int | None = Field(description="The engagement task the mention belongs to, if any.")


class ReplyOut(Model):
    """A reply we posted (or are posting) to a mention."""

    id: int
    text: str
    state: str
    url: str | None
    created_at: datetime
    sent_at: datetime | None


class MentionDetail(MentionOut):
    """One mention, the rest of its thread (oldest first, at most 100) and our replies."""

    thread: list[MentionOut]
    replies: list[ReplyOut]


class MentionPage(Model):
    """Mentions newest first; pass `next` as `after` for the following page (null: no more)."""

    items: list[MentionOut]
    next: int | None


class CustomerOut(Model):
    """A customer record."""

    id: int
    name: str | None
    email: str | None
    crm_id: str | None
    merged_into_id: int | None
    created_at: datetime
    updated_at: datetime


class CustomerPage(Model):
    """Customers by id; pass `next` as `after` for the following page (null: no more)."""

    items: list[CustomerOut]
    next: int | None


class IdentityOut(Model):
    """One identity of a customer, with how sure the link is."""

    kind: str
    value: str
    confidence: float


class LinkedAuthorOut(Model):
    """A platform account linked to the customer, and how the link was made."""

    id: int
    source: str
    handle: str
    display_name: str | None
    url: str | None
    link_method: str | None
    link_confidence: float | None
    linked_at: datetime | None


class HistoryItemOut(Model):
    """One entry of the contact history: a mention, our reply, a staff action, a record change."""

    at: datetime
    kind: str
    summary: str
    actor: str | None
    details: dict[str, Any]


class TrendOut(Model):
    """Mean sentiment score (-1..1) of the last window and of the one before it."""

    window_days: float
    recent_mean: float | None
    recent_count: int
    previous_mean: float | None
    previous_count: int
    change: float | None


class TopicsOut(Model):
    """In how many of the customer's mentions each term, hashtag and subreddit comes up."""

    terms: dict[str, int]
    hashtags: dict[str, int]
    subreddits: dict[str, int]


class EngagementOut(Model):
    """The engagement score: weighted interactions decaying with this half-life."""

    score: float
    half_life_days: float


class ValueOut(Model):
    """The customer's value (a CRM attribute) and ABC segment."""

    field: str
    amount: float | None
    segment: Literal["A", "B", "C"] | None


class CustomerProfile(Model):
    """The enriched profile of a customer (crm_sync.profile; docs/crm.md)."""

    customer_id: int
    name: str | None
    email: str | None
    crm_id: str | None
    attributes: dict[str, Any]
    merged_into_id: int | None
    computed_at: datetime
    identities: list[IdentityOut]
    authors: list[LinkedAuthorOut]
    counts: dict[str, int]
    first_mention_at: datetime | None
    last_mention_at: datetime | None
    sentiment: dict[str, int]
    trend: TrendOut
    intents: dict[str, int]
    topics: TopicsOut
    engagement: EngagementOut
    value: ValueOut
    churn_risk: bool
    recent: list[HistoryItemOut]
    history: list[HistoryItemOut]


class TaskOut(Model):
    """A unit of engagement work: one conversation that needs staff."""

    id: int
    state: str
    priority: int
    queue: str
    rule: str | None
    reason: str | None
    assignee: str | None
    mention_id: int
    author_id: int
    claimed_at: datetime | None
    draft: str | None
    approved_by: str | None
    reply_url: str | None
    sla_due_at: datetime | None
    sla_breached_at: datetime | None
    opened_at: datetime
    first_response_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    created_at: datetime
    updated_at: datetime


class NoteOut(Model):
    """An internal note on a task."""

    id: int
    author: str
    text: str
    created_at: datetime


class TaskDetail(TaskOut):
    """One task with the mention a reply answers, the conversation's mentions and the notes."""

    mention: MentionOut
    mention_ids: list[int]
    notes: list[NoteOut]


class TaskPage(Model):
    """Tasks newest first; pass `next` as `after` for the following page (null: no more)."""

    items: list[TaskOut]
    next: int | None


class IngestResult(Model):
    """What a pushed mention became: its id, and whether it was new."""

    id: int
    created: bool
