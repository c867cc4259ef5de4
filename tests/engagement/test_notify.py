"""The chat outbox: each message delivered once, in priority order, through outages, restarts."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from engagement import notify
from engagement.cards import ChatContent
from engagement.notify import (
    ChatAuthError,
    ChatRateLimitedError,
    ChatRejectedError,
    DispatchResult,
    dispatch,
)
from socialcrm import models
from socialcrm.db import Database
from socialcrm.mention import utcnow
from socialcrm.settings import DiscordSettings
from tests.engagement.fakes import FakeNotifier, chat_row, chat_rows, make_task

CHANNELS = {"support": "111111111111111111", "sales": "222222222222222222"}


def render(session: Session, message: models.ChatMessage) -> ChatContent:
    """What the task is now, read when the message is sent."""
    if message.task_id is None:
        return ChatContent(content=f"alert {message.payload['text']}")
    task = session.get_one(models.Task, message.task_id)
    return ChatContent(content=f"task {task.id} {task.state} {task.assignee}")


def channel_for(queue: str) -> str | None:
    """The test channels; other queues have none."""
    return CHANNELS.get(queue)


def send(
    db: Database, notifier: FakeNotifier, now: datetime | None = None, limit: int = 50
) -> DispatchResult:
    """One dispatch round (queued rows are due from the real clock's now)."""
    return dispatch(db, notifier, render, channel_for, now=now, limit=limit)


def queue(db: Database, task_id: int, priority: int = 3, name: str = "support") -> None:
    """Queue the task's card in its own transaction."""
    with db.transaction() as session:
        notify.queue_card(session, task_id, name, priority)


def update_task(db: Database, task_id: int, **values: object) -> None:
    """Change the task and queue its card, as the service does."""
    with db.transaction() as session:
        task = session.get_one(models.Task, task_id)
        for name, value in values.items():
            setattr(task, name, value)
        notify.queue_card(session, task.id, task.queue, task.priority)


def posted_tasks(notifier: FakeNotifier) -> list[int]:
    """The task ids of the posts, in order."""
    return [int(str(post.content.content).split()[1]) for post in notifier.posts]


def test_queued_card_is_posted_once(db: Database) -> None:
    task = make_task(db, 1)
    queue(db, task)
    notifier = FakeNotifier()
    assert send(db, notifier) == DispatchResult(posted=1)
    assert send(db, notifier) == DispatchResult()
    assert [(p.channel_id, p.nonce) for p in notifier.posts] == [
        (CHANNELS["support"], f"task:{task}")
    ]
    row = chat_row(db, f"task:{task}")
    assert (row.state, row.version, row.delivered_version) == ("sent", 1, 1)
    assert (row.channel_id, row.message_id) == (CHANNELS["support"], notifier.posts[0].message_id)


def test_a_delivered_card_marks_a_new_task_notified_but_not_an_escalated_one(
    db: Database,
) -> None:
    waiting, escalated = make_task(db, 1), make_task(db, 2)
    update_task(db, escalated, state="escalated")
    queue(db, waiting)
    send(db, FakeNotifier())
    with db.transaction() as session:
        assert session.get_one(models.Task, waiting).state == "notified"
        assert session.get_one(models.Task, escalated).state == "escalated"


def test_a_card_moved_to_another_queue_is_posted_in_its_channel(db: Database) -> None:
    task = make_task(db, 1)
    queue(db, task)
    notifier = FakeNotifier()
    send(db, notifier)
    update_task(db, task, queue="sales", state="escalated")
    assert send(db, notifier) == DispatchResult(posted=1)
    assert [p.channel_id for p in notifier.posts] == [CHANNELS["support"], CHANNELS["sales"]]
    row = chat_row(db, f"task:{task}")
    assert (row.channel_id, row.message_id) == (CHANNELS["sales"], notifier.posts[1].message_id)


def test_a_card_moved_while_it_is_being_edited_is_still_posted_in_its_new_channel(
    db: Database,
) -> None:
    task = make_task(db, 1)
    queue(db, task)
    notifier = FakeNotifier()
    send(db, notifier)
    update_task(db, task, assignee="cli:ana")
    # the edit is on its way when someone escalates the task to another queue
    notifier.during_call = lambda: update_task(db, task, queue="sales", state="escalated")
    send(db, notifier)
    send(db, notifier)  # the next round posts it where it now belongs
    row = chat_row(db, f"task:{task}")
    assert row.channel_id == CHANNELS["sales"]
    assert row.message_id == notifier.posts[-1].message_id
    assert [p.channel_id for p in notifier.posts] == [CHANNELS["support"], CHANNELS["sales"]]


def test_news_that_never_reached_chat_is_not_posted_late(db: Database) -> None:
    closed, reopened = make_task(db, 1, state="sent"), make_task(db, 2, state="dismissed")
    queue(db, closed)
    queue(db, reopened)
    with db.transaction() as session:
        notify.queue_alert(session, "old", "support", "source down yesterday")
        notify.queue_alert(session, "new", "support", "source down now")
        session.execute(
            update(models.ChatMessage)
            .where(models.ChatMessage.key == "alert:old")
            .values(created_at=utcnow() - timedelta(days=2))
        )
    notifier = FakeNotifier()
    assert send(db, notifier) == DispatchResult(posted=1)
    assert [p.content.content for p in notifier.posts] == ["alert source down now"]
    update_task(db, reopened, state="reopened")  # open again: its card is news again
    assert send(db, notifier) == DispatchResult(posted=1)
    assert str(notifier.posts[-1].content.content).startswith(f"task {reopened} ")


def test_outage_then_recovery_delivers_each_once_in_priority_order(db: Database) -> None:
    priorities = [3, 1, 5, 2, 1, 4]
    ids = [make_task(db, n, priority=p) for n, p in enumerate(priorities, start=1)]
    for task, priority in zip(ids, priorities, strict=True):
        queue(db, task, priority)
    notifier = FakeNotifier().fail(12)  # an hour of rounds every five minutes
    now = start = utcnow()
    results = []
    while len(notifier.posts) < len(ids) and now < start + timedelta(hours=3):
        results.append(send(db, notifier, now))
        now += timedelta(minutes=5)
    expected = [task for _, task in sorted(zip(priorities, ids, strict=True))]
    assert posted_tasks(notifier) == expected
    assert [r.stopped for r in results[:12]] == ["unavailable"] * 12
    assert results[-1] == DispatchResult(posted=len(ids))
    assert send(db, notifier, now + timedelta(hours=1)) == DispatchResult()
    assert {(row.state, row.attempts) for row in chat_rows(db)} == {("sent", 0)}


def test_an_outage_counts_attempts_on_the_first_row_and_holds_the_rest(db: Database) -> None:
    first, second = make_task(db, 1), make_task(db, 2)
    queue(db, first, priority=1)
    queue(db, second, priority=2)
    notifier = FakeNotifier().fail(1)
    start = utcnow()
    assert send(db, notifier, start).stopped == "unavailable"
    assert notifier.calls == 1  # the round stopped: the rest would fail too
    rows = {row.task_id: row for row in chat_rows(db)}
    assert rows[first].attempts == 1
    assert rows[first].last_error == "chat is down"
    assert rows[second].attempts == 0
    retry_at = start + timedelta(seconds=notify.backoff(1))
    assert rows[first].next_attempt_at == retry_at
    assert rows[second].next_attempt_at < retry_at  # not locked: the round is held instead
    assert send(db, notifier, retry_at - timedelta(seconds=1)) == DispatchResult()
    assert send(db, notifier, retry_at) == DispatchResult(posted=2)


def test_backoff_grows_and_is_capped() -> None:
    assert [notify.backoff(n) for n in (1, 2, 3)] == [5.0, 10.0, 20.0]
    assert notify.backoff(50) == notify.RETRY_MAX_SECONDS


def test_outage_is_logged_when_it_starts_and_ends(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    queue(db, make_task(db, 1))
    notifier = FakeNotifier().fail(3)
    caplog.set_level(logging.INFO, logger="engagement.notify")
    start = utcnow()
    for minutes in range(0, 20, 5):
        send(db, notifier, start + timedelta(minutes=minutes))
    messages = [record.getMessage() for record in caplog.records]
    assert messages == ["chat is failing; messages wait until it returns: chat is down",
                        "chat delivers again"]  # fmt: skip


def test_update_after_delivery_edits_the_same_message(db: Database) -> None:
    task = make_task(db, 1)
    queue(db, task)
    notifier = FakeNotifier()
    send(db, notifier)
    update_task(db, task, state="claimed", assignee="cli:ana")
    assert send(db, notifier) == DispatchResult(edited=1)
    (post,) = notifier.posts
    (edit,) = notifier.edits
    assert (edit.channel_id, edit.message_id) == (post.channel_id, post.message_id)
    assert edit.content.content == f"task {task} claimed cli:ana"
    row = chat_row(db, f"task:{task}")
    assert (row.state, row.version, row.delivered_version) == ("sent", 2, 2)


def test_many_updates_while_down_become_one_post_of_the_latest(db: Database) -> None:
    task = make_task(db, 1)
    queue(db, task)
    notifier = FakeNotifier().fail(1)
    send(db, notifier)
    update_task(db, task, state="claimed", assignee="cli:ana")
    update_task(db, task, state="drafted")
    send(db, notifier, utcnow() + timedelta(minutes=1))
    assert [p.content.content for p in notifier.posts] == [f"task {task} drafted cli:ana"]
    assert notifier.edits == []


def test_a_change_while_sending_is_edited_in_the_same_round(db: Database) -> None:
    task = make_task(db, 1)
    queue(db, task)
    notifier = FakeNotifier()
    notifier.during_call = lambda: update_task(db, task, state="claimed", assignee="cli:bo")
    assert send(db, notifier) == DispatchResult(posted=1, edited=1)
    assert notifier.posts[0].content.content == f"task {task} notified None"
    assert notifier.edits[0].content.content == f"task {task} claimed cli:bo"
    assert chat_row(db, f"task:{task}").state == "sent"


def test_restart_never_duplicates_a_card(db: Database) -> None:
    tasks = [make_task(db, n) for n in (1, 2)]
    for task in tasks:
        queue(db, task)
    before = FakeNotifier()
    send(db, before)
    after = FakeNotifier(chat=before.chat)  # a new process: nothing in memory, same chat
    assert send(db, after) == DispatchResult()
    update_task(db, tasks[0], state="claimed")
    assert send(db, after) == DispatchResult(edited=1)
    assert after.posts == []
    assert len(before.chat.messages) == 2


def test_a_post_lost_before_commit_is_not_posted_twice(db: Database) -> None:
    task = make_task(db, 1)
    queue(db, task)
    notifier = FakeNotifier()
    notifier.lose_answers = 1  # chat took the post; its answer never reached us
    assert send(db, notifier).stopped == "unavailable"
    assert chat_row(db, f"task:{task}").message_id is None
    restarted = FakeNotifier(chat=notifier.chat)
    assert send(db, restarted, utcnow() + timedelta(minutes=1)) == DispatchResult(posted=1)
    assert len(notifier.chat.messages) == 1  # chat dropped the repeated nonce
    (message_id,) = notifier.chat.messages
    assert chat_row(db, f"task:{task}").message_id == message_id


def test_a_card_deleted_in_chat_is_posted_again(db: Database) -> None:
    task = make_task(db, 1)
    queue(db, task)
    notifier = FakeNotifier()
    send(db, notifier)
    old = notifier.posts[0].message_id
    notifier.chat.delete(old)
    update_task(db, task, state="claimed")
    assert send(db, notifier) == DispatchResult(posted=1)
    new = notifier.posts[1]
    assert new.nonce == f"task:{task}#1"
    row = chat_row(db, f"task:{task}")
    assert (row.message_id, row.state, row.payload) == (new.message_id, "sent", {"reposts": 1})


def test_rejected_message_is_dead_with_the_reason(db: Database) -> None:
    first, second = make_task(db, 1), make_task(db, 2)
    queue(db, first, priority=1)
    queue(db, second, priority=2)
    notifier = FakeNotifier().fail(1, ChatRejectedError("403 Missing Permissions"))
    assert send(db, notifier) == DispatchResult(posted=1, dead=1)
    dead = chat_row(db, f"task:{first}")
    assert (dead.state, dead.last_error) == ("dead", "403 Missing Permissions")
    assert send(db, notifier) == DispatchResult()


def test_a_change_brings_a_dead_message_back(db: Database) -> None:
    task = make_task(db, 1)
    queue(db, task)
    send(db, FakeNotifier().fail(1, ChatRejectedError("403 Missing Permissions")))
    update_task(db, task, state="claimed")
    row = chat_row(db, f"task:{task}")
    assert (row.state, row.attempts) == ("pending", 0)
    assert send(db, FakeNotifier()) == DispatchResult(posted=1)


def test_rate_limited_waits_without_counting_an_attempt(db: Database) -> None:
    queue(db, make_task(db, 1))
    notifier = FakeNotifier().fail(1, ChatRateLimitedError("slow down", retry_after=30))
    start = utcnow()
    assert send(db, notifier, start).stopped == "rate_limited"
    (row,) = chat_rows(db)
    assert (row.attempts, row.next_attempt_at) == (0, start + timedelta(seconds=30))
    assert send(db, notifier, start + timedelta(seconds=29)) == DispatchResult()
    assert notifier.calls == 1
    assert send(db, notifier, start + timedelta(seconds=30)) == DispatchResult(posted=1)


def test_revoked_token_stops_and_names_the_variable(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    queue(db, make_task(db, 1))
    notifier = FakeNotifier().fail(2, ChatAuthError("401 Unauthorized"))
    assert send(db, notifier).stopped == "auth"
    assert send(db, notifier, utcnow() + timedelta(minutes=5)).stopped == "auth"
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "SOCIALCRM_DISCORD_TOKEN" in errors[0]
    assert chat_rows(db)[0].attempts == 0


def test_a_queue_without_a_channel_waits_and_is_logged_once(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    lost, found = make_task(db, 1, queue="nowhere"), make_task(db, 2)
    queue(db, lost, priority=1, name="nowhere")
    queue(db, found, priority=2)
    notifier = FakeNotifier()
    assert send(db, notifier) == DispatchResult(posted=1, unrouted=1)
    assert send(db, notifier) == DispatchResult(unrouted=1)
    assert chat_row(db, f"task:{lost}").state == "pending"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "queue nowhere has no chat channel: set discord.channels or .default_channel"
    ]


def test_a_message_that_cannot_be_rendered_is_dead_and_others_go_on(db: Database) -> None:
    queue(db, make_task(db, 1), priority=1)
    with db.transaction() as session:
        session.add(models.ChatMessage(key="card:broken", kind="card", queue="support", priority=0))
    notifier = FakeNotifier()
    assert send(db, notifier) == DispatchResult(posted=1, dead=1)
    broken = chat_row(db, "card:broken")
    assert broken.state == "dead"
    assert str(broken.last_error).startswith("bug: KeyError")


def test_a_notifier_bug_is_retried_then_buried(db: Database) -> None:
    queue(db, make_task(db, 1))
    notifier = FakeNotifier().fail(notify.MAX_BUG_ATTEMPTS, RuntimeError("oops"))
    now, results = utcnow(), []
    for _ in range(notify.MAX_BUG_ATTEMPTS):
        results.append(send(db, notifier, now))
        now += timedelta(minutes=10)
    assert [r.failed for r in results[:-1]] == [1] * (notify.MAX_BUG_ATTEMPTS - 1)
    assert results[-1] == DispatchResult(dead=1)
    assert chat_rows(db)[0].last_error == "bug: RuntimeError: oops"


def test_limit_bounds_a_round(db: Database) -> None:
    for number in range(1, 4):
        queue(db, make_task(db, number))
    notifier = FakeNotifier()
    assert send(db, notifier, limit=2) == DispatchResult(posted=2)
    assert send(db, notifier, limit=2) == DispatchResult(posted=1)


def test_alerts_are_queued_once_per_key(db: Database) -> None:
    with db.transaction() as session:
        notify.queue_alert(session, "disk", "support", "disk full")
    with db.transaction() as session:
        notify.queue_alert(session, "disk", "support", "disk full again")
    (row,) = chat_rows(db)
    assert (row.key, row.kind, row.priority, row.payload) == (
        "alert:disk", "alert", 2, {"text": "disk full"},
    )  # fmt: skip
    notifier = FakeNotifier()
    send(db, notifier)
    send(db, notifier)
    assert [p.content.content for p in notifier.posts] == ["alert disk full"]


def test_a_long_alert_key_is_shortened_and_still_unique(db: Database) -> None:
    with db.transaction() as session:
        notify.queue_alert(session, "source:" + "s" * 300 + ":a", "support", "one")
        notify.queue_alert(session, "source:" + "s" * 300 + ":b", "support", "two")
    assert [len(row.key) for row in chat_rows(db)] == [255, 255]


def test_queue_card_updates_priority_and_queue(db: Database) -> None:
    task = make_task(db, 1)
    queue(db, task, priority=3)
    queue(db, task, priority=1, name="sales")
    (row,) = chat_rows(db)
    assert (row.kind, row.task_id, row.priority, row.queue, row.version) == (
        "card", task, 1, "sales", 2,
    )  # fmt: skip


def test_nonce_is_short_stable_and_new_for_a_repost() -> None:
    long_key = "alert:sla-breach:123456:1793700000"
    assert notify.nonce_for("task:12") == "task:12"
    assert notify.nonce_for("task:12", 1) == "task:12#1"
    assert len(notify.nonce_for(long_key)) == notify.NONCE_LENGTH
    assert notify.nonce_for(long_key) == notify.nonce_for(long_key)
    assert notify.nonce_for(long_key) != notify.nonce_for(long_key, 1)


def test_channel_router() -> None:
    settings = DiscordSettings(
        channels={"support": CHANNELS["support"]},
        alerts_channel="333333333333333333",
        default_channel="444444444444444444",
    )
    route = notify.channel_router(settings, "alerts")
    assert [route(q) for q in ("support", "alerts", "sales")] == [
        CHANNELS["support"], "333333333333333333", "444444444444444444",
    ]  # fmt: skip
    assert notify.channel_router(DiscordSettings(), "alerts")("support") is None


def test_renderer_shows_cards_alerts_and_incidents(db: Database) -> None:
    task = make_task(db, 1)
    with db.transaction() as session:
        incident = models.Incident(
            query="brand:inkwell", window_start=utcnow(), kind="volume", volume=40, negatives=2
        )
        session.add(incident)
        session.flush()
        notify.queue_card(session, task, "support", 3)
        notify.queue_alert(session, "a", "support", "source @everyone down")
        notify.queue_incident(session, incident.id, "support")
    render_all = notify.renderer(lambda _session, task_id: ChatContent(content=f"card {task_id}"))
    notifier = FakeNotifier()
    dispatch(db, notifier, render_all, channel_for)
    incident_post, alert_post, card_post = notifier.posts  # by priority: 1, 2, 3
    assert card_post.content.content == f"card {task}"
    assert alert_post.content.content == "source @\u200beveryone down"
    assert incident_post.content.buttons[0].custom_id == f"incident:{incident.id}:ack"


def test_a_digest_is_queued_once_and_rendered_when_it_is_sent(db: Database) -> None:
    until = utcnow()
    seen: list[tuple[datetime, datetime]] = []

    def digest(session: Session, since: datetime, end: datetime) -> ChatContent:
        seen.append((since, end))
        return ChatContent(content="weekly", files=(("trend.png", b"png"),))

    with db.transaction() as session:
        for _ in range(2):
            notify.queue_digest(session, "alerts", until - timedelta(days=7), until)
    render_all = notify.renderer(lambda session, task_id: ChatContent(), digest)
    notifier = FakeNotifier()
    result = dispatch(db, notifier, render_all, lambda queue: "333", now=utcnow())
    assert result == DispatchResult(posted=1)
    assert seen == [(until - timedelta(days=7), until)]
    assert notifier.posts[0].content.files == (("trend.png", b"png"),)
