"""The tables: SQLAlchemy 2.x declarative models, portable between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from socialcrm.mention import MentionState, utcnow

# integer ids that autoincrement on SQLite (which wants INTEGER) and are 64-bit on PostgreSQL
Id = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores tz-aware UTC datetimes; SQLite keeps no zone, so it is put back on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return tz-aware UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (Alembic needs them)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Author(Base):
    """A person or account as one platform knows them."""

    __tablename__ = "authors"
    __table_args__ = (UniqueConstraint("source", "key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    handle: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(255))
    url: Mapped[str | None] = mapped_column(String(2048))
    followers: Mapped[int | None] = mapped_column(Integer)
    # what the profile says about itself: evidence for linking the author to a customer
    bio: Mapped[str | None] = mapped_column(Text)
    # [{"url", "verified"}]; SQL NULL (not JSON null) when unknown, so an upsert can keep the old
    links: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    customer_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    # how the link to the customer was made: exact | evidence | manual; with its confidence
    link_method: Mapped[str | None] = mapped_column(String(16))
    link_confidence: Mapped[float | None] = mapped_column(Float)
    link_evidence: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    linked_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class Mention(Base):
    """One collected post or comment; `(source, source_id)` is its identity everywhere."""

    __tablename__ = "mentions"
    __table_args__ = (
        UniqueConstraint("source", "source_id"),
        Index("ix_mentions_state_id", "state", "id"),
        Index("ix_mentions_source_created_at", "source", "created_at"),
        Index("ix_mentions_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(255))
    author_id: Mapped[int] = mapped_column(
        Id, ForeignKey("authors.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(2048))
    lang: Mapped[str | None] = mapped_column(String(16))
    thread_id: Mapped[str | None] = mapped_column(String(255))
    parent_id: Mapped[str | None] = mapped_column(String(255))
    matched_query: Mapped[str | None] = mapped_column(String(255))
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    collected_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default=MentionState.COLLECTED.value)
    state_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the platform said it was edited (text updated) / it was deleted there (nothing to answer)
    edited_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]


class CollectorCursor(Base):
    """Where a source resumes; written in the same transaction as the mentions it covers."""

    __tablename__ = "collector_cursors"

    source: Mapped[str] = mapped_column(String(255), primary_key=True)
    cursor: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CollectorRun(Base):
    """One run of one source: when, how it ended, how many items; the basis of source health."""

    __tablename__ = "collector_runs"
    __table_args__ = (Index("ix_collector_runs_source_started_at", "source", "started_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="running")
    items_seen: Mapped[int] = mapped_column(Integer, default=0)
    items_new: Mapped[int] = mapped_column(Integer, default=0)
    items_quarantined: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class SourceHealth(Base):
    """How one source is doing now, kept current by every run: the dashboard and alerts read it."""

    __tablename__ = "source_health"

    source: Mapped[str] = mapped_column(String(255), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # ok | failing | rate_limited | disabled
    first_run_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_run_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    failing_since: Mapped[datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_new_at: Mapped[datetime | None]  # when a run last brought a new mention
    newest_item_at: Mapped[datetime | None]  # the newest post time collected
    lag_seconds: Mapped[float | None] = mapped_column(Float)  # median post-to-stored delay
    items_total: Mapped[int] = mapped_column(Integer, default=0)
    quarantined_total: Mapped[int] = mapped_column(Integer, default=0)
    alert: Mapped[str | None] = mapped_column(String(32))  # the open alert, raised once
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Reply(Base):
    """A reply posted (or being posted) to a mention; the idempotency key makes it happen once."""

    __tablename__ = "replies"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    mention_id: Mapped[int] = mapped_column(
        Id, ForeignKey("mentions.id", ondelete="CASCADE"), index=True
    )
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="new")  # new|pending|sent|failed|gone
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    platform_reply_id: Mapped[str | None] = mapped_column(String(255))
    url: Mapped[str | None] = mapped_column(String(2048))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class QuarantinedItem(Base):
    """An item a collector could not read, kept with the reason instead of crashing the run."""

    __tablename__ = "quarantine"
    __table_args__ = (Index("ix_quarantine_source_created_at", "source", "created_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    locator: Mapped[str | None] = mapped_column(String(255))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Classification(Base):
    """The NLP stage's labels for a mention."""

    __tablename__ = "classifications"

    mention_id: Mapped[int] = mapped_column(
        Id, ForeignKey("mentions.id", ondelete="CASCADE"), primary_key=True
    )
    # Null when the text is in a language the model does not label.
    sentiment: Mapped[str | None] = mapped_column(String(16), index=True)
    sentiment_scores: Mapped[dict[str, Any]]
    intents: Mapped[dict[str, Any]]
    needs_reply: Mapped[float | None] = mapped_column(Float)
    uncertain: Mapped[bool] = mapped_column(Boolean)
    lang: Mapped[str | None] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(255))
    classified_at: Mapped[datetime] = mapped_column(default=utcnow)


class LabelCorrection(Base):
    """A label a person gave a mention, to retrain the model with (`nlp train --with-feedback`)."""

    __tablename__ = "label_corrections"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    mention_id: Mapped[int] = mapped_column(
        Id, ForeignKey("mentions.id", ondelete="CASCADE"), index=True
    )
    sentiment: Mapped[str | None] = mapped_column(String(16))
    # The full set of intents the mention has (None: intents were not corrected).
    intents: Mapped[list[str] | None] = mapped_column(JSON)
    corrected_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Customer(Base):
    """A customer record, imported from or kept in step with the company's CRM."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    crm_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # set when merged into another customer; `customers split` clears it again
    merged_into_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    # something the CRM should hear about changed since the last push
    dirty_since: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerHistory(Base):
    """One change to a customer's links, with what is needed to undo it."""

    __tablename__ = "customer_history"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        Id, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(32))  # link | unlink | merge | split | import
    actor: Mapped[str] = mapped_column(String(255))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    undone_at: Mapped[datetime | None]


class LinkSuggestion(Base):
    """A possible author-to-customer link below the automatic threshold, for staff to decide."""

    __tablename__ = "link_suggestions"
    __table_args__ = (UniqueConstraint("author_id", "customer_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    author_id: Mapped[int] = mapped_column(
        Id, ForeignKey("authors.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[int] = mapped_column(
        Id, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    confidence: Mapped[float] = mapped_column(Float)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="open")  # open|accepted|rejected
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(255))


class Identity(Base):
    """One identity of a customer on a platform, with how sure we are and why."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # kind: reddit | mastodon | bluesky | hackernews | email | website | crm | <source name>;
    # value: normalised (crm_sync.identities.normalise)
    customer_id: Mapped[int] = mapped_column(
        Id, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(512))
    confidence: Mapped[float] = mapped_column(Float, default=1.0)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Task(Base):
    """A unit of engagement work: one conversation (an author in a thread) that needs staff."""

    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_state_priority", "state", "priority"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # source:thread:author; a new mention by the author in the thread joins (or reopens) the task
    conversation: Mapped[str] = mapped_column(String(600), unique=True)
    # the mention a reply answers: the author's newest in the conversation
    mention_id: Mapped[int] = mapped_column(
        Id, ForeignKey("mentions.id", ondelete="CASCADE"), unique=True
    )
    author_id: Mapped[int] = mapped_column(
        Id, ForeignKey("authors.id", ondelete="CASCADE"), index=True
    )
    # new|notified|claimed|drafted|approved|sent|dismissed|escalated|reopened (engagement.states)
    state: Mapped[str] = mapped_column(String(16), default="new")
    priority: Mapped[int] = mapped_column(Integer, default=3)  # 1 most urgent .. 5
    queue: Mapped[str] = mapped_column(String(255))
    rule: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(Text)
    assignee: Mapped[str | None] = mapped_column(String(255))
    claimed_at: Mapped[datetime | None]
    draft: Mapped[str | None] = mapped_column(Text)
    drafted_by: Mapped[str | None] = mapped_column(String(255))
    approved_by: Mapped[str | None] = mapped_column(String(255))
    # the reply sent (idempotency key in `replies`) and where it can be seen
    reply_key: Mapped[str | None] = mapped_column(String(255))
    reply_url: Mapped[str | None] = mapped_column(String(2048))
    sla_due_at: Mapped[datetime | None] = mapped_column(index=True)
    sla_warned_at: Mapped[datetime | None]
    sla_breached_at: Mapped[datetime | None]
    # when this episode opened (creation or reopening) and was first answered / closed
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_response_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # after a reply: did the author's next mentions improve (engagement.outcome)
    outcome: Mapped[str | None] = mapped_column(String(16))
    outcome_detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    outcome_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RouteDecision(Base):
    """What routing decided for a mention (a task, ignore, or nothing) and why."""

    __tablename__ = "route_decisions"

    mention_id: Mapped[int] = mapped_column(
        Id, ForeignKey("mentions.id", ondelete="CASCADE"), primary_key=True
    )
    rule: Mapped[str | None] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(16))  # task | ignore | none
    queue: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    task_id: Mapped[int | None] = mapped_column(Id, ForeignKey("tasks.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)


class TaskMention(Base):
    """A mention that belongs to a task's conversation."""

    __tablename__ = "task_mentions"

    mention_id: Mapped[int] = mapped_column(
        Id, ForeignKey("mentions.id", ondelete="CASCADE"), primary_key=True
    )
    task_id: Mapped[int] = mapped_column(Id, ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class TaskNote(Base):
    """An internal note on a task; never sent to the platform."""

    __tablename__ = "task_notes"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    task_id: Mapped[int] = mapped_column(Id, ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Incident(Base):
    """A spike in a query's volume or negative share, opened for staff to acknowledge."""

    __tablename__ = "incidents"
    __table_args__ = (UniqueConstraint("query", "window_start"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    query: Mapped[str] = mapped_column(String(255))
    window_start: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))  # volume | negative | volume+negative
    volume: Mapped[int] = mapped_column(Integer)
    negatives: Mapped[int] = mapped_column(Integer)
    # the baseline it was judged against and what drove it (terms, posts, sentiment split)
    baseline: Mapped[dict[str, Any]] = mapped_column(default=dict)
    drivers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(255))
    first_response_at: Mapped[datetime | None]


class ChatMessage(Base):
    """A chat message to deliver after commit (card, alert, incident), and where it landed.

    `version` rises whenever the content should change; delivery brings `delivered_version` up
    to it by posting once and editing after, so an outage or a restart never duplicates a card.
    """

    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_messages_state_priority", "state", "priority"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)  # task:12, incident:3, alert:...
    kind: Mapped[str] = mapped_column(String(16))  # card | alert | incident
    queue: Mapped[str] = mapped_column(String(255))
    task_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("tasks.id", ondelete="CASCADE"), index=True
    )
    incident_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    priority: Mapped[int] = mapped_column(Integer, default=3)
    # the text of an alert (cards and incidents are rendered from their rows when sent)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    delivered_version: Mapped[int] = mapped_column(Integer, default=0)
    channel_id: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(64))
    thread_id: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sent|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class OutboxMessage(Base):
    """A message to an outside system, sent after commit, retried, and never sent twice."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_outbox_connector_state", "connector", "state"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    connector: Mapped[str] = mapped_column(String(64), server_default="")
    topic: Mapped[str] = mapped_column(String(64))
    # whose data the message carries: forgetting the person deletes the queued message
    customer_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("authors.id", ondelete="CASCADE"), index=True
    )
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    payload: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sent|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class AuditEntry(Base):
    """Who did what, when, from what to what."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str | None] = mapped_column(String(255))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class WebUser(Base):
    """A person who logs in to the dashboard, with a role; the password only as a slow hash."""

    __tablename__ = "web_users"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    # scrypt, with its parameters and salt (socialcrm.web.auth)
    password_hash: Mapped[str] = mapped_column(String(512))
    role: Mapped[str] = mapped_column(String(16))  # admin | agent | analyst
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None]
    # a session cookie carries the epoch of its log-in; log-out, disabling and a new password
    # add one, which ends every session of the user, every copy of the cookie included
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class WebLoginFailure(Base):
    """A failed dashboard log-in, counted by the log-in rate limit and kept only for its window."""

    __tablename__ = "web_login_failures"
    __table_args__ = (Index("ix_web_login_failures_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # a keyed hash of the user name or of the client address: neither is stored as typed
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(index=True)


class ApiToken(Base):
    """A REST API token: only its SHA-256 is stored; scopes say what it may do."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)  # read | write
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ReportDaily(Base):
    """Mentions per UTC day, source, query and label; kept exact by triggers (migration 0007)."""

    __tablename__ = "report_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    query: Mapped[str] = mapped_column(String(255), primary_key=True)  # "" when none
    sentiment: Mapped[str] = mapped_column(String(16), primary_key=True)  # "" unlabelled
    uncertain: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    volume: Mapped[int] = mapped_column(Integer)


class ReportIntentDaily(Base):
    """Mentions per UTC day, source, query and intent (probability >= 0.5); kept by triggers."""

    __tablename__ = "report_intent_daily"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    query: Mapped[str] = mapped_column(String(255), primary_key=True)
    intent: Mapped[str] = mapped_column(String(64), primary_key=True)
    volume: Mapped[int] = mapped_column(Integer)


# the report queries' indexes (migration 0007), declared here to keep the classes above as they were
Index("ix_mentions_source_id", Mention.source, Mention.id)
Index("ix_mentions_matched_query_id", Mention.matched_query, Mention.id)
Index("ix_tasks_opened_at", Task.opened_at)
# a mention page shows its thread: the thread's mentions by source and thread id
Index("ix_mentions_source_thread_id", Mention.source, Mention.thread_id)

# made by migration 0007 outside the models (full-text search): SQLite's FTS5 table and its
# shadow tables, PostgreSQL's GIN index; schema comparisons and autogenerate must skip them
UNMANAGED = frozenset(
    {
        "mentions_fts",
        "mentions_fts_data",
        "mentions_fts_idx",
        "mentions_fts_docsize",
        "mentions_fts_config",
        "ix_mentions_text_fts",
    }
)


def include_name(name: str | None, type_: str, parent_names: Mapping[str, Any]) -> bool:
    """Alembic's `include_name` hook: False for the objects in `UNMANAGED`."""
    return name not in UNMANAGED
