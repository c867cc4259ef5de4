"""Response times, reply outcomes and source coverage on small hand-built data."""

from __future__ import annotations

from datetime import timedelta

from reports import queries
from socialcrm import models
from socialcrm.db import Database
from tests.reports import builders as b


def test_response_times_overall_per_queue_and_person(db: Database) -> None:
    ada = b.author(db, "ada")

    def task(**fields: object) -> None:
        mention = b.mention(db, ada, b.at(0))
        b.task(db, mention, ada, **fields)  # type: ignore[arg-type]

    task(
        opened_at=b.at(0, 1),
        queue="support",
        assignee="ana",
        first_response_minutes=30,
        closed_minutes=60,
    )
    task(
        opened_at=b.at(0, 2),
        queue="support",
        assignee="ana",
        first_response_minutes=90,
        closed_minutes=120,
    )
    task(opened_at=b.at(0, 3), queue="sales", assignee=None)  # unanswered, SLA passed
    task(
        opened_at=b.at(
            0,
            23,
        ),
        queue="sales",
        sla_minutes=600,
    )  # unanswered, SLA not yet due
    task(opened_at=b.at(2), queue="sales", first_response_minutes=1)  # outside the window
    with db.transaction() as session:
        found = queries.response_times(session, b.at(0), b.at(1))
    overall = found["overall"]
    assert (overall["tasks"], overall["answered"]) == (4, 2)
    assert overall["first_response_minutes"] == 60.0
    assert overall["resolution_minutes"] == 90.0
    assert overall["sla_met_share"] == round(1 / 3, 4)  # the not-yet-due one is not judged
    by_queue = {row["name"]: row for row in found["by_queue"]}
    assert by_queue["support"]["sla_met_share"] == 0.5
    assert by_queue["sales"]["sla_met_share"] == 0.0
    assert by_queue["sales"]["first_response_minutes"] is None
    assert [row["name"] for row in found["by_person"]] == ["(unassigned)", "ana"]


def test_response_times_of_an_empty_window(db: Database) -> None:
    with db.transaction() as session:
        found = queries.response_times(session, b.at(0), b.at(1))
    assert found["overall"]["tasks"] == 0
    assert found["by_queue"] == []


def test_reply_outcomes(db: Database) -> None:
    ada = b.author(db, "ada")
    outcomes = ("improved", "improved", "worse", None)
    for number, outcome in enumerate(outcomes):
        mention = b.mention(db, ada, b.at(0))
        b.task(
            db,
            mention,
            ada,
            b.at(0, number),
            first_response_minutes=5,
            reply_key=f"k{number}",
            outcome=outcome,
            state="sent",
        )
        with db.transaction() as session:
            session.add(
                models.Reply(
                    mention_id=mention,
                    idempotency_key=f"k{number}",
                    text="hi",
                    state="failed" if outcome is None else "sent",
                    created_at=b.at(0, number),
                )
            )
    with db.transaction() as session:
        found = queries.reply_outcomes(session, b.at(0), b.at(1))
    assert found["replies"] == {"sent": 3, "failed": 1}
    assert found["outcomes"] == {"improved": 2, "worse": 1, "pending": 1}


def test_coverage_finds_failing_rate_limited_and_unconfigured_spans(db: Database) -> None:
    b.run(db, "reddit", b.at(-1), "error", "boom")  # failing since before the window
    b.run(db, "reddit", b.at(0, 2), "error", "boom")
    b.run(db, "reddit", b.at(0, 3), "ok")
    b.run(db, "reddit", b.at(0, 5), "rate_limited")
    b.run(db, "reddit", b.at(0, 6), "rate_limited")
    b.run(db, "reddit", b.at(0, 8), "ok")
    b.run(db, "mastodon", b.at(0, 1), "ok")
    b.run(db, "mastodon", b.at(0, 20), "config_error", "bad token")  # until the end
    b.run(db, "bluesky", b.at(0, 1), "ok")
    with db.transaction() as session:
        # every 8 hours: the silences between these runs are not outages
        hours = {"reddit": 8 * 3600.0}
        found = queries.coverage(session, b.at(0), b.at(1), ["reddit", "rss"], hours)
    assert [(g["source"], g["status"], g["start"], g["end"]) for g in found] == [
        ("mastodon", "not_configured", b.at(0, 20), b.at(1)),
        ("reddit", "failing", b.at(0), b.at(0, 3)),
        ("reddit", "rate_limited", b.at(0, 5), b.at(0, 8)),
        ("rss", "not_configured", b.at(0), b.at(1)),
    ]
    assert found[1]["error"] == "boom"


def test_coverage_ignores_runs_still_running(db: Database) -> None:
    b.run(db, "reddit", b.at(0, 1), "ok")
    with db.transaction() as session:
        session.add(models.CollectorRun(source="reddit", started_at=b.at(0, 2), status="running"))
        daily = {"reddit": 86_400.0}
        assert queries.coverage(session, b.at(0), b.at(1) - timedelta(hours=1), (), daily) == []
