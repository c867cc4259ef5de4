"""Few-shot intent heads: logistic regression on the shared encoder's sentence vectors.

The intents without public training data (praise, purchase intent) learn from example files
that users edit: `<intent>.txt` holds positives, `other.txt` negatives, one text per line.
The examples of the other few-shot intents count as negatives too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn import functional as F

FEW_SHOT_INTENTS: tuple[str, ...] = ("praise", "purchase_intent")
NEGATIVES = "other"
SHIPPED_EXAMPLES = Path(__file__).parent / "examples"


class ExamplesError(RuntimeError):
    """An examples file is missing or unusable."""


def read_examples(folder: Path) -> dict[str, list[str]]:
    """The example texts per file name (without `.txt`), for the few-shot intents and `other`."""
    out: dict[str, list[str]] = {}
    for name in (*FEW_SHOT_INTENTS, NEGATIVES):
        path = folder / f"{name}.txt"
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ExamplesError(f"cannot read examples file {path}: {exc.strerror}") from exc
        out[name] = [line.strip() for line in lines if line.strip()]
        if len(out[name]) < 5:
            raise ExamplesError(f"{path}: needs at least 5 examples, one per line")
    return out


@dataclass(frozen=True)
class LinearHead:
    """P(intent) = sigmoid(w · unit(x) + b)."""

    weight: torch.Tensor
    bias: torch.Tensor

    def __call__(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Probabilities for a batch of sentence vectors."""
        return (F.normalize(embeddings, dim=-1) @ self.weight + self.bias).sigmoid()


def fit_head(positives: torch.Tensor, negatives: torch.Tensor, l2: float = 1e-3) -> LinearHead:
    """A few-shot head: logistic regression on unit-length sentence vectors."""
    x = F.normalize(torch.cat([positives, negatives]), dim=-1)
    y = torch.cat([torch.ones(len(positives)), torch.zeros(len(negatives))])
    return LinearHead(*fit_logistic(x, y, l2))


def fit_logistic(x: torch.Tensor, y: torch.Tensor, l2: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-balanced, L2-regularised logistic regression (convex: L-BFGS finds the optimum)."""
    x = x.clone()  # may come from inference mode
    positives = y.sum()
    weights = torch.where(y == 1, len(y) / (2 * positives), len(y) / (2 * (len(y) - positives)))
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    optimiser = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = F.binary_cross_entropy_with_logits(x @ w + b, y, weight=weights)
        loss = loss + l2 * w.pow(2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return w.detach(), b.detach()
