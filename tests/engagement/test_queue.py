"""The queue's actions: ownership, take-over, drafts, approval, sending once, audit, labels."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from collectors.base import TransientSourceError
from engagement import queue
from nlp import feedback
from socialcrm import models
from socialcrm.db import Database
from socialcrm.settings import Settings
from tests.engagement.builders import (
    START,
    FakeResponder,
    audit,
    post,
    responders,
    route,
    store,
    tasks,
)

ANA = queue.Actor("discord:1", "ana", may_send=True)
BEA = queue.Actor("discord:2", "bea", may_send=True)
GUEST = queue.Actor("discord:3", "guest", may_send=False)
SETTINGS = Settings()
TWO_PEOPLE = Settings.model_validate({"engagement": {"require_second_approval": True}})


@pytest.fixture
def task_id(db: Database) -> int:
    store(db, post(1), "negative", complaint=0.9)
    route(db)
    return tasks(db)[0].id


def _task(db: Database, task_id: int) -> models.Task:
    return next(t for t in tasks(db) if t.id == task_id)


def test_claim_makes_an_owner_and_writes_the_audit_log(db: Database, task_id: int) -> None:
    queue.claim(db, task_id, ANA)
    task = _task(db, task_id)
    assert (task.state, task.assignee) == ("claimed", "discord:1")
    (entry,) = audit(db, task_id)
    assert (entry.actor, entry.action) == ("discord:1", "task.claim")
    assert entry.before is not None
    assert entry.after is not None
    assert (entry.before["state"], entry.after["state"]) == ("new", "claimed")


def test_someone_elses_task_must_be_taken_over_explicitly(db: Database, task_id: int) -> None:
    queue.claim(db, task_id, ANA)
    with pytest.raises(queue.ActionError, match="claimed by discord:1"):
        queue.claim(db, task_id, BEA)
    with pytest.raises(queue.ActionError, match="take it over"):
        queue.save_draft(db, task_id, BEA, "hello")
    queue.claim(db, task_id, BEA, take_over=True)
    task = _task(db, task_id)
    assert (task.state, task.assignee) == ("claimed", "discord:2")
    entry = audit(db, task_id)[-1]
    assert entry.action == "task.take_over"
    assert (entry.before or {})["assignee"] == "discord:1"
    queue.dismiss(db, task_id, BEA, "done")
    with pytest.raises(queue.ActionError, match="dismissed: nothing to take over"):
        queue.claim(db, task_id, ANA, take_over=True)


def test_a_draft_claims_an_unclaimed_task_and_send_posts_it_once(
    db: Database, task_id: int
) -> None:
    fake = FakeResponder()
    queue.save_draft(db, task_id, ANA, "  Sorry about that!  ")
    assert _task(db, task_id).state == "drafted"
    url = queue.send(db, task_id, ANA, SETTINGS, responders(fake))
    assert url == "https://example.social/@brand/r1"
    assert [(source_id, text) for source_id, text, _ in fake.posted] == [
        ("p1", "Sorry about that!")
    ]
    task = _task(db, task_id)
    assert (task.state, task.reply_url) == ("sent", url)
    assert task.first_response_at is not None
    with pytest.raises(queue.ActionError, match="sent"):
        queue.send(db, task_id, ANA, SETTINGS, responders(fake))
    assert len(fake.posted) == 1
    actions = [e.action for e in audit(db, task_id)]
    assert actions == ["task.claim", "task.draft", "task.approve", "task.send"]
    with db.transaction() as session:
        reply = session.scalars(select(models.Reply)).one()
        assert (reply.state, reply.platform_reply_id) == ("sent", "r1")


def test_sending_needs_a_role(db: Database, task_id: int) -> None:
    queue.save_draft(db, task_id, GUEST, "hello")
    with pytest.raises(queue.ActionError, match="Responder"):
        queue.send(db, task_id, GUEST, SETTINGS, responders(FakeResponder()))
    assert _task(db, task_id).state == "drafted"


def test_a_second_person_must_approve_when_settings_say_so(db: Database, task_id: int) -> None:
    fake = FakeResponder()
    queue.save_draft(db, task_id, ANA, "hello")
    with pytest.raises(queue.ActionError, match="second person"):
        queue.send(db, task_id, ANA, TWO_PEOPLE, responders(fake))
    with pytest.raises(queue.ActionError, match="second person"):
        queue.approve(db, task_id, ANA, TWO_PEOPLE)
    with pytest.raises(queue.ActionError, match="roles"):
        queue.approve(db, task_id, GUEST, TWO_PEOPLE)
    queue.approve(db, task_id, BEA, TWO_PEOPLE)
    assert queue.preview(db, task_id, TWO_PEOPLE).approved_by == "discord:2"
    queue.send(db, task_id, ANA, TWO_PEOPLE, responders(fake))
    assert _task(db, task_id).state == "sent"
    assert len(fake.posted) == 1


def test_editing_an_approved_draft_voids_the_approval(db: Database, task_id: int) -> None:
    queue.save_draft(db, task_id, ANA, "hello")
    queue.approve(db, task_id, BEA, TWO_PEOPLE)
    queue.save_draft(db, task_id, ANA, "hello again")
    task = _task(db, task_id)
    assert (task.state, task.approved_by) == ("drafted", None)
    assert queue.preview(db, task_id, TWO_PEOPLE).needs_approval


def test_a_failed_post_keeps_the_draft_and_says_why(db: Database, task_id: int) -> None:
    fake = FakeResponder(error=TransientSourceError("mastodon: 503 from the instance"), failures=1)
    queue.save_draft(db, task_id, ANA, "hello")
    with pytest.raises(queue.ActionError, match="not posted: mastodon: 503"):
        queue.send(db, task_id, ANA, SETTINGS, responders(fake))
    task = _task(db, task_id)
    assert (task.state, task.draft) == ("approved", "hello")
    assert audit(db, task_id)[-1].action == "task.send_failed"
    queue.send(db, task_id, ANA, SETTINGS, responders(fake))
    assert [text for _, text, _ in fake.posted] == ["hello"]


def test_illegal_moves_are_refused_with_what_to_do(db: Database, task_id: int) -> None:
    with pytest.raises(queue.ActionError, match="not claimed"):
        queue.send(db, task_id, ANA, SETTINGS, responders(FakeResponder()))
    queue.claim(db, task_id, ANA)
    with pytest.raises(queue.ActionError, match="no draft"):
        queue.send(db, task_id, ANA, SETTINGS, responders(FakeResponder()))
    with pytest.raises(queue.ActionError, match="already yours"):
        queue.claim(db, task_id, ANA)
    with pytest.raises(queue.ActionError, match="no task #999"):
        queue.claim(db, 999, ANA)


def test_notes_stay_internal_and_dismiss_and_escalate_say_why(db: Database, task_id: int) -> None:
    note_id = queue.add_note(db, task_id, ANA, "called them")
    with pytest.raises(queue.ActionError, match="say why"):
        queue.dismiss(db, task_id, ANA, " ")
    queue.claim(db, task_id, ANA)
    queue.escalate(db, task_id, ANA, "legal question", "escalations")
    task = _task(db, task_id)
    assert (task.state, task.queue, task.priority, task.assignee) == (
        "escalated",
        "escalations",
        1,
        None,
    )
    queue.dismiss(db, task_id, BEA, "answered by phone")
    assert _task(db, task_id).state == "dismissed"
    with db.transaction() as session:
        notes = session.scalars(select(models.TaskNote).order_by(models.TaskNote.id)).all()
        assert [n.text for n in notes] == [
            "called them",
            "escalate: legal question",
            "dismiss: answered by phone",
        ]
        assert notes[0].id == note_id
        assert session.scalars(select(models.Reply)).all() == []


def test_a_label_correction_is_kept_for_retraining(db: Database, task_id: int) -> None:
    queue.correct(db, task_id, ANA, "neutral", ["question"])
    with pytest.raises(queue.ActionError, match="unknown sentiment"):
        queue.correct(db, task_id, ANA, "angry", None)
    with db.transaction() as session:
        (example_texts) = {e.text for e in feedback.examples(session)}
    assert example_texts == {"post 1 about inkwell"}
    assert audit(db, task_id)[-1].action == "task.correct"


def test_the_suggested_reply_follows_the_likeliest_intent(db: Database, task_id: int) -> None:
    text = queue.suggested_reply(db, task_id, SETTINGS.engagement.templates)
    assert text.startswith("Hi ana, sorry about this")
    queue.save_draft(db, task_id, ANA, "my own words")
    assert queue.suggested_reply(db, task_id, SETTINGS.engagement.templates) == "my own words"


def test_the_preview_says_where_and_as_whom(db: Database, task_id: int) -> None:
    queue.save_draft(db, task_id, ANA, "hello")
    shown = queue.preview(db, task_id, SETTINGS)
    assert shown.platform == "mastodon"
    assert shown.target_url == "https://example.social/@ana/1"
    assert "mastodon.social" in shown.as_whom
    assert (shown.text, shown.needs_approval) == ("hello", False)


def test_the_first_reply_on_an_incidents_query_is_its_first_response(
    db: Database, task_id: int
) -> None:
    with db.transaction() as session:
        for query in ("brand:inkwell", "competitor:acme"):
            session.add(
                models.Incident(
                    query=query,
                    window_start=START,
                    kind="volume",
                    volume=40,
                    negatives=30,
                    opened_at=START,
                )
            )
    queue.save_draft(db, task_id, ANA, "we are on it")
    queue.send(db, task_id, ANA, SETTINGS, responders(FakeResponder()))
    with db.transaction() as session:
        answered = dict(
            session.execute(select(models.Incident.query, models.Incident.first_response_at)).all()
        )
    assert answered["brand:inkwell"] is not None
    assert answered["competitor:acme"] is None


def test_while_a_reply_is_being_posted_the_task_cannot_change_under_it(
    db: Database, task_id: int
) -> None:
    refused: list[str] = []

    class Interrupted(FakeResponder):
        def post(self, mention, text, idempotency_key):  # type: ignore[no-untyped-def]
            for act in (
                lambda: queue.escalate(db, task_id, BEA, "legal", "escalations"),
                lambda: queue.dismiss(db, task_id, ANA, "never mind"),
                lambda: queue.save_draft(db, task_id, ANA, "another text"),
                lambda: queue.claim(db, task_id, BEA, take_over=True),
            ):
                try:
                    act()
                except queue.ActionError as error:
                    refused.append(str(error))
            return super().post(mention, text, idempotency_key)

    fake = Interrupted()
    queue.save_draft(db, task_id, ANA, "sorry")
    queue.send(db, task_id, ANA, SETTINGS, responders(fake))
    assert len(refused) == 4
    assert all("being posted right now" in message for message in refused)
    task = _task(db, task_id)
    assert (task.state, task.queue, task.assignee) == ("sent", "support", "discord:1")
    assert task.reply_url == "https://example.social/@brand/r1"


def test_after_a_failed_post_the_draft_can_change_again(db: Database, task_id: int) -> None:
    fake = FakeResponder(error=TransientSourceError("timeout"), failures=1)
    queue.save_draft(db, task_id, ANA, "hello")
    with pytest.raises(queue.ActionError):
        queue.send(db, task_id, ANA, SETTINGS, responders(fake))
    queue.save_draft(db, task_id, ANA, "hello, better")
    queue.send(db, task_id, ANA, SETTINGS, responders(fake))
    assert [text for _, text, _ in fake.posted] == ["hello, better"]


def test_the_audit_log_has_the_state_before_and_after_each_change(
    db: Database, task_id: int
) -> None:
    queue.claim(db, task_id, ANA)
    queue.escalate(db, task_id, ANA, "legal", "escalations")
    claim, escalate = audit(db, task_id)
    assert (claim.before or {})["assignee"] is None
    assert (claim.after or {})["assignee"] == "discord:1"
    assert escalate.before == {
        "state": "claimed",
        "assignee": "discord:1",
        "queue": "support",
        "priority": 2,
    }
    assert escalate.after == {
        "state": "escalated",
        "assignee": None,
        "queue": "escalations",
        "priority": 1,
    }
