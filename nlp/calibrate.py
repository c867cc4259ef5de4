"""Calibration on held-out data: temperature scaling."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def log_loss(logits: torch.Tensor, gold: torch.Tensor) -> float:
    """Mean negative log-likelihood (binary when `logits` is a vector)."""
    if logits.dim() == 1:
        return F.binary_cross_entropy_with_logits(logits, gold.float()).item()
    return F.cross_entropy(logits, gold).item()


def fit_temperature(logits: torch.Tensor, gold: torch.Tensor) -> float:
    """The temperature minimising held-out log-loss.

    A log-spaced grid from 0.05 to 20: one parameter, so a grid is exact enough and never diverges.
    """
    logits = logits.detach().float()
    losses = {t: log_loss(logits / t, gold) for t in torch.logspace(-1.3, 1.3, 261).tolist()}
    best: float = min(losses, key=losses.__getitem__)
    return round(best, 4)
