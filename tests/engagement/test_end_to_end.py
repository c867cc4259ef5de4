"""End to end on recorded Mastodon traffic: collected, classified, routed, claimed, answered.

The mention comes from Mastodon.py's recorded notifications (../shared/peers/mastodon), goes
through the real stages (the shipped model classifies it), lands in the queue, is claimed and
answered, and the reply is posted by the Mastodon responder through Mastodon.py; the server's
answer is the recorded reply of `test_status_reply.yaml`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import vcr
import yaml
from sqlalchemy import select
from vcr.request import Request as VcrRequest

from collectors import registry
from engagement import queue
from socialcrm import models, pipeline
from socialcrm.db import Database
from socialcrm.settings import Settings
from tests.collectors.test_mastodon_replay import SERVER, TOKEN, replaying
from tests.collectors.test_mastodon_replay import collector as recorded_collector
from tests.peers import peer_file

pytestmark = pytest.mark.slow

ANA = queue.Actor("discord:1", "ana", may_send=True)
REPLY_ID = "117020583258292382"  # the id the recorded server gave the reply


def _settings() -> Settings:
    return Settings.model_validate(
        {
            "sources": {
                "mastodon": {
                    "enabled": True,
                    "instance": SERVER,
                    "search": False,
                    "notifications": True,
                }
            },
            "engagement": {
                "rules": [
                    {
                        "name": "direct",
                        "queries": ["account:mentions"],
                        "queue": "support",
                        "priority": 2,
                        "sla_minutes": 60,
                    }
                ]
            },
            "secrets": {"mastodon_access_token": TOKEN},
        }
    )


@contextmanager
def _answering(tmp_path: Path, sent: list[VcrRequest]) -> Iterator[None]:
    """The recorded reply POST (the cassette's first POST made the status it answered)."""
    recording = yaml.safe_load(peer_file("mastodon", "test_status_reply.yaml").read_text("utf-8"))
    replies = [
        interaction
        for interaction in recording["interactions"][1:]
        if interaction["request"]["method"] == "POST"
    ]
    cassette = tmp_path / "reply.yaml"
    cassette.write_text(yaml.safe_dump({**recording, "interactions": replies[:1]}), "utf-8")

    def record(request: VcrRequest) -> VcrRequest:
        sent.append(request)
        return request

    player = vcr.VCR(record_mode="none", match_on=["method", "path"], before_record_request=record)
    with player.use_cassette(str(cassette)):
        yield


def test_a_mastodon_mention_is_answered_from_the_queue(db: Database, tmp_path: Path) -> None:
    settings = _settings()
    # the recording's requests: the server's default page size, the brand account's mentions
    collector = recorded_collector(search=False, notifications=True)
    with replaying("test_notifications_mentions_only.yaml"):
        summary = pipeline.collect(db, collector)
    assert (summary.status, summary.new) == ("ok", 1), summary.error

    moved = pipeline.process(db, pipeline.default_stages(settings))
    assert moved == {"classify": 1, "link": 1, "route": 1}
    with db.transaction() as session:
        task = session.scalars(select(models.Task)).one()
        labels = session.get(models.Classification, task.mention_id)
        task_id, state, queue_name = task.id, task.state, task.queue
    assert (state, queue_name) == ("new", "support")
    assert labels is not None
    assert labels.model.startswith("socialcrm-minilm@")

    queue.claim(db, task_id, ANA)
    queue.save_draft(db, task_id, ANA, "thanks, hello to you too!")
    shown = queue.preview(db, task_id, settings)
    assert shown.target_url == "http://localhost:3000/@admin/117020577157693549"
    sent: list[VcrRequest] = []
    with _answering(tmp_path, sent):
        url = queue.send(
            db, task_id, ANA, settings, lambda source: registry.build_responder(source, settings)
        )

    assert url == f"http://localhost:3000/@admin/{REPLY_ID}"
    # vcrpy hands the hook the recorded requests too, and ours more than once: one body is ours
    (body,) = {r.body for r in sent if b"in_reply_to_id=117020577157693549" in (r.body or b"")}
    form = dict(parse_qsl(body.decode()))
    assert form["in_reply_to_id"] == "117020577157693549"
    assert form["status"].endswith("thanks, hello to you too!")
    assert form["status"].startswith("@admin")
    with db.transaction() as session:
        reply = session.scalars(select(models.Reply)).one()
        task = session.get(models.Task, task_id)
        assert task is not None
        assert (reply.state, reply.platform_reply_id) == ("sent", REPLY_ID)
        assert (task.state, task.reply_url, task.reply_key) == ("sent", url, reply.idempotency_key)
