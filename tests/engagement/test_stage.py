"""The route stage: decisions with reasons, one task per conversation, reopening, SLA."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from crm_sync.customers import link
from socialcrm import models
from socialcrm.db import Database
from socialcrm.settings import Settings
from tests.engagement.builders import (
    START,
    decisions,
    post,
    route,
    store,
    task_mentions,
    tasks,
)


def test_a_complaint_opens_a_task_in_support_with_its_reason_and_sla(db: Database) -> None:
    mention_id = store(db, post(1), "negative", complaint=0.91)
    assert route(db) == 1
    (task,) = tasks(db)
    assert (task.state, task.queue, task.priority, task.rule) == ("new", "support", 2, "complaint")
    assert task.mention_id == mention_id
    assert "complaint 0.91" in (task.reason or "")
    # 240 working minutes from Tuesday 10:01 inside 09:00-17:00
    assert task.sla_due_at == START + timedelta(hours=4, minutes=1)
    decision = decisions(db)[mention_id]
    assert (decision.action, decision.rule, decision.task_id) == ("task", "complaint", task.id)
    with db.transaction() as session:
        card = session.scalars(select(models.ChatMessage)).one()
        assert (card.key, card.kind, card.queue) == (f"task:{task.id}", "card", "support")


def test_spam_is_ignored_and_unmatched_mentions_get_no_task_but_a_reason(db: Database) -> None:
    spam = store(db, post(1, handle="bot"), spam=0.95)
    chatter = store(db, post(2, handle="bea"), "positive", needs_reply=0.1)
    route(db)
    assert tasks(db) == []
    found = decisions(db)
    assert (found[spam].action, found[spam].rule) == ("ignore", "spam")
    assert (found[chatter].action, found[chatter].rule) == ("none", None)
    assert found[chatter].reason == "no rule matched"


def test_the_authors_next_mention_in_the_thread_joins_the_open_task(db: Database) -> None:
    first = store(db, post(1), "negative", complaint=0.9)
    route(db)
    second = store(db, post(2), "neutral", question=0.8)
    other_thread = store(db, post(3, thread="t2"), "neutral", question=0.8)
    other_author = store(db, post(4, handle="bea"), "neutral", question=0.8)
    route(db)
    found = tasks(db)
    assert len(found) == 3
    conversation = found[0]
    assert task_mentions(db, conversation.id) == [first, second]
    assert conversation.mention_id == second  # a reply answers the newest mention
    assert conversation.priority == 2  # the more urgent of the two decisions is kept
    assert {t.mention_id for t in found[1:]} == {other_thread, other_author}


def test_a_new_mention_after_the_reply_reopens_the_conversation(db: Database) -> None:
    store(db, post(1), "negative", complaint=0.9)
    route(db)
    (task,) = tasks(db)
    closed_at = START + timedelta(hours=1)
    with db.transaction() as session:
        session.execute(
            update(models.Task)
            .where(models.Task.id == task.id)
            .values(state="sent", assignee="cli:ana", draft="sorry", closed_at=closed_at)
        )
    later = START + timedelta(days=1)
    again = store(db, post(2, minutes=24 * 60), "negative", complaint=0.8)
    route(db, now=later)
    (reopened,) = tasks(db)
    assert reopened.id == task.id
    assert (reopened.state, reopened.assignee, reopened.draft) == ("reopened", None, None)
    assert reopened.mention_id == again
    assert reopened.opened_at == later
    assert reopened.closed_at is None
    assert reopened.sla_due_at is not None
    assert reopened.sla_due_at > later
    assert (reopened.reason or "").startswith("reopened")


def test_spam_in_a_closed_conversation_does_not_reopen_it(db: Database) -> None:
    store(db, post(1), "negative", complaint=0.9)
    route(db)
    (task,) = tasks(db)
    with db.transaction() as session:
        session.execute(update(models.Task).values(state="dismissed"))
    spam = store(db, post(2), spam=0.99)
    route(db)
    (after,) = tasks(db)
    assert after.state == "dismissed"
    assert spam in task_mentions(db, task.id)


def test_a_vip_customers_complaint_is_escalated_around_the_clock(db: Database) -> None:
    mention_id = store(db, post(1, minutes=-12 * 60), "negative", complaint=0.9)
    with db.transaction() as session:
        customer = models.Customer(display_name="Ana", attributes={"vip": "yes"})
        session.add(customer)
        session.flush()
        author_id = session.get(models.Mention, mention_id).author_id  # type: ignore[union-attr]
        link(session, author_id, customer.id, "test")
    route(db)
    (task,) = tasks(db)
    assert (task.queue, task.priority, task.rule) == ("escalations", 1, "vip-complaint")
    # no business hours: one hour after the post, at night
    assert task.sla_due_at == START - timedelta(hours=11)


def test_uncertain_labels_that_may_need_a_reply_go_to_triage(db: Database) -> None:
    store(db, post(1), "neutral", needs_reply=0.45, uncertain=True, complaint=0.9)
    route(db)
    (task,) = tasks(db)
    assert (task.queue, task.rule) == ("triage", "unsure")


def test_rules_from_settings_replace_the_defaults(db: Database) -> None:
    settings = Settings.model_validate(
        {
            "engagement": {
                "rules": [
                    {"name": "rivals", "queries": ["competitor:"], "queue": "marketing"},
                ]
            }
        }
    )
    store(db, post(1, text="acme is better"), "neutral")
    with db.transaction() as session:
        session.execute(update(models.Mention).values(matched_query="competitor:acme"))
    route(db, settings)
    (task,) = tasks(db)
    assert (task.queue, task.rule) == ("marketing", "rivals")


def test_a_new_post_after_approval_retargets_the_reply_and_voids_the_approval(
    db: Database,
) -> None:
    store(db, post(1), "negative", complaint=0.9)
    route(db)
    with db.transaction() as session:
        session.execute(
            update(models.Task).values(
                state="approved", assignee="discord:1", draft="sorry", approved_by="discord:2"
            )
        )
    newer = store(db, post(2), "negative", complaint=0.9)
    route(db)
    (after,) = tasks(db)
    assert (after.state, after.approved_by, after.mention_id) == ("drafted", None, newer)
    assert after.draft == "sorry"


def test_an_older_post_collected_late_does_not_reopen_an_answered_conversation(
    db: Database,
) -> None:
    store(db, post(5), "negative", complaint=0.9)
    route(db)
    (task,) = tasks(db)
    with db.transaction() as session:
        session.execute(
            update(models.Task).values(
                state="sent",
                closed_at=START + timedelta(hours=1),
                outcome="improved",
                outcome_at=START + timedelta(days=2),
            )
        )
    late = store(db, post(3), "negative", complaint=0.9)  # written before the reply
    route(db)
    (after,) = tasks(db)
    assert after.state == "sent"
    assert late in task_mentions(db, task.id)
    store(db, post(4, minutes=3 * 60), "negative", complaint=0.9)  # written after it
    route(db)
    (reopened,) = tasks(db)
    assert reopened.state == "reopened"
    assert (reopened.outcome, reopened.outcome_at) == (None, None)  # the next reply is judged
