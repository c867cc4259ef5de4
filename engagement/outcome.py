"""Did our reply help? The author's mentions after it compared with the ones before it.

Judged again at every sweep while the window after the reply is open (a provisional outcome),
and settled when it closes; reports and the customer profile read `tasks.outcome`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_sync.customers import mark_dirty
from crm_sync.scoring import sentiment_score
from socialcrm import models

# a change in mean sentiment (-1..1) smaller than this is no change
MEANINGFUL: Final = 0.25
COMPLAINT: Final = 0.5  # probability from which a mention counts as a complaint


@dataclass(frozen=True, slots=True)
class Side:
    """The mentions on one side of the reply: how many, mean sentiment, complaints."""

    mentions: int
    mean: float | None
    complaints: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        mean = round(self.mean, 3) if self.mean is not None else None
        return {"mentions": self.mentions, "mean": mean, "complaints": self.complaints}


def side(labels: Sequence[tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]]) -> Side:
    """Summarise (sentiment_scores, intents) pairs; unlabelled mentions count but carry no score."""
    scores = [s for s in (sentiment_score(sc) for sc, _ in labels if sc) if s is not None]
    complaints = sum(
        1 for _, intents in labels if float((intents or {}).get("complaint", 0)) >= COMPLAINT
    )
    return Side(len(labels), sum(scores) / len(scores) if scores else None, complaints)


def judge(before: Side, after: Side, final: bool) -> str | None:
    """improved | worse | unchanged | silent (no word after the reply; only once final)."""
    if after.mentions == 0:
        return "silent" if final else None
    if before.complaints and not after.complaints:
        return "improved"
    if after.complaints and not before.complaints:
        return "worse"
    if before.mean is None or after.mean is None:
        return "unchanged"
    if after.mean >= before.mean + MEANINGFUL:
        return "improved"
    if after.mean <= before.mean - MEANINGFUL:
        return "worse"
    return "unchanged"


def sweep(session: Session, now: datetime, window_days: int) -> int:
    """Judge every answered task whose outcome is not settled; how many changed."""
    window = timedelta(days=window_days)
    rows = session.execute(
        select(models.Task, models.Reply.sent_at)
        .join(models.Reply, models.Reply.idempotency_key == models.Task.reply_key)
        .where(models.Reply.state == "sent", models.Task.outcome_at.is_(None))
    ).all()
    changed = 0
    for task, sent_at in rows:
        if sent_at is None:
            continue
        final = now >= sent_at + window
        before, after = _sides(session, task, sent_at, min(now, sent_at + window))
        verdict = judge(before, after, final)
        detail = {"before": before.as_dict(), "after": after.as_dict(), "final": final}
        if verdict is None or (verdict == task.outcome and detail == task.outcome_detail):
            continue
        task.outcome, task.outcome_detail = verdict, detail
        task.outcome_at = now if final else None
        customer = session.get(models.Author, task.author_id)
        if customer is not None and customer.customer_id is not None:
            mark_dirty(session, {customer.customer_id}, now)
        changed += 1
    return changed


def _sides(
    session: Session, task: models.Task, sent_at: datetime, until: datetime
) -> tuple[Side, Side]:
    labels = (models.Classification.sentiment_scores, models.Classification.intents)
    before = session.execute(
        select(*labels)
        .select_from(models.TaskMention)
        .join(models.Mention, models.Mention.id == models.TaskMention.mention_id)
        .outerjoin(models.Classification, models.Classification.mention_id == models.Mention.id)
        .where(models.TaskMention.task_id == task.id, models.Mention.created_at <= sent_at)
    ).all()
    after = session.execute(
        select(*labels)
        .select_from(models.Mention)
        .outerjoin(models.Classification, models.Classification.mention_id == models.Mention.id)
        .where(
            models.Mention.author_id == task.author_id,
            models.Mention.created_at > sent_at,
            models.Mention.created_at <= until,
        )
    ).all()
    return side([tuple(r) for r in before]), side([tuple(r) for r in after])
