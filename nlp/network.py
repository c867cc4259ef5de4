"""The multi-task network: one encoder, one small head per task, saved as compact artifacts."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from nlp.encoder import mean_pool
from nlp.labels import ACT_LABELS, SENTIMENTS

# Head name -> number of outputs. One output means a binary task (sigmoid).
HEADS: dict[str, int] = {
    "sentiment": len(SENTIMENTS),
    "complaint": 1,
    "act": len(ACT_LABELS),
    "spam": 1,
}
EMBEDDING = "embedding"
WEIGHTS_FILE = "weights.safetensors"
META_FILE = "model.json"


class ArtifactError(RuntimeError):
    """A model artifact is missing, damaged or made for another base model."""


@dataclass
class Meta:
    """What an artifact is: its name, version, base, calibration and measured metrics."""

    name: str
    version: str
    base: str
    base_sha256: str
    trained_prefixes: list[str]
    temperatures: dict[str, float] = field(default_factory=dict)
    # weight of the bag-of-words model's log-probabilities added to each head's logits
    lexical_weights: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """`name@version`, as written on every classification."""
        return f"{self.name}@{self.version}"


class MultiTaskNet(nn.Module):
    """Encoder + mean pooling + a linear head per task."""

    def __init__(self, encoder: nn.Module, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.config: Any = cast(Any, encoder).config
        hidden = int(self.config.hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({name: nn.Linear(hidden, n) for name, n in HEADS.items()})

    def embed(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any
    ) -> torch.Tensor:
        """Mean-pooled sentence vectors."""
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        return mean_pool(out.last_hidden_state, attention_mask)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Logits of every head (binary heads squeezed), and the sentence vector as `embedding`."""
        embedding = self.embed(**batch).float()
        pooled = self.dropout(embedding)
        out = {name: head(pooled) for name, head in self.heads.items()}
        out = {k: v.squeeze(-1) if HEADS[k] == 1 else v for k, v in out.items()}
        return {**out, EMBEDDING: embedding}


def freeze_below(net: MultiTaskNet, first_trained_layer: int) -> list[str]:
    """Freeze the embeddings and the layers below `first_trained_layer`; return what trains."""
    prefixes = [f"layer.{i}." for i in range(first_trained_layer, net.config.num_hidden_layers)]
    for name, param in net.encoder.named_parameters():
        param.requires_grad = any(p in name for p in prefixes)
    return prefixes


def round_as_stored(net: MultiTaskNet) -> None:
    """Round the trained encoder weights to fp16, as `save` stores them.

    Calibration and evaluation then measure exactly the model that ships.
    """
    with torch.no_grad():
        for param in net.encoder.parameters():
            if param.requires_grad:
                param.copy_(param.half().float())


def file_sha256(path: Path) -> str:
    """Hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save(
    net: MultiTaskNet, meta: Meta, folder: Path, extra: dict[str, torch.Tensor] | None = None
) -> None:
    """Write the trained encoder layers (fp16), the heads (fp32), `extra`, and the metadata."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {k: v.contiguous() for k, v in (extra or {}).items()}
    for name, param in net.encoder.state_dict().items():
        if any(p in name for p in meta.trained_prefixes):
            tensors[f"encoder.{name}"] = param.detach().to(torch.float16).contiguous()
    for name, param in net.heads.state_dict().items():
        tensors[f"heads.{name}"] = param.detach().float().contiguous()
    save_file(tensors, str(folder / WEIGHTS_FILE))
    (folder / META_FILE).write_text(json.dumps(asdict(meta), indent=2, sort_keys=True) + "\n")


def read_meta(folder: Path) -> Meta:
    """The metadata of the artifact in `folder`."""
    try:
        return Meta(**json.loads((folder / META_FILE).read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise ArtifactError(f"cannot read model artifact {folder / META_FILE}: {exc}") from exc


def load_into(net: MultiTaskNet, folder: Path) -> dict[str, torch.Tensor]:
    """Overlay the artifact's encoder layers and heads onto a freshly loaded base network.

    Returns every tensor of the artifact, for the parts that are not the network's.
    """
    try:
        tensors = load_file(str(folder / WEIGHTS_FILE))
    except (OSError, RuntimeError) as exc:
        raise ArtifactError(f"cannot read model weights {folder / WEIGHTS_FILE}: {exc}") from exc
    encoder = {
        k.removeprefix("encoder."): v.float()
        for k, v in tensors.items()
        if k.startswith("encoder.")
    }
    heads = {k.removeprefix("heads."): v for k, v in tensors.items() if k.startswith("heads.")}
    missing = set(encoder) - set(net.encoder.state_dict())
    if missing:
        raise ArtifactError(f"model weights do not fit the base encoder: {sorted(missing)[:3]}")
    net.encoder.load_state_dict(encoder, strict=False)
    net.heads.load_state_dict(heads)
    return tensors
