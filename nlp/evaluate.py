"""Evaluation: sentiment on TweetEval validation, intents on the dev splits held out of training."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from nlp import data, metrics
from nlp.data import Example
from nlp.infer import Scorer
from nlp.labels import ACT_INTENT, ACT_LABELS, SENTIMENTS
from nlp.scoring import intent_probs, sentiment_probs

if TYPE_CHECKING:
    from nlp.classifier import Classifier
    from nlp.hub import HubSentiment

# Where each intent's gold labels come from: (dev task, gold label as 0/1 of an example).
INTENT_GOLD: dict[str, tuple[str, Any]] = {
    "complaint": ("complaint", lambda e: e.label),
    "spam": ("spam", lambda e: e.label),
    "question": ("act", lambda e: int(ACT_INTENT.get(ACT_LABELS[e.label]) == "question")),
    "feature_request": (
        "act",
        lambda e: int(ACT_INTENT.get(ACT_LABELS[e.label]) == "feature_request"),
    ),
}


def evaluate_net(
    scorer: Scorer, data_dir: Path, dev: dict[str, list[Example]], hub: HubSentiment | None = None
) -> dict[str, Any]:
    """Every metric the artifact records: sentiment on validation, intents on dev splits."""
    val = data.tweeteval(data_dir, "val")
    texts = [data.normalise(e.text) for e in val]
    if hub is not None:
        probs = hub.probabilities(texts)
    else:
        probs = sentiment_probs(scorer.logits(texts)["sentiment"], scorer.meta)
    out: dict[str, Any] = {"sentiment": sentiment_report(probs, val)}
    by_task: dict[str, dict[str, torch.Tensor]] = {}
    for intent, (task, gold_of) in INTENT_GOLD.items():
        examples = dev.get(task, [])
        if not examples:
            continue
        if task not in by_task:
            logits = scorer.logits([data.normalise(e.text) for e in examples])
            by_task[task] = intent_probs(logits, scorer.meta)
        out[intent] = binary_report(by_task[task][intent], [gold_of(e) for e in examples])
    return out


def evaluate_classifier(classifier: Classifier, data_dir: Path) -> dict[str, Any]:
    """Metrics of a loaded classifier, on the same dev splits its training held out."""
    from nlp.train import TrainConfig, corpus

    recorded = classifier.scorer.meta.training
    cfg = TrainConfig(
        data_dir=data_dir,
        output=data_dir,
        seed=recorded.get("seed", 0),
        sentiment_dev=recorded.get("sentiment_dev", 0),
        intent_dev_fraction=recorded.get("intent_dev_fraction", 0.2),
        limit=recorded.get("limit"),
    )
    dev = {task: split.dev for task, split in corpus(cfg).items()}
    return evaluate_net(classifier.scorer, data_dir, dev, classifier.hub)


def macro_recall(pred: list[int], gold: list[int]) -> float:
    """Sentiment macro-recall as a fraction."""
    return sum(metrics.per_class_recall(pred, gold, len(SENTIMENTS))) / len(SENTIMENTS)


def sentiment_report(probs: torch.Tensor, gold_examples: list[Example]) -> dict[str, Any]:
    """Sentiment metrics plus calibration error."""
    gold = torch.tensor([e.label for e in gold_examples])
    result = metrics.report(probs.argmax(-1).tolist(), gold.tolist(), SENTIMENTS)
    result["ece"] = metrics.expected_calibration_error(probs, gold)
    result["split"] = "tweeteval/sentiment val"
    return result


def binary_report(p: torch.Tensor, gold: list[int]) -> dict[str, Any]:
    """Binary metrics at 0.5: F1 of the intent, macro-F1, accuracy, and calibration error."""
    pred = (p >= 0.5).long().tolist()
    result = metrics.report(pred, gold, ("no", "yes"))
    result["ece"] = metrics.expected_calibration_error(metrics.binary_probs(p), torch.tensor(gold))
    result["split"] = "dev carve-out of train (never trained on)"
    return result
