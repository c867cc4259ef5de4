"""The card buttons and their forms, driven with interactions as Discord's gateway sends them.

Each test presses buttons on the card the bot really posted (to the fake Discord), submits the
forms the bot really opened, and checks what the bot answered and what the queue stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from collectors.base import TransientSourceError
from socialcrm import models
from socialcrm.db import Database
from tests.engagement.builders import audit
from tests.engagement.fakediscord import (
    ANA,
    BEN,
    CAL,
    HOSTILE,
    RESPONDER_ROLE,
    Env,
    bot_env,
    buttons,
    new_task,
    settings,
)

EPHEMERAL = 64
SENDER = [RESPONDER_ROLE]


@pytest.fixture
def env(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    with bot_env(db, monkeypatch) as env:
        yield env


@pytest.fixture
def task_id(env: Env) -> int:
    task_id = new_task(env.db)
    env.deliver()
    return task_id


def _one(answers: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(answers) == 1, answers
    return answers[0]


def _reply(answer: dict[str, Any]) -> dict[str, Any]:
    """The message an answer shows: a callback's data, or a follow-up's body."""
    return answer["data"] if "type" in answer else answer


def _ephemeral_text(answer: dict[str, Any]) -> str:
    shown = _reply(answer)
    assert shown["flags"] & EPHEMERAL
    assert shown["allowed_mentions"] == {"parse": []}
    return str(shown["content"])


def test_claim_makes_the_presser_the_owner(env: Env, task_id: int) -> None:
    answer = _one(env.harness.press(env.card(task_id), f"task:{task_id}:claim", ANA))
    assert _ephemeral_text(answer) == f"Task #{task_id} is yours."
    assert set(buttons(_reply(answer))) == {f"task:{task_id}:reply", f"task:{task_id}:release"}
    task = env.task(task_id)
    assert (task.state, task.assignee) == ("claimed", f"discord:{ANA}")
    assert audit(env.db, task_id)[-1].actor == f"discord:{ANA}"


def test_someone_elses_task_says_who_and_offers_an_explicit_take_over(
    env: Env, task_id: int
) -> None:
    env.harness.press(env.card(task_id), f"task:{task_id}:claim", ANA)
    answer = _one(env.harness.press(env.card(task_id), f"task:{task_id}:claim", BEN))
    assert f"claimed by <@{ANA}>" in _ephemeral_text(answer)
    offer = env.harness.message_from(answer)
    assert list(buttons(offer)) == [f"task:{task_id}:takeover"]
    assert env.task(task_id).assignee == f"discord:{ANA}"  # nothing changed yet

    taken = _one(env.harness.press(offer, f"task:{task_id}:takeover", BEN))
    assert _ephemeral_text(taken) == f"You took task #{task_id} over from <@{ANA}>."
    assert env.task(task_id).assignee == f"discord:{BEN}"
    assert audit(env.db, task_id)[-1].action == "task.take_over"


def test_reply_on_someone_elses_task_offers_a_take_over_instead_of_the_form(
    env: Env, task_id: int
) -> None:
    env.harness.press(env.card(task_id), f"task:{task_id}:claim", ANA)
    answer = _one(env.harness.press(env.card(task_id), f"task:{task_id}:reply", BEN))
    assert answer["type"] == 4  # a message, not a modal (9)
    assert f"task:{task_id}:takeover" in buttons(_reply(answer))


def bound(message: dict[str, Any], task_id: int, action: str) -> str:
    """The id of the message's `action` button bound to the draft it shows."""
    (found,) = [key for key in buttons(message) if key.startswith(f"task:{task_id}:{action}:")]
    return found


def _draft(env: Env, task_id: int, text: str, who: int = ANA) -> dict[str, Any]:
    """Press Reply, check the prefilled form, submit `text`; the preview answer."""
    modal = _one(env.harness.press(env.card(task_id), f"task:{task_id}:reply", who))
    assert modal["type"] == 9
    return _one(env.harness.submit(modal["data"], [text], who))


def test_reply_form_is_prefilled_with_the_template_for_the_top_intent(
    env: Env, task_id: int
) -> None:
    modal = _one(env.harness.press(env.card(task_id), f"task:{task_id}:reply", ANA))
    (row,) = modal["data"]["components"]
    assert row["components"][0]["value"].startswith("Hi ana, sorry about this.")


def test_reply_preview_then_send_posts_through_the_responder(env: Env, task_id: int) -> None:
    preview = _draft(env, task_id, "Sorry about that, @ana!")
    assert "press Send" in _ephemeral_text(preview)
    (embed,) = _reply(preview)["embeds"]
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert fields["Posted on"] == "Mastodon"
    assert "example.social/@ana/1" in fields["In reply to"]
    assert fields["As"].startswith("the account of SOCIALCRM\\_MASTODON\\_ACCESS\\_TOKEN")
    assert embed["url"] == "https://example.social/@ana/1"
    assert set(buttons(_reply(preview))) == {
        bound(_reply(preview), task_id, "send"),
        f"task:{task_id}:reply",
    }
    assert env.task(task_id).draft == "Sorry about that, @ana!"
    assert env.responder.posted == []  # nothing public before Send

    shown = env.harness.message_from(preview)
    deferred, result = env.harness.press(shown, bound(shown, task_id, "send"), ANA, SENDER)
    assert (deferred["type"], deferred["data"]["flags"]) == (5, EPHEMERAL)
    assert "https://example.social/@brand/r1" in _ephemeral_text(result)
    assert [text for _, text, _ in env.responder.posted] == ["Sorry about that, @ana!"]
    task = env.task(task_id)
    assert (task.state, task.reply_url) == ("sent", "https://example.social/@brand/r1")
    env.deliver()
    assert "See the reply" in str(env.card(task_id)["embeds"])


def test_send_needs_a_send_role(env: Env, task_id: int) -> None:
    preview = env.harness.message_from(_draft(env, task_id, "Sorry!"))
    _, refused = env.harness.press(preview, bound(preview, task_id, "send"), ANA, roles=[])
    assert "sending needs one of the roles Responder" in _ephemeral_text(refused)
    assert env.responder.posted == []
    assert env.task(task_id).state == "drafted"


def test_a_send_role_can_be_named_by_its_id(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    config = settings({"send_roles": [str(RESPONDER_ROLE)]})
    with bot_env(db, monkeypatch, config) as env:
        task_id = new_task(db)
        env.deliver()
        preview = env.harness.message_from(_draft(env, task_id, "Sorry!"))
        env.harness.press(preview, bound(preview, task_id, "send"), ANA, SENDER)
        assert len(env.responder.posted) == 1


def test_with_second_approval_someone_else_approves_on_the_card_then_the_owner_sends(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with bot_env(db, monkeypatch, settings(require_second_approval=True)) as env:
        task_id = new_task(db)
        env.deliver()
        answer = _draft(env, task_id, "Sorry!")
        shown = _reply(answer)
        assert shown["flags"] == EPHEMERAL  # the draft is shown to its author only
        assert "approve it on the card" in shown["content"]
        preview = env.harness.message_from(answer)
        assert buttons(preview)[bound(preview, task_id, "send")]["disabled"] is True

        env.deliver()
        card = env.card(task_id)
        assert "Sorry!" in str(card["embeds"][0]["fields"])  # the card shows what is approved
        approve = bound(card, task_id, "approve")
        own = _one(env.harness.press(card, approve, ANA, SENDER))
        assert "a second person must approve your draft" in _ephemeral_text(own)
        guest = _one(env.harness.press(card, approve, CAL, roles=[]))
        assert "approving needs one of the roles" in _ephemeral_text(guest)
        assert env.task(task_id).approved_by is None

        note = _one(env.harness.press(card, approve, BEN, SENDER))
        assert "owner" in _ephemeral_text(note)
        assert env.task(task_id).approved_by == f"discord:{BEN}"
        env.deliver()
        approved = env.card(task_id)
        assert bound(approved, task_id, "send")
        assert not any(key.startswith(f"task:{task_id}:approve") for key in buttons(approved))

        env.harness.press(approved, bound(approved, task_id, "send"), ANA, SENDER)
        assert [text for _, text, _ in env.responder.posted] == ["Sorry!"]
        assert env.task(task_id).state == "sent"


def test_an_approval_of_a_draft_that_changed_since_is_refused(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with bot_env(db, monkeypatch, settings(require_second_approval=True)) as env:
        task_id = new_task(db)
        env.deliver()
        _draft(env, task_id, "Sorry, a harmless text")
        env.deliver()
        stale = env.card(task_id)  # Ben has this card open
        _draft(env, task_id, "something else entirely")
        refused = _one(env.harness.press(stale, bound(stale, task_id, "approve"), BEN, SENDER))
        assert "changed since you saw it" in _ephemeral_text(refused)
        assert env.task(task_id).approved_by is None


def _notes(db: Database, task_id: int) -> list[str]:
    with db.transaction() as session:
        return list(
            session.scalars(
                select(models.TaskNote.text)
                .where(models.TaskNote.task_id == task_id)
                .order_by(models.TaskNote.id)
            )
        )


def test_a_note_is_stored_and_posted_in_the_cards_thread_never_to_the_platform(
    env: Env, task_id: int
) -> None:
    card = env.card(task_id)
    for text in (HOSTILE, "second"):
        modal = _one(env.harness.press(env.card(task_id), f"task:{task_id}:note", BEN))
        done = _one(env.harness.submit(modal["data"], [text], BEN))
        assert "posted in the card's thread" in _ephemeral_text(done)
    assert _notes(env.db, task_id) == [HOSTILE, "second"]
    # one thread, opened on the card; a thread started on a message has the message's id
    (opened,) = env.fake.find(
        "POST", f"/channels/{card['channel_id']}/messages/{card['id']}/threads"
    )
    assert opened.body["name"] == f"Task {task_id} notes"
    first, second = env.fake.channel_posts(int(card["id"]))
    assert first["allowed_mentions"] == {"parse": []}
    assert first["content"].startswith(f"Note by <@{BEN}>: ")
    for raw in ("@everyone", "<@&123>", "](javascript:"):
        assert raw not in first["content"]
    assert second["content"].endswith("second")
    assert env.responder.posted == []


def test_dismiss_asks_why_and_keeps_the_reason(env: Env, task_id: int) -> None:
    modal = _one(env.harness.press(env.card(task_id), f"task:{task_id}:dismiss", ANA))
    assert modal["type"] == 9
    done = _one(env.harness.submit(modal["data"], ["spam from a bot"], ANA))
    assert _ephemeral_text(done) == f"Task #{task_id} dismissed."
    assert env.task(task_id).state == "dismissed"
    assert _notes(env.db, task_id) == ["dismiss: spam from a bot"]
    env.deliver()
    disabled = {cid for cid, b in buttons(env.card(task_id)).items() if b.get("disabled")}
    assert f"task:{task_id}:dismiss" in disabled


def test_escalate_hands_the_task_to_the_escalation_queue(env: Env, task_id: int) -> None:
    modal = _one(env.harness.press(env.card(task_id), f"task:{task_id}:escalate", ANA))
    done = _one(env.harness.submit(modal["data"], ["legal threat"], ANA))
    assert "escalations" in _ephemeral_text(done)
    task = env.task(task_id)
    assert (task.state, task.queue, task.priority) == ("escalated", "escalations", 1)


def test_correct_label_stores_a_correction_for_training(env: Env, task_id: int) -> None:
    modal = _one(env.harness.press(env.card(task_id), f"task:{task_id}:correct", CAL))
    sentiment, intents = modal["data"]["components"]
    defaults = [o["value"] for o in sentiment["component"]["options"] if o.get("default")]
    assert defaults == ["negative"]  # prefilled with the model's labels
    ticked = [o["value"] for o in intents["component"]["options"] if o.get("default")]
    assert ticked == ["complaint"]
    done = _one(env.harness.submit(modal["data"], [["positive"], ["praise", "question"]], CAL))
    assert "nlp train --with-feedback" in _ephemeral_text(done)
    with env.db.transaction() as session:
        (correction,) = session.scalars(select(models.LabelCorrection)).all()
        got = (correction.sentiment, correction.intents, correction.corrected_by)
    assert got == ("positive", ["praise", "question"], f"discord:{CAL}")


def test_release_gives_the_task_back(env: Env, task_id: int) -> None:
    answer = _one(env.harness.press(env.card(task_id), f"task:{task_id}:claim", ANA))
    done = _one(env.harness.press(env.harness.message_from(answer), f"task:{task_id}:release"))
    assert "back in the queue" in _ephemeral_text(done)
    task = env.task(task_id)
    assert (task.state, task.assignee) == ("notified", None)


def test_a_button_of_a_task_that_is_gone_answers_in_one_line(env: Env, task_id: int) -> None:
    card = env.card(task_id)
    claim = {"type": 2, "style": 1, "label": "Claim", "custom_id": "task:999:claim"}
    stale = {**card, "components": [{"type": 1, "components": [claim]}]}
    answer = _one(env.harness.press(stale, "task:999:claim", ANA))
    assert _ephemeral_text(answer) == "no task #999"


def test_buttons_answer_only_in_the_configured_server(env: Env, task_id: int) -> None:
    data = {"custom_id": f"task:{task_id}:claim", "component_type": 2}
    payload = env.harness.payload(3, data, BEN, [], env.card(task_id))
    payload["guild_id"] = "1200000000000000099"
    payload["channel"]["guild_id"] = payload["guild_id"]
    before = len(env.fake.callbacks())
    env.harness.interact(payload)
    answer = _one(env.fake.callbacks()[before:])
    assert "discord.guild\\_id" in _ephemeral_text(answer)
    assert env.task(task_id).assignee is None


def test_a_note_is_kept_when_discord_refuses_the_thread(env: Env, task_id: int) -> None:
    env.fake.fail(
        "POST",
        r"/channels/\d+/messages/\d+/threads",
        403,
        {"message": "Missing Permissions", "code": 50013},
    )
    modal = _one(env.harness.press(env.card(task_id), f"task:{task_id}:note", BEN))
    done = _one(env.harness.submit(modal["data"], ["call them back"], BEN))
    assert "give the bot Create Public Threads" in _ephemeral_text(done)
    assert _notes(env.db, task_id) == ["call them back"]


def test_a_platform_failure_on_send_is_one_line_and_the_draft_stays(env: Env, task_id: int) -> None:
    env.responder.error, env.responder.failures = TransientSourceError("timed out"), 1
    preview = env.harness.message_from(_draft(env, task_id, "Sorry!"))
    send = bound(preview, task_id, "send")
    _, failed = env.harness.press(preview, send, ANA, SENDER)
    assert "the reply was not posted: timed out" in _ephemeral_text(failed)
    assert env.task(task_id).draft == "Sorry!"
    _, sent = env.harness.press(preview, send, ANA, SENDER)
    assert "https://example.social/@brand/r1" in _ephemeral_text(sent)
