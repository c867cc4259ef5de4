"""Fine-tune the shipped model: multi-task on sentiment, complaints, speech acts and spam."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from torch.nn import functional as F

from nlp import calibrate, data, evaluate
from nlp.data import Example, Split
from nlp.encoder import (
    DEFAULT_BASE,
    base_model_path,
    bf16_supported,
    fast_math,
    load_base,
    tokenize,
)
from nlp.fewshot import fit_logistic
from nlp.infer import Scorer, head_logits
from nlp.lexical import LexicalModel
from nlp.lexical import fit as lexical_fit
from nlp.network import (
    EMBEDDING,
    WEIGHTS_FILE,
    Meta,
    MultiTaskNet,
    file_sha256,
    freeze_below,
    read_meta,
    round_as_stored,
    save,
)
from nlp.scoring import sentiment_probs

log = logging.getLogger(__name__)

DISTIL = "distil"  # the task of teacher-labelled tweets: soft targets for the sentiment head
Report = Callable[[str], None]


@dataclass
class TrainConfig:
    """Everything that decides the trained weights; recorded in the artifact."""

    data_dir: Path
    output: Path
    name: str = "socialcrm-minilm"
    version: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y.%m.%d"))
    base: str = DEFAULT_BASE
    epochs: int = 4
    lr: float = 6e-5
    weight_decay: float = 0.01
    warmup: float = 0.06
    batch_size: int = 32
    first_trained_layer: int = 0
    ema_decay: float = 0.999
    seed: int = 0
    # Networks trained with seeds seed, seed+1, ...; their weights are averaged (a model soup).
    members: int = 1
    # TweetEval emotion tweets join the sentiment training set (joy, optimism: positive; anger,
    # sadness: negative).
    emotion_as_sentiment: bool = True
    # Sentiment is calibrated on the validation split; a carve-out of train is optional.
    sentiment_dev: int = 0
    intent_dev_fraction: float = 0.2
    intent_repeat: int = 3
    limit: int | None = None  # at most this many examples per task (quick runs, tests)
    feedback: list[Example] = field(default_factory=list)
    # Self-training: a trained artifact whose sentiment probabilities on the unlabelled tweets
    # (data.unlabelled_tweets) become soft targets, seen once per epoch.
    teacher: Path | None = None

    def recorded(self) -> dict[str, Any]:
        """The settings worth writing down beside the weights."""
        skip = {"data_dir", "output", "feedback", "name", "version", "base", "teacher"}
        values = {k: v for k, v in asdict(self).items() if k not in skip}
        return {**values, "feedback_examples": len(self.feedback), "teacher": self.teacher_name}

    @property
    def teacher_name(self) -> str | None:
        """The teacher artifact's name@version, as recorded (its path is the machine's own)."""
        if self.teacher is None:
            return None
        meta = read_meta(self.teacher)
        return f"{meta.name}@{meta.version}"


def corpus(cfg: TrainConfig) -> dict[str, Split]:
    """Each task's training examples and the held-out dev examples used for calibration."""
    root = cfg.data_dir
    loaders: dict[str, Callable[[], list[Example]]] = {
        "sentiment": lambda: (
            data.tweeteval(root, "train")
            + (data.emotion_as_sentiment(root) if cfg.emotion_as_sentiment else [])
        ),
        "complaint": lambda: data.complaints(root),
        "act": lambda: data.tweet_acts(root),
        "spam": lambda: data.youtube_spam(root),
    }
    splits: dict[str, Split] = {}
    for task, load in loaders.items():
        examples = data.sample(load(), cfg.limit, cfg.seed)
        size = (
            cfg.sentiment_dev
            if task == "sentiment"
            else round(cfg.intent_dev_fraction * len(examples))
        )
        if cfg.limit is not None:
            size = min(size, len(examples) // 4)
        splits[task] = data.hold_out(examples, size, cfg.seed)
    return splits


def distillation(cfg: TrainConfig, report: Report) -> list[Example]:
    """The unlabelled tweets with the teacher's calibrated sentiment probabilities as targets."""
    if cfg.teacher is None:
        return []
    from nlp.classifier import load_scorer

    texts = data.sample(data.unlabelled_tweets(cfg.data_dir), cfg.limit, cfg.seed)
    report(f"labelling {len(texts)} unlabelled tweets with the teacher {cfg.teacher_name}")
    teacher = load_scorer(cfg.teacher)
    logits = teacher.logits([data.normalise(t) for t in texts])["sentiment"]
    probs = sentiment_probs(logits, teacher.meta).tolist()
    return [
        Example(t, DISTIL, max(range(3), key=p.__getitem__), tuple(p))
        for t, p in zip(texts, probs, strict=True)
    ]


def batches(examples: Sequence[Example], size: int, rng: random.Random) -> list[list[Example]]:
    """Single-task batches of similar lengths, in random order."""
    by_task: dict[str, list[Example]] = {}
    for ex in examples:
        by_task.setdefault(ex.task, []).append(ex)
    out: list[list[Example]] = []
    for group in by_task.values():
        rng.shuffle(group)
        for start in range(0, len(group), size * 50):
            chunk = sorted(group[start : start + size * 50], key=lambda e: len(e.text))
            out += [chunk[i : i + size] for i in range(0, len(chunk), size)]
    rng.shuffle(out)
    return out


def epoch_examples(
    splits: dict[str, Split], cfg: TrainConfig, distilled: Sequence[Example] = ()
) -> list[Example]:
    """One epoch: all sentiment examples, the small intent sets repeated, staff corrections,
    and the teacher-labelled tweets once."""
    out = list(splits["sentiment"].train)
    for task in ("complaint", "act", "spam"):
        out += splits[task].train * cfg.intent_repeat
    return out + cfg.feedback * cfg.intent_repeat + list(distilled)


def sentiment_weights(examples: Sequence[Example]) -> torch.Tensor:
    """Class weights inversely proportional to frequency: every class counts alike in the loss."""
    counts = torch.bincount(
        torch.tensor([e.label for e in examples if e.task == "sentiment"]), minlength=3
    )
    weights = counts.sum() / (len(counts) * counts.clamp(min=1))
    return weights.float()


def loss_of(
    logits: dict[str, torch.Tensor], task: str, labels: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """The loss of one single-task batch (soft targets for the teacher-labelled tweets)."""
    if task == "sentiment":
        return F.cross_entropy(logits[task], labels, weight=weights)
    if task == DISTIL:
        return F.cross_entropy(logits["sentiment"], labels)
    if task == "act":
        return F.cross_entropy(logits[task], labels)
    return F.binary_cross_entropy_with_logits(logits[task], labels.float())


class Averager:
    """An exponential moving average of the trained weights: a smoother model than the last step."""

    def __init__(self, net: MultiTaskNet, decay: float) -> None:
        self.decay = decay
        self.params = {n: p for n, p in net.named_parameters() if p.requires_grad}
        self.shadow = {n: p.detach().clone() for n, p in self.params.items()}

    def update(self) -> None:
        """Move the average one step towards the current weights."""
        with torch.no_grad():
            for name, param in self.params.items():
                self.shadow[name].lerp_(param, 1 - self.decay)

    def snapshot(self, averaged: bool) -> dict[str, torch.Tensor]:
        """A copy of the trained weights, averaged or as they are now."""
        source = self.shadow if averaged else {n: p.detach() for n, p in self.params.items()}
        return {n: t.clone() for n, t in source.items()}

    def load(self, weights: dict[str, torch.Tensor]) -> None:
        """Put `weights` into the network."""
        with torch.no_grad():
            for name, param in self.params.items():
                param.copy_(weights[name])


def targets(batch: Sequence[Example]) -> torch.Tensor:
    """Class indices, or the teacher's probabilities for a batch of teacher-labelled tweets."""
    if batch[0].soft is not None:
        return torch.tensor([e.soft for e in batch])
    return torch.tensor([e.label for e in batch])


def val_macro_recall(net: MultiTaskNet, tokenizer: Any, val: Sequence[Example]) -> float:
    """Sentiment macro-recall on the validation examples, for choosing among checkpoints."""
    texts = [data.normalise(e.text) for e in val]
    logits = head_logits(net, tokenizer, texts, bf16_supported())["sentiment"]
    return macro_recall(logits, torch.tensor([e.label for e in val]))


def fit(
    net: MultiTaskNet,
    tokenizer: Any,
    splits: dict[str, Split],
    val: Sequence[Example],
    cfg: TrainConfig,
    seed: int,
    report: Report,
    distilled: Sequence[Example] = (),
) -> str:
    """Train the unfrozen layers and the heads; keep the checkpoint best on validation.

    Candidates are the weights at the end of each epoch and their moving average; the choice is
    returned (e.g. "epoch 3, averaged") and recorded in the artifact.
    """
    from transformers import get_linear_schedule_with_warmup

    rng = random.Random(seed)
    examples = epoch_examples(splits, cfg, distilled)
    weights = sentiment_weights(examples)
    params = [p for p in net.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * len(batches(examples, cfg.batch_size, random.Random(0)))
    schedule = get_linear_schedule_with_warmup(optimiser, int(cfg.warmup * steps), steps)
    averager = Averager(net, cfg.ema_decay)
    best: tuple[float, str, dict[str, torch.Tensor]] = (-1.0, "", {})
    bf16 = bf16_supported()
    report(f"training {steps} steps ({cfg.epochs} epochs of {len(examples)} examples, bf16={bf16})")
    step, started = 0, time.monotonic()
    for epoch in range(1, cfg.epochs + 1):
        net.train()
        for batch in batches(examples, cfg.batch_size, rng):
            inputs = tokenize(tokenizer, [data.normalise(e.text) for e in batch])
            labels = targets(batch)
            with fast_math(bf16):
                loss = loss_of(net(inputs), batch[0].task, labels, weights)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            averager.update()
            step += 1
            if step % 200 == 0:
                rate = step / (time.monotonic() - started)
                report(f"epoch {epoch} step {step}/{steps} loss {loss.item():.3f} ({rate:.1f}/s)")
        raw = averager.snapshot(averaged=False)
        for suffix, candidate in (("", raw), (", averaged", averager.snapshot(averaged=True))):
            averager.load(candidate)
            score = val_macro_recall(net, tokenizer, val)
            report(f"epoch {epoch}{suffix}: validation macro-recall {100 * score:.2f}")
            if score > best[0]:
                best = (score, f"epoch {epoch}{suffix}", candidate)
        averager.load(raw)  # training goes on from where it was
    averager.load(best[2])
    return best[1]


def train(cfg: TrainConfig, report: Report = print) -> Meta:
    """Train, calibrate on held-out data, evaluate, and write the artifact to `cfg.output`."""
    distilled = distillation(cfg, report)  # before seeding: loading a teacher draws no numbers
    torch.manual_seed(cfg.seed)
    splits = corpus(cfg)
    val = data.tweeteval(cfg.data_dir, "val")
    members = [train_member(cfg, splits, val, k, report, distilled) for k in range(cfg.members)]
    return assemble(cfg, splits, val, members, report)


def assemble(
    cfg: TrainConfig,
    splits: dict[str, Split],
    val: list[Example],
    members: Sequence[Member],
    report: Report = print,
) -> Meta:
    """One network from the trained members, its spam head and bag-of-words model, calibrated,
    evaluated and written to `cfg.output`."""
    net, tokenizer, prefixes, chosen = members[0]
    if len(members) > 1:
        soup(net, [member[0] for member in members])
        chosen = "average of " + "; ".join(
            f"seed {cfg.seed + k}: {m[3]}" for k, m in enumerate(members)
        )
        report(
            f"averaged {len(members)} networks: validation macro-recall "
            f"{100 * val_macro_recall(net, tokenizer, val):.2f}"
        )
    refit_spam_head(net, tokenizer, splits)
    meta = Meta(
        name=cfg.name,
        version=cfg.version,
        base=cfg.base,
        base_sha256=base_digest(cfg.base),
        trained_prefixes=prefixes,
        training={**cfg.recorded(), "chosen": chosen},
    )
    report("fitting the bag-of-words model")
    lexical = fit_lexical(splits, cfg)
    finish(Scorer(net, tokenizer, meta, lexical, bf16_supported()), splits, val, cfg)
    report(f"wrote {cfg.output / WEIGHTS_FILE}")
    return meta


Member = tuple[MultiTaskNet, Any, list[str], str]


def train_member(
    cfg: TrainConfig,
    splits: dict[str, Split],
    val: list[Example],
    k: int,
    report: Report,
    distilled: Sequence[Example] = (),
) -> Member:
    """The network trained with seed `cfg.seed + k`, rounded as stored: (net, tokenizer, the
    trained layer prefixes, the checkpoint chosen)."""
    if k:
        torch.manual_seed(cfg.seed + k)
        report(f"network {k + 1} of {cfg.members} (seed {cfg.seed + k})")
    tokenizer, encoder = load_base(cfg.base)
    net = MultiTaskNet(encoder)
    prefixes = freeze_below(net, cfg.first_trained_layer)
    chosen = fit(net, tokenizer, splits, val, cfg, cfg.seed + k, report, distilled)
    round_as_stored(net)
    return net, tokenizer, prefixes, chosen


def soup(net: MultiTaskNet, members: Sequence[MultiTaskNet]) -> None:
    """Put the mean of the members' trained weights into `net`, rounded as stored.

    Networks fine-tuned from the same base stay in one basin, so their average is one network
    that does about as well as the ensemble, at the cost of one.
    """
    states = [dict(m.named_parameters()) for m in members]
    with torch.no_grad():
        for name, param in net.named_parameters():
            if param.requires_grad:
                param.copy_(torch.stack([s[name].detach() for s in states]).mean(0))
    round_as_stored(net)


def refit_spam_head(net: MultiTaskNet, tokenizer: Any, splits: dict[str, Split]) -> None:
    """Refit the spam head on the trained encoder, with tweets of other sets as non-spam.

    The spam data are YouTube comments: alone, they teach that whatever is unlike a comment on
    a video (a support question to a brand, say) is spam. The complaint and speech-act tweets
    are real posts that are not spam, so they join as negatives.
    """
    examples = list(splits["spam"].train) + [
        Example(e.text, "spam", 0) for task in ("complaint", "act") for e in splits[task].train
    ]
    texts = [data.normalise(e.text) for e in examples]
    vectors = head_logits(net, tokenizer, texts, bf16_supported())[EMBEDDING]
    labels = torch.tensor([float(e.label) for e in examples])
    weight, bias = fit_logistic(vectors, labels, l2=1e-3)
    head = cast(nn.Linear, net.heads["spam"])
    with torch.no_grad():
        head.weight.copy_(weight.unsqueeze(0))
        head.bias.copy_(bias)


def fit_lexical(splits: dict[str, Split], cfg: TrainConfig) -> LexicalModel:
    """The bag-of-words sentiment model, on the network's sentiment examples and corrections.

    Only sentiment: on the intents, adding it lowered held-out F1 (docs/nlp.md).
    """
    examples = splits["sentiment"].train + [e for e in cfg.feedback if e.task == "sentiment"]
    return lexical_fit({"sentiment": examples}, cfg.seed)


def finish(scorer: Scorer, splits: dict[str, Split], val: list[Example], cfg: TrainConfig) -> None:
    """Calibrate on held-out data, evaluate, and save the artifact."""
    dev = {task: split.dev for task, split in splits.items()}
    if not dev["sentiment"]:
        dev["sentiment"] = val
    calibrate_on(scorer, dev)
    scorer.meta.metrics = evaluate.evaluate_net(scorer, cfg.data_dir, dev)
    extra = scorer.lexical.tensors() if scorer.lexical else None
    save(scorer.net, scorer.meta, cfg.output, extra)


def base_digest(base: str) -> str:
    """sha256 of the base encoder's weights, so an artifact is never laid on another base."""
    weights = Path(base_model_path(base)) / "model.safetensors"
    return file_sha256(weights) if weights.exists() else ""


LEXICAL_WEIGHTS = [round(0.1 * i, 1) for i in range(11)]


def calibrate_on(scorer: Scorer, dev: dict[str, list[Example]]) -> None:
    """Fit each head's temperature on held-out examples, after choosing the lexical weight.

    The weight is the one with the best held-out macro-recall (the official sentiment metric);
    temperature does not change which label wins, so it is fitted afterwards, on log-loss.
    """
    meta = scorer.meta
    for task, examples in dev.items():
        texts = [data.normalise(e.text) for e in examples]
        gold = torch.tensor([e.label for e in examples])
        logits = scorer.network_logits(texts)[task]
        if scorer.lexical is not None and task in scorer.lexical.heads:
            lexical = scorer.lexical.log_probs(texts)[task]
            recall = {w: macro_recall(logits + w * lexical, gold) for w in LEXICAL_WEIGHTS}
            meta.lexical_weights[task] = max(LEXICAL_WEIGHTS, key=recall.__getitem__)
            logits = logits + meta.lexical_weights[task] * lexical
        meta.temperatures[task] = calibrate.fit_temperature(logits, gold)


def macro_recall(logits: torch.Tensor, gold: torch.Tensor) -> float:
    """Macro-recall of the highest-scoring class."""
    return evaluate.macro_recall(logits.argmax(-1).tolist(), gold.tolist())
