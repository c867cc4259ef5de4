"""A customer's contact history: their mentions, our replies, staff actions, record changes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from crm_sync import scoring
from crm_sync.customers import LINKER
from crm_sync.scoring import MENTION, REPLY, STAFF_ACTION
from socialcrm import models

RECORD: Final = "record"  # the record changed (link, merge, split) or the software acted
HISTORY_KINDS: Final = (MENTION, REPLY, STAFF_ACTION, RECORD)
# audit actors that are the software, not a person: their entries are records, not engagement
AUTOMATED_ACTORS: Final = frozenset({"system", "pipeline", "scheduler", LINKER})
_SUMMARY: Final = 200  # characters of text in a history summary
# same time: the mention came first, then our work on it, then our reply
_RANK: Final = {MENTION: 0, STAFF_ACTION: 1, REPLY: 2, RECORD: 3}


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One entry of the contact history: a mention, our reply, a staff action or a record change."""

    at: datetime
    kind: str  # one of HISTORY_KINDS
    summary: str  # one line for people
    actor: str | None  # the staff member (or software) that acted; None for the customer's own
    ref: int  # the row's id in its table, so equal times still sort the same way every time
    details: dict[str, Any] = field(default_factory=dict)  # JSON-safe

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe."""
        return {
            "at": self.at.isoformat(),
            "kind": self.kind,
            "summary": self.summary,
            "actor": self.actor,
            "details": self.details,
        }


def is_staff_action(entry: models.AuditEntry) -> bool:
    """Whether a person (not the software) made this audit entry."""
    return entry.actor not in AUTOMATED_ACTORS


def contact_history(
    mentions: Iterable[tuple[models.Mention, models.Classification | None]],
    replies: Iterable[models.Reply],
    audit: Iterable[models.AuditEntry],
    records: Iterable[models.CustomerHistory],
    handles: Mapping[int, str],
) -> tuple[HistoryItem, ...]:
    """Every item, newest first (`handles`: author id -> handle, for the summaries)."""
    items = [
        *(_mention_item(m, c, handles.get(m.author_id, "?")) for m, c in mentions),
        *(_reply_item(r) for r in replies),
        *(_audit_item(e) for e in audit),
        *(_record_item(h) for h in records),
    ]
    items.sort(key=lambda i: (i.at, _RANK[i.kind], i.ref), reverse=True)
    return tuple(items)


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _SUMMARY else line[: _SUMMARY - 1] + "…"


def _mention_item(
    mention: models.Mention, label: models.Classification | None, handle: str
) -> HistoryItem:
    intents = label.intents if label else {}
    seen = [name for name, count in scoring.intents_seen([intents]).items() if count]
    details = {
        "mention_id": mention.id,
        "source": mention.source,
        "url": mention.url,
        "matched_query": mention.matched_query,
        "sentiment": label.sentiment if label else None,
        "sentiment_score": _score(label),
        "intents": seen,
        "deleted": mention.deleted_at is not None,
    }
    summary = _short(f"{mention.source} {handle}: {mention.title or mention.text}")
    return HistoryItem(mention.created_at, MENTION, summary, None, mention.id, details)


def _score(label: models.Classification | None) -> float | None:
    if label is None or label.sentiment is None:
        return None
    score = scoring.sentiment_score(label.sentiment_scores)
    return None if score is None else round(score, 4)


def _reply_item(reply: models.Reply) -> HistoryItem:
    details = {
        "reply_id": reply.id,
        "mention_id": reply.mention_id,
        "state": reply.state,
        "url": reply.url,
    }
    at = reply.sent_at or reply.created_at
    return HistoryItem(
        at, REPLY, _short(f"reply ({reply.state}): {reply.text}"), None, reply.id, details
    )


def _audit_item(entry: models.AuditEntry) -> HistoryItem:
    kind = STAFF_ACTION if is_staff_action(entry) else RECORD
    details = {
        "audit_id": entry.id,
        "action": entry.action,
        "subject_type": entry.subject_type,
        "subject_id": entry.subject_id,
    }
    summary = _short(f"{entry.action} {entry.subject_type} {entry.subject_id or ''}".strip())
    return HistoryItem(entry.at, kind, summary, entry.actor, entry.id, details)


def _record_item(change: models.CustomerHistory) -> HistoryItem:
    # not `data`: a merge keeps a snapshot of the absorbed record there, too much for a CRM note
    author_id = change.data.get("author_id") if isinstance(change.data, dict) else None
    details = {
        "history_id": change.id,
        "action": change.action,
        "author_id": author_id,
        "undone_at": change.undone_at.isoformat() if change.undone_at else None,
    }
    summary = change.action + (f" author {author_id}" if author_id is not None else "")
    summary += " (undone)" if change.undone_at is not None else ""
    return HistoryItem(change.at, RECORD, summary, change.actor, change.id, details)
