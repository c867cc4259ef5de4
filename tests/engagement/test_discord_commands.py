"""Slash commands (/queue, /customer, /stats) and the incident's Acknowledge button."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from engagement import notify, queue
from socialcrm import models
from socialcrm.db import Database
from tests.engagement.fakediscord import (
    ANA,
    BEN,
    GUILD_ID,
    OTHER_CHANNEL_ID,
    Env,
    bot_env,
    buttons,
    new_task,
    settings,
)

EPHEMERAL = 64
ALERTS_CHANNEL = 1_300_000_000_000_000_009


@pytest.fixture
def env(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    with bot_env(db, monkeypatch) as env:
        yield env


def _shown(answers: list[dict[str, Any]]) -> dict[str, Any]:
    (answer,) = answers
    assert answer["type"] == 4
    data: dict[str, Any] = answer["data"]
    assert data["flags"] & EPHEMERAL
    assert data["allowed_mentions"] == {"parse": []}
    return data


def test_queue_lists_my_tasks_and_the_teams_with_links_to_the_cards(env: Env) -> None:
    mine, theirs = new_task(env.db, 1), new_task(env.db, 2, text="the printer @everyone")
    env.deliver()
    queue.claim(env.db, mine, queue.Actor(f"discord:{ANA}", "Ana"))
    shown = _shown(env.harness.command("queue", who=ANA))
    (embed,) = shown["embeds"]
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    card = env.card(mine)
    assert (
        f"[#{mine}](https://discord.com/channels/{GUILD_ID}/{card['channel_id']}/{card['id']})"
        in (fields["Yours"])
    )
    assert f"#{theirs}" in fields["The team's"]
    assert f"#{mine}]" not in fields["The team's"]
    assert "@everyone" not in fields["The team's"]  # post text is neutralised


def test_customer_shows_the_linked_customer_or_says_there_is_none(env: Env) -> None:
    new_task(env.db)
    with env.db.transaction() as session:
        customer = models.Customer(display_name="Ana *Corp*", attributes={"vip": True})
        session.add(customer)
        session.flush()
        author = session.scalars(select(models.Author).where(models.Author.handle == "ana")).one()
        author.customer_id = customer.id
    shown = _shown(
        env.harness.command("customer", [{"name": "handle", "type": 3, "value": "@ana"}])
    )
    (embed,) = shown["embeds"]
    assert embed["title"] == "Ana \\*Corp\\*"
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert (fields["VIP"], fields["Open tasks"], fields["Mentions"]) == ("yes", "1", "1")

    nobody = [{"name": "handle", "type": 3, "value": "@everyone"}]
    text = _shown(env.harness.command("customer", nobody))["content"]
    assert text.startswith("No customer is linked to")
    assert "@everyone" not in text


def test_stats_shows_the_queue_in_numbers(env: Env) -> None:
    new_task(env.db, 1)
    new_task(env.db, 2)
    (embed,) = _shown(env.harness.command("stats", who=BEN))["embeds"]
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert fields["open"] == "2"
    assert fields["by queue"] == "support: 2"
    assert fields["sla met share"] == "—"


def test_an_incident_is_acknowledged_once(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    config = settings({"alerts_channel": str(ALERTS_CHANNEL)})
    with db.transaction() as session:
        incident = models.Incident(
            query="brand:inkwell",
            window_start=datetime(2026, 11, 3, 9, tzinfo=UTC),
            kind="volume",
            volume=40,
            negatives=30,
            baseline={"mean": 4.0, "sigma": 2.0},
            drivers={"terms": [["outage", 12]], "posts": [], "sentiment": {"negative": 30}},
        )
        session.add(incident)
        session.flush()
        incident_id = incident.id
        notify.queue_incident(session, incident_id, config.alerts.queue)
    with bot_env(db, monkeypatch, config) as env:
        env.deliver()
        (message,) = env.fake.held(ALERTS_CHANNEL)
        # the incident opens a thread for its discussion, named after it
        (thread,) = env.fake.find(
            "POST", f"/channels/{ALERTS_CHANNEL}/messages/{message['id']}/threads"
        )
        assert thread.body["name"] == f"Incident {incident_id}: brand:inkwell"
        ack = f"incident:{incident_id}:ack"
        assert buttons(message)[ack]["disabled"] is False
        done = _shown(env.harness.press(message, ack, BEN))
        assert done["content"] == f"Incident #{incident_id} acknowledged."
        again = _shown(env.harness.press(message, ack, ANA))
        assert f"already acknowledged by <@{BEN}>" in again["content"]
        env.deliver()
        (edited,) = env.fake.held(ALERTS_CHANNEL)
        assert buttons(edited)[ack]["disabled"] is True
        assert env.fake.held(OTHER_CHANNEL_ID) == []
    with db.transaction() as session:
        stored = session.get(models.Incident, incident_id)
        assert stored is not None
        assert stored.acknowledged_by == f"discord:{BEN}"
