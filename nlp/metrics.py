"""Metrics: macro-recall (TweetEval's official one), F1, accuracy, calibration error."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch


def per_class_recall(pred: Sequence[int], gold: Sequence[int], n: int) -> list[float]:
    """Recall of each class (0.0 for a class absent from `gold`)."""
    hits = [0] * n
    totals = [0] * n
    for p, g in zip(pred, gold, strict=True):
        totals[g] += 1
        hits[g] += int(p == g)
    return [h / t if t else 0.0 for h, t in zip(hits, totals, strict=True)]


def f1_of(pred: Sequence[int], gold: Sequence[int], cls: int) -> float:
    """F1 of one class."""
    tp = sum(p == cls and g == cls for p, g in zip(pred, gold, strict=True))
    fp = sum(p == cls and g != cls for p, g in zip(pred, gold, strict=True))
    fn = sum(p != cls and g == cls for p, g in zip(pred, gold, strict=True))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def report(pred: Sequence[int], gold: Sequence[int], names: Sequence[str]) -> dict[str, object]:
    """Macro-recall, macro-F1, accuracy and per-class recall, in percent."""
    n = len(names)
    recalls = per_class_recall(pred, gold, n)
    f1s = [f1_of(pred, gold, c) for c in range(n)]
    accuracy = sum(p == g for p, g in zip(pred, gold, strict=True)) / max(len(gold), 1)
    return {
        "n": len(gold),
        "macro_recall": round(100 * sum(recalls) / n, 2),
        "macro_f1": round(100 * sum(f1s) / n, 2),
        "accuracy": round(100 * accuracy, 2),
        "recall": {name: round(100 * r, 2) for name, r in zip(names, recalls, strict=True)},
        "f1": {name: round(100 * f, 2) for name, f in zip(names, f1s, strict=True)},
    }


def expected_calibration_error(probs: torch.Tensor, gold: torch.Tensor, bins: int = 15) -> float:
    """ECE of the top label, in percent: |accuracy - confidence| averaged over confidence bins."""
    confidence, pred = probs.max(dim=-1)
    correct = (pred == gold).float()
    edges = torch.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():
            gap = (correct[inside].mean() - confidence[inside].mean()).abs().item()
            total += gap * inside.float().mean().item()
    return round(100 * total, 2)


def binary_probs(p: torch.Tensor) -> torch.Tensor:
    """Two-column probabilities [no, yes] from a vector of P(yes)."""
    return torch.stack([1 - p, p], dim=-1)
