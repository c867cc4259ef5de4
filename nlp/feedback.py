"""Staff corrections: stored as labels, learnt from by `nlp train --with-feedback`."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from nlp.data import Example
from nlp.labels import ACT_LABELS, INTENTS, SENTIMENTS
from socialcrm import models


class CorrectionError(ValueError):
    """A correction names an unknown mention or label."""


def record(
    session: Session, mention_id: int, sentiment: str | None, intents: Sequence[str] | None, by: str
) -> models.LabelCorrection:
    """Store a person's labels for a mention (the latest correction of a mention wins)."""
    if session.get(models.Mention, mention_id) is None:
        raise CorrectionError(f"no mention with id {mention_id}")
    if sentiment is not None and sentiment not in SENTIMENTS:
        raise CorrectionError(
            f"unknown sentiment {sentiment!r}: expected one of {', '.join(SENTIMENTS)}"
        )
    unknown = sorted(set(intents or ()) - set(INTENTS))
    if unknown:
        raise CorrectionError(
            f"unknown intent {unknown[0]!r}: expected some of {', '.join(INTENTS)}"
        )
    if sentiment is None and intents is None:
        raise CorrectionError("nothing to correct: give a sentiment, intents, or both")
    correction = models.LabelCorrection(
        mention_id=mention_id,
        sentiment=sentiment,
        intents=sorted(set(intents)) if intents is not None else None,
        corrected_by=by,
    )
    session.add(correction)
    session.flush()
    return correction


def examples(session: Session) -> list[Example]:
    """Training examples from the latest correction of every mention."""
    query = (
        select(models.LabelCorrection, models.Mention.text)
        .join(models.Mention, models.Mention.id == models.LabelCorrection.mention_id)
        .order_by(models.LabelCorrection.id)
    )
    latest = {c.mention_id: (c, text) for c, text in session.execute(query)}
    out: list[Example] = []
    for correction, text in latest.values():
        out += to_examples(text, correction.sentiment, correction.intents)
    return out


def to_examples(text: str, sentiment: str | None, intents: Sequence[str] | None) -> list[Example]:
    """The examples one correction teaches: sentiment, complaint, spam, question, suggestion."""
    out: list[Example] = []
    if sentiment is not None:
        out.append(Example(text, "sentiment", SENTIMENTS.index(sentiment)))
    if intents is None:
        return out
    chosen = set(intents)
    out.append(Example(text, "complaint", int("complaint" in chosen)))
    out.append(Example(text, "spam", int("spam" in chosen)))
    # Speech acts are exclusive; a correction only says which act a text is when it names one.
    if "question" in chosen:
        out.append(Example(text, "act", ACT_LABELS.index("QUE")))
    elif "feature_request" in chosen:
        out.append(Example(text, "act", ACT_LABELS.index("SUG")))
    return out
