"""From head logits to calibrated probabilities: the one place both classify and eval use."""

from __future__ import annotations

import torch

from nlp.labels import ACT_INTENT, ACT_LABELS
from nlp.network import Meta


def combine(
    logits: dict[str, torch.Tensor], lexical: dict[str, torch.Tensor], meta: Meta
) -> dict[str, torch.Tensor]:
    """Each head's logits plus the lexical model's, weighted as chosen on held-out data."""
    out = dict(logits)
    for task, value in lexical.items():
        out[task] = logits[task] + meta.lexical_weights.get(task, 0.0) * value
    return out


def sentiment_probs(logits: torch.Tensor, meta: Meta) -> torch.Tensor:
    """Calibrated sentiment probabilities, rows of [negative, neutral, positive]."""
    return (logits / meta.temperatures.get("sentiment", 1.0)).softmax(-1)


def intent_probs(logits: dict[str, torch.Tensor], meta: Meta) -> dict[str, torch.Tensor]:
    """Calibrated P(intent) per text for the intents the network itself predicts."""
    temps = meta.temperatures
    act = (logits["act"] / temps.get("act", 1.0)).softmax(-1)
    out = {
        "complaint": (logits["complaint"] / temps.get("complaint", 1.0)).sigmoid(),
        "spam": (logits["spam"] / temps.get("spam", 1.0)).sigmoid(),
    }
    for index, act_label in enumerate(ACT_LABELS):
        intent = ACT_INTENT.get(act_label)
        if intent is not None:
            out[intent] = out.get(intent, torch.zeros(act.shape[0])) + act[:, index]
    return out
