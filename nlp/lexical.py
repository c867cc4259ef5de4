"""A bag-of-words companion model: hashed word n-grams, TF-IDF, one logistic regression per task.

It sees what the transformer misses (rare words, exact phrases) and costs a few milliseconds
per thousand texts. Its log-probabilities are added to the network's logits with a weight per
task chosen on held-out data (`train.combine_on`). Hashing means no vocabulary is stored:
the artifact holds only the IDF vector and the regression weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize

from nlp.data import Example, normalise

N_FEATURES = 2**18
# words, runs of ! or ?, and the commonest emoticons
TOKENS = r"(?u)\b\w+\b|[!?]+|[:;]-?[()DPp]"
PREFIX = "lexical."


def _vectorizer() -> HashingVectorizer:
    return HashingVectorizer(
        ngram_range=(1, 3),
        n_features=N_FEATURES,
        alternate_sign=False,
        norm=None,
        token_pattern=TOKENS,
    )


@dataclass
class LexicalModel:
    """IDF weights and, per task, a weight matrix (classes x features) and intercepts."""

    idf: np.ndarray[Any, Any]
    heads: dict[str, tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]

    def features(self, texts: Sequence[str]) -> Any:
        """Sublinear TF-IDF rows, L2-normalised (a scipy sparse matrix)."""
        counts = _vectorizer().transform(list(texts)).astype(np.float32)
        counts.data = 1.0 + np.log(counts.data)
        return normalize(counts.multiply(self.idf).tocsr())

    def log_probs(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Per task: log-probabilities (multi-class) or the logit (binary tasks)."""
        x = self.features(texts)
        out: dict[str, torch.Tensor] = {}
        for task, (coef, intercept) in self.heads.items():
            scores = torch.from_numpy(np.asarray(x @ coef.T, dtype=np.float32) + intercept)
            out[task] = scores.squeeze(-1) if coef.shape[0] == 1 else scores.log_softmax(-1)
        return out

    def tensors(self) -> dict[str, torch.Tensor]:
        """What to save: IDF and weights in fp16 (their precision is ample), intercepts in fp32."""
        out = {f"{PREFIX}idf": torch.from_numpy(self.idf).half()}
        for task, (coef, intercept) in self.heads.items():
            out[f"{PREFIX}{task}.coef"] = torch.from_numpy(coef).half()
            out[f"{PREFIX}{task}.intercept"] = torch.from_numpy(intercept).float()
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> LexicalModel | None:
        """The model saved by `tensors`, or None when the artifact has none."""
        if f"{PREFIX}idf" not in tensors:
            return None
        heads = {}
        for key in tensors:
            if key.endswith(".coef"):
                task = key.removeprefix(PREFIX).removesuffix(".coef")
                coef = tensors[key].float().numpy()
                heads[task] = (coef, tensors[f"{PREFIX}{task}.intercept"].float().numpy())
        return cls(tensors[f"{PREFIX}idf"].float().numpy(), heads)


def fit(examples: dict[str, list[Example]], seed: int) -> LexicalModel:
    """Fit IDF on every training text, then one regression per task (class-balanced)."""
    every = [normalise(e.text) for task in examples.values() for e in task]
    idf = TfidfTransformer(sublinear_tf=True).fit(_vectorizer().transform(every)).idf_
    model = LexicalModel(idf.astype(np.float32), {})
    for task, items in examples.items():
        x = model.features([normalise(e.text) for e in items])
        labels = [e.label for e in items]
        regression = LogisticRegression(
            C=4.0,
            max_iter=3000,
            # as the network's loss: every sentiment counts alike for macro-recall
            class_weight="balanced" if task == "sentiment" else None,
            random_state=seed,
        ).fit(x, labels)
        model.heads[task] = (
            regression.coef_.astype(np.float32),
            regression.intercept_.astype(np.float32),
        )
    return model
