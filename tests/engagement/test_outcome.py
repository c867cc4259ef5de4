"""Reply outcomes: the author's mentions after our reply against the ones before it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engagement import outcome, queue
from socialcrm.db import Database
from socialcrm.settings import Settings
from tests.engagement.builders import START, FakeResponder, post, responders, route, store, tasks

ANA = queue.Actor("discord:1", "ana", may_send=True)


@pytest.mark.parametrize(
    ("before", "after", "final", "expected"),
    [
        (outcome.Side(1, -0.7, 1), outcome.Side(1, 0.1, 0), False, "improved"),
        (outcome.Side(1, 0.5, 0), outcome.Side(2, 0.4, 1), False, "worse"),
        (outcome.Side(1, -0.2, 0), outcome.Side(1, 0.2, 0), False, "improved"),
        (outcome.Side(1, 0.2, 0), outcome.Side(1, -0.2, 0), False, "worse"),
        (outcome.Side(1, 0.0, 0), outcome.Side(1, 0.1, 0), False, "unchanged"),
        (outcome.Side(1, 0.0, 1), outcome.Side(1, -0.5, 1), False, "worse"),
        (outcome.Side(1, -0.5, 0), outcome.Side(0, None, 0), False, None),
        (outcome.Side(1, -0.5, 0), outcome.Side(0, None, 0), True, "silent"),
    ],
)
def test_judge(
    before: outcome.Side, after: outcome.Side, final: bool, expected: str | None
) -> None:
    assert outcome.judge(before, after, final) == expected


def _answered(db: Database) -> int:
    store(db, post(1), "negative", complaint=0.9)
    route(db)
    task_id = tasks(db)[0].id
    queue.save_draft(db, task_id, ANA, "sorry, fixed now")
    queue.send(db, task_id, ANA, Settings(), responders(FakeResponder()))
    return task_id


def test_a_happier_next_mention_counts_as_improved_and_settles_when_the_window_ends(
    db: Database,
) -> None:
    task_id = _answered(db)
    now = tasks(db)[0].first_response_at
    assert now is not None
    with db.transaction() as session:
        assert outcome.sweep(session, now + timedelta(hours=1), 14) == 0  # nothing said yet
    store(
        db, post(2, thread="t9", minutes=int((now - START).total_seconds() // 60) + 30), "positive"
    )
    with db.transaction() as session:
        assert outcome.sweep(session, now + timedelta(hours=2), 14) == 1
    (task,) = tasks(db)
    assert task.outcome == "improved"
    assert task.outcome_at is None  # provisional while the window is open
    assert task.outcome_detail is not None
    assert task.outcome_detail["before"]["complaints"] == 1
    assert task.outcome_detail["after"]["complaints"] == 0
    with db.transaction() as session:
        assert outcome.sweep(session, now + timedelta(days=15), 14) == 1
        assert outcome.sweep(session, now + timedelta(days=16), 14) == 0
    (task,) = tasks(db)
    assert task.outcome == "improved"
    assert task.outcome_at == now + timedelta(days=15)
    assert task_id == task.id


def test_no_word_after_the_reply_is_silent_once_the_window_ends(db: Database) -> None:
    _answered(db)
    now = tasks(db)[0].first_response_at
    assert now is not None
    with db.transaction() as session:
        outcome.sweep(session, now + timedelta(days=14, seconds=1), 14)
    assert tasks(db)[0].outcome == "silent"
