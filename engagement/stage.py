"""The pipeline's route stage: every mention gets a decision; those that need staff, a task.

One conversation (an author in a thread) is one task: a new mention by the same author in the
same thread joins the open task, or reopens it once it was answered or dismissed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from crm_sync.scoring import Segment
from engagement import notify, views
from engagement.queue import sending
from engagement.routing import Decision, RouteInput, Router
from engagement.sla import BusinessHours, due
from engagement.states import OPEN, Action, State, advance
from engagement.views import is_vip, label_fields
from socialcrm import models
from socialcrm.mention import Mention, utcnow
from socialcrm.settings import CrmSettings, EngagementSettings

log = logging.getLogger(__name__)


def conversation_of(mention: Mention, author_id: int) -> str:
    """The conversation key: the author's mentions in one thread are one task."""
    return f"{mention.source}:{mention.thread_id or mention.source_id}:{author_id}"


@dataclass(frozen=True, slots=True)
class _Facts:
    """What routing needs to know about a mention beyond its text."""

    author_id: int
    customer_id: int | None
    attributes: Mapping[str, Any]
    labels: models.Classification | None


class RouteStage:
    """Routes each mention with the rules in settings and keeps one task per conversation."""

    def __init__(
        self,
        engagement: EngagementSettings,
        crm: CrmSettings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = engagement
        self.crm = crm
        self.router = Router(engagement.rules)
        self.hours = BusinessHours.from_settings(engagement.business_hours)
        self.clock = clock

    def __call__(self, session: Session, mentions: Sequence[Mention]) -> None:
        """Decide for every mention of the batch, in the batch's transaction."""
        live = [m for m in mentions if m.id is not None]
        if not live:
            return
        now = self.clock()
        facts = self._facts(session, [m.id for m in live if m.id is not None])
        segments = views.segments(session, self.crm)
        tasks = self._tasks(session, live, facts)
        joined: list[tuple[int, models.Task]] = []  # (mention id, its conversation's task)
        changed: dict[int, models.Task] = {}  # by object id: new ids come with the flush
        decided: list[tuple[dict[str, Any], models.Task | None]] = []
        for mention in sorted(live, key=lambda m: (m.created_at, m.id or 0)):
            assert mention.id is not None  # noqa: S101 - filtered above
            fact = facts.get(mention.id)
            if fact is None:
                continue  # deleted while queued
            decision = self.router.route(self._input(mention, fact, segments))
            key = conversation_of(mention, fact.author_id)
            task, moved = self._apply(session, mention, fact, decision, tasks.get(key), now)
            if task is not None:
                tasks[key] = task
                joined.append((mention.id, task))
                if moved:
                    changed[id(task)] = task
            decided.append((self._decision_row(mention.id, decision, now), task))
        session.flush()  # one flush for the batch: new tasks get their ids
        self._record(session, joined, changed.values(), decided)

    @staticmethod
    def _decision_row(mention_id: int, decision: Decision, now: datetime) -> dict[str, Any]:
        return {
            "mention_id": mention_id,
            "rule": decision.rule,
            "action": decision.action,
            "queue": decision.queue,
            "reason": decision.reason,
            "decided_at": now,
        }

    @staticmethod
    def _record(
        session: Session,
        joined: Sequence[tuple[int, models.Task]],
        changed: Iterable[models.Task],
        decided: Sequence[tuple[dict[str, Any], models.Task | None]],
    ) -> None:
        """The batch's conversation members, cards and decisions, a statement each."""
        if joined:
            members = [{"mention_id": m, "task_id": task.id} for m, task in joined]
            session.execute(insert(models.TaskMention), members)
        notify.queue_cards(session, [(t.id, t.queue, t.priority) for t in changed])
        rows = [row | {"task_id": task.id if task else None} for row, task in decided]
        session.execute(
            delete(models.RouteDecision).where(
                models.RouteDecision.mention_id.in_([row["mention_id"] for row in rows])
            )
        )
        if rows:
            session.execute(insert(models.RouteDecision), rows)

    def _facts(self, session: Session, ids: Sequence[int]) -> dict[int, _Facts]:
        rows = session.execute(
            select(
                models.Mention.id,
                models.Mention.author_id,
                models.Author.customer_id,
                models.Customer.attributes,
                models.Classification,
            )
            .join(models.Author, models.Author.id == models.Mention.author_id)
            .outerjoin(models.Customer, models.Customer.id == models.Author.customer_id)
            .outerjoin(models.Classification, models.Classification.mention_id == models.Mention.id)
            .where(models.Mention.id.in_(ids), models.Mention.deleted_at.is_(None))
        )
        return {
            row.id: _Facts(row.author_id, row.customer_id, row.attributes or {}, row.Classification)
            for row in rows
        }

    def _tasks(
        self, session: Session, mentions: Sequence[Mention], facts: Mapping[int, _Facts]
    ) -> dict[str, models.Task]:
        keys = {
            conversation_of(m, facts[m.id].author_id)
            for m in mentions
            if m.id is not None and m.id in facts
        }
        found = session.scalars(
            select(models.Task)
            .where(models.Task.conversation.in_(keys))
            .order_by(models.Task.id)  # locks taken in one order by every worker
            .with_for_update()
        )
        return {task.conversation: task for task in found}

    def _input(self, mention: Mention, fact: _Facts, segments: Mapping[int, Segment]) -> RouteInput:
        return RouteInput(
            source=mention.source,
            text=mention.text,
            title=mention.title,
            matched_query=mention.matched_query,
            **label_fields(fact.labels, mention.lang),
            customer_id=fact.customer_id,
            segment=segments.get(fact.customer_id) if fact.customer_id is not None else None,
            vip=is_vip(fact.attributes, self.settings.vip_attribute),
        )

    def _apply(
        self,
        session: Session,
        mention: Mention,
        fact: _Facts,
        decision: Decision,
        task: models.Task | None,
        now: datetime,
    ) -> tuple[models.Task | None, bool]:
        """The mention's task (None: no task) and whether the task changed (its card too)."""
        if task is None:
            if decision.action != "task":
                return None, False
            return self._open(session, mention, fact, decision, now), True
        if not self._moves(task, mention, decision):
            # spam, an older post collected late, or a reply being posted: kept, changes nothing
            return task, False
        if State(task.state) in OPEN:
            self._join(task, mention, decision)
        else:
            self._reopen(task, mention, decision, now)
        return task, True

    def _open(
        self, session: Session, mention: Mention, fact: _Facts, decision: Decision, now: datetime
    ) -> models.Task:
        assert mention.id is not None  # noqa: S101
        assert decision.queue is not None  # noqa: S101
        task = models.Task(
            conversation=conversation_of(mention, fact.author_id),
            mention_id=mention.id,
            author_id=fact.author_id,
            state=State.NEW.value,
            priority=decision.priority,
            queue=decision.queue,
            rule=decision.rule,
            reason=decision.reason,
            sla_due_at=self._due(mention, decision),
            opened_at=now,
            created_at=now,
            updated_at=now,
        )
        session.add(task)
        return task

    @staticmethod
    def _moves(task: models.Task, mention: Mention, decision: Decision) -> bool:
        """Whether the mention retargets (open task) or reopens (closed task) its conversation."""
        if decision.action == "ignore" or sending(task):
            return False
        if State(task.state) in OPEN:
            return True
        # only what the author wrote after the conversation closed reopens it
        return task.closed_at is None or mention.created_at > task.closed_at

    def _join(self, task: models.Task, mention: Mention, decision: Decision) -> None:
        """A new mention in an open conversation: answer the newest; keep the most urgent.

        An approved draft was approved for the post it answered: it needs approving again.
        """
        assert mention.id is not None  # noqa: S101
        task.mention_id = mention.id
        if task.state == State.APPROVED:
            task.state = advance(task.state, Action.DRAFT).value
            task.approved_by = None
        if decision.action == "task" and decision.priority < task.priority:
            task.priority = decision.priority
        task.updated_at = self.clock()

    def _reopen(
        self, task: models.Task, mention: Mention, decision: Decision, now: datetime
    ) -> None:
        """The author wrote again after we answered or dismissed: the conversation is open again."""
        assert mention.id is not None  # noqa: S101
        task.state = advance(task.state, Action.REOPEN).value
        task.mention_id = mention.id
        task.assignee = task.claimed_at = task.draft = task.drafted_by = task.approved_by = None
        task.reply_key = None
        task.opened_at, task.updated_at = now, now
        task.first_response_at = task.closed_at = None
        task.sla_warned_at = task.sla_breached_at = None
        task.outcome = task.outcome_detail = task.outcome_at = None  # the next reply is judged anew
        if decision.action == "task" and decision.queue is not None:
            task.queue, task.priority, task.rule = decision.queue, decision.priority, decision.rule
        task.reason = f"reopened, the author wrote again; {decision.reason}"
        task.sla_due_at = self._due(mention, decision)

    def _due(self, mention: Mention, decision: Decision) -> datetime | None:
        minutes = decision.sla_minutes or self.settings.default_sla_minutes
        if not minutes:
            return None
        return due(mention.created_at, minutes, self.hours if decision.business_hours else None)
