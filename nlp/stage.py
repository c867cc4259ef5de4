"""The pipeline's classify stage: label a batch of mentions and store the labels."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from nlp.classifier import Classifier
from socialcrm import models, storage
from socialcrm.mention import Classification, Mention


def mention_text(mention: Mention) -> str:
    """What the model reads: the title (posts and stories have one) and the text."""
    if mention.title and mention.title.strip() not in mention.text:
        return f"{mention.title.strip()}. {mention.text}"
    return mention.text


def row(mention_id: int, label: Classification) -> dict[str, object]:
    """The `classifications` row of one mention."""
    return {
        "mention_id": mention_id,
        "sentiment": label.sentiment,
        "sentiment_scores": dict(label.sentiment_scores),
        "intents": dict(label.intents),
        "needs_reply": label.needs_reply,
        "uncertain": label.uncertain,
        "lang": label.lang,
        "model": label.model,
    }


@dataclass
class ClassifyStage:
    """Classify mentions in one batched pass; re-running replaces the earlier labels."""

    # returns the process's classifier (`classifier.shared` loads it once)
    load: Callable[[], Classifier]

    def __call__(self, session: Session, mentions: Sequence[Mention]) -> None:
        if not mentions:
            return
        labels = self.load().classify([mention_text(m) for m in mentions])
        rows = [
            row(m.id, label) for m, label in zip(mentions, labels, strict=True) if m.id is not None
        ]
        insert = storage.upsert(session, models.Classification).values(rows)
        replace = {c: insert.excluded[c] for c in rows[0] if c != "mention_id"}
        session.execute(insert.on_conflict_do_update(index_elements=["mention_id"], set_=replace))
