"""The pipeline's classify stage: labels stored with the mention; a re-run replaces them."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from nlp.classifier import Classifier
from nlp.stage import ClassifyStage, mention_text
from socialcrm import models, pipeline, storage
from socialcrm.db import Database
from socialcrm.mention import MentionState
from socialcrm.settings import Settings
from tests.fakes import FakeCollector, mention, mention_states

TEXTS = ["this update is fantastic, thank you", "Die App stürzt ständig ab und niemand hilft mir."]


def _labels(db: Database) -> dict[str, models.Classification]:
    with db.transaction() as session:
        query = select(models.Mention.text, models.Classification).join(
            models.Classification, models.Classification.mention_id == models.Mention.id
        )
        rows = {text: label for text, label in session.execute(query)}
        session.expunge_all()
        return rows


def test_process_classifies_every_mention(db: Database, classifier: Classifier) -> None:
    mentions = [replace(mention(i), text=text) for i, text in enumerate(TEXTS)]
    assert pipeline.collect(db, FakeCollector(mentions)).status == "ok"
    moved = pipeline.process(db, pipeline.default_stages(Settings()))
    assert moved["classify"] == 2
    assert mention_states(db) == {MentionState.ROUTED.value: 2}
    labels = _labels(db)
    english, german = labels[TEXTS[0]], labels[TEXTS[1]]
    assert english.sentiment == "positive"
    assert english.lang == "en"
    assert english.model == classifier.model
    assert set(english.intents) == {
        "complaint",
        "question",
        "purchase_intent",
        "praise",
        "feature_request",
        "spam",
    }
    assert (german.lang, german.sentiment, german.needs_reply, german.uncertain) == (
        "de",
        None,
        None,
        True,
    )


def test_rerunning_the_stage_replaces_the_labels(db: Database, classifier: Classifier) -> None:
    assert pipeline.collect(db, FakeCollector([replace(mention(1), text=TEXTS[0])])).status == "ok"
    stage = ClassifyStage(lambda: classifier)
    for _ in range(2):
        with db.transaction() as session:
            ids = storage.claim(session, MentionState.COLLECTED, 10)
            stage(session, storage.load_mentions(session, ids))
    with db.transaction() as session:
        assert session.query(models.Classification).count() == 1


def test_the_title_is_read_with_the_text() -> None:
    post = replace(mention(1), title="Login broken", text="since the update I cannot log in")
    assert mention_text(post) == "Login broken. since the update I cannot log in"
    assert (
        mention_text(replace(post, text="Login broken: details inside"))
        == "Login broken: details inside"
    )
