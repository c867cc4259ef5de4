"""Sentiment from any Hugging Face sequence-classification model (a hub id or a local folder)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from nlp.encoder import ModelNotFoundError
from nlp.infer import length_batches
from nlp.labels import SENTIMENTS

_GENERIC = re.compile(r"^label_(\d+)$", re.IGNORECASE)


def label_order(id2label: dict[int, str]) -> list[int]:
    """For negative, neutral, positive: the model's output index of each.

    Names are matched by their start (neg/neu/pos); LABEL_0..2 are taken as that order, the
    convention of the common 3-class Twitter sentiment models.
    """
    if len(id2label) != len(SENTIMENTS):
        raise ModelNotFoundError(
            f"a sentiment model needs 3 labels, not {sorted(id2label.values())}"
        )
    found: dict[str, int] = {}
    for index, name in id2label.items():
        generic = _GENERIC.match(name)
        if generic:
            found[SENTIMENTS[int(generic.group(1))]] = int(index)
            continue
        for sentiment in SENTIMENTS:
            if name.lower().startswith(sentiment[:3]):
                found[sentiment] = int(index)
    if set(found) != set(SENTIMENTS):
        raise ModelNotFoundError(
            f"cannot tell negative/neutral/positive apart in labels {sorted(id2label.values())}"
        )
    return [found[s] for s in SENTIMENTS]


@dataclass
class HubSentiment:
    """A 3-class sentiment model loaded with transformers' Auto classes."""

    name: str
    tokenizer: Any
    model: Any
    order: list[int]

    @classmethod
    def load(cls, name: str) -> HubSentiment:
        """Load by hub id (downloads once, then cached) or from a local folder."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(name)
            model = AutoModelForSequenceClassification.from_pretrained(name)
        except (OSError, ValueError) as exc:
            raise ModelNotFoundError(
                f"cannot load sentiment model {name!r}: {str(exc).splitlines()[0]}"
            ) from exc
        model.eval()
        return cls(name, tokenizer, model, label_order(dict(model.config.id2label)))

    @property
    def label(self) -> str:
        """`name@revision` (the commit when it came from the hub, else `local`)."""
        revision = getattr(self.model.config, "_commit_hash", None) or "local"
        return f"{self.name}@{revision[:12]}"

    @torch.inference_mode()
    def probabilities(self, texts: Sequence[str]) -> torch.Tensor:
        """Rows of [negative, neutral, positive] probabilities, in the order of `texts`."""
        out = torch.empty((len(texts), len(SENTIMENTS)))
        for positions, batch in length_batches(self.tokenizer, texts):
            logits = self.model(**batch).logits.float()
            out[positions] = logits.softmax(-1)[:, self.order]
        return out
