"""Batched forward passes, shortest texts together so padding stays small."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from nlp.encoder import MAX_TOKENS, fast_math
from nlp.lexical import LexicalModel
from nlp.network import Meta, MultiTaskNet
from nlp.scoring import combine

BATCH_SIZE = 128


def length_batches(
    tokenizer: Any, texts: Sequence[str], batch_size: int = BATCH_SIZE, max_tokens: int = MAX_TOKENS
) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
    """Yield (positions, padded batch), grouping texts of similar token length."""
    ids = tokenizer(list(texts), truncation=True, max_length=max_tokens)["input_ids"]
    order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        padded = tokenizer.pad({"input_ids": [ids[i] for i in chosen]}, return_tensors="pt")
        yield chosen, {"input_ids": padded["input_ids"], "attention_mask": padded["attention_mask"]}


@dataclass
class Scorer:
    """The network, its tokenizer, the lexical model and the metadata that combines them."""

    net: MultiTaskNet
    tokenizer: Any
    meta: Meta
    lexical: LexicalModel | None
    bf16: bool

    def network_logits(
        self,
        texts: Sequence[str],
        progress: Callable[[int], None] | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> dict[str, torch.Tensor]:
        """The network's own logits (and sentence vectors), in the order of `texts`."""
        return head_logits(self.net, self.tokenizer, texts, self.bf16, progress, batch_size)

    def logits(
        self,
        texts: Sequence[str],
        progress: Callable[[int], None] | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> dict[str, torch.Tensor]:
        """The network's logits with the lexical model's added: what probabilities come from."""
        logits = self.network_logits(texts, progress, batch_size)
        if self.lexical is None:
            return logits
        return combine(logits, self.lexical.log_probs(texts), self.meta)


@torch.inference_mode()
def head_logits(
    net: MultiTaskNet,
    tokenizer: Any,
    texts: Sequence[str],
    bf16: bool,
    progress: Callable[[int], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> dict[str, torch.Tensor]:
    """Every head's logits for `texts`, in the order given."""
    net.eval()
    # autocast only serves fp32 weights (training); a loaded model's encoder is already bf16
    autocast = bf16 and next(net.encoder.parameters()).dtype == torch.float32
    out: dict[str, torch.Tensor] = {}
    for positions, batch in length_batches(tokenizer, texts, batch_size):
        with fast_math(autocast):
            logits = net(batch)
        for name, value in logits.items():
            if name not in out:
                out[name] = torch.empty((len(texts), *value.shape[1:]), dtype=torch.float32)
            out[name][positions] = value.float()
        if progress is not None:
            progress(len(positions))
    return out
