"""A bag-of-words companion model: hashed word n-grams, TF-IDF, one logistic regression per task.

It sees what the transformer misses (rare words, exact phrases) and costs a few milliseconds
per thousand texts. Its log-probabilities are added to the network's logits with a weight per
task chosen on held-out data (`train.combine_on`). Hashing means no vocabulary is stored:
the artifact holds only the IDF vector and the regression weights.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import mmh3
import numpy as np
import torch
from torch.nn import functional as F

from nlp.data import Example, normalise

N_FEATURES = 2**18
# words, runs of ! or ?, and the commonest emoticons
TOKENS = r"(?u)\b\w+\b|[!?]+|[:;]-?[()DPp]"
NGRAMS = 3
PREFIX = "lexical."
_TOKEN = re.compile(TOKENS)
_INT_MIN = -(2**31)


def _index(gram: str) -> int:
    """The feature index of an n-gram: MurmurHash3 (32-bit, seed 0) as scikit-learn's
    HashingVectorizer takes it, so that hashing is the same whichever library did it."""
    h = mmh3.hash(gram)
    return (2**31 - N_FEATURES) % N_FEATURES if h == _INT_MIN else abs(h) % N_FEATURES


def grams(text: str) -> list[str]:
    """Lower-cased word 1- to 3-grams (scikit-learn's word analyzer with `TOKENS`)."""
    words = _TOKEN.findall(text.lower())
    out = list(words)
    for n in range(2, min(NGRAMS, len(words)) + 1):
        out.extend(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    return out


def hashed_counts(
    texts: Sequence[str],
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Counts of hashed n-grams as CSR arrays: (column indices, row pointers, counts)."""
    indices: list[int] = []
    counts: list[int] = []
    pointers = [0]
    for text in texts:
        row = Counter(_index(gram) for gram in grams(text))
        indices.extend(row)
        counts.extend(row.values())
        pointers.append(len(indices))
    return (
        np.asarray(indices, dtype=np.int64),
        np.asarray(pointers, dtype=np.int64),
        np.asarray(counts, dtype=np.float32),
    )


@dataclass
class LexicalModel:
    """IDF weights and, per task, a weight matrix (classes x features) and intercepts."""

    idf: np.ndarray[Any, Any]
    heads: dict[str, tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]

    def weighted(
        self, texts: Sequence[str]
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Sublinear TF-IDF rows, L2-normalised, as CSR arrays (indices, row pointers, values)."""
        indices, pointers, counts = hashed_counts(texts)
        values = (1.0 + np.log(counts)) * self.idf[indices]
        rows = np.repeat(np.arange(len(texts)), np.diff(pointers))
        norms = np.sqrt(np.bincount(rows, weights=values**2, minlength=len(texts)))
        values = values / np.where(norms > 0, norms, 1.0)[rows]
        return indices, pointers, values.astype(np.float32)

    def features(self, texts: Sequence[str]) -> Any:
        """The rows of `weighted` as a scipy sparse matrix (for fitting)."""
        from scipy.sparse import csr_matrix

        indices, pointers, values = self.weighted(texts)
        return csr_matrix((values, indices, pointers), shape=(len(texts), N_FEATURES))

    def log_probs(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Per task: log-probabilities (multi-class) or the logit (binary tasks)."""
        indices, pointers, values = (torch.from_numpy(a) for a in self.weighted(texts))
        out: dict[str, torch.Tensor] = {}
        for task, (coef, intercept) in self.heads.items():
            # a sparse row times the weights: the sum of the weight rows of its n-grams
            scores = F.embedding_bag(
                indices,
                torch.from_numpy(coef.T.copy()),
                pointers[:-1],
                mode="sum",
                per_sample_weights=values,
            ) + torch.from_numpy(intercept)
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
    from scipy.sparse import csr_matrix
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression

    every = [normalise(e.text) for task in examples.values() for e in task]
    indices, pointers, counts = hashed_counts(every)
    counts_matrix = csr_matrix((counts, indices, pointers), shape=(len(every), N_FEATURES))
    idf = TfidfTransformer(sublinear_tf=True).fit(counts_matrix).idf_
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
