"""Classify texts: sentiment, intents, needs_reply, uncertainty and language, in one pass."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from nlp import data, fewshot, languages
from nlp.encoder import bf16_supported, load_base
from nlp.fewshot import FEW_SHOT_INTENTS, LinearHead
from nlp.hub import HubSentiment
from nlp.infer import Scorer
from nlp.labels import INTENTS, SENTIMENTS, needs_reply
from nlp.lexical import LexicalModel
from nlp.network import EMBEDDING, MultiTaskNet, load_into, read_meta
from nlp.network import ArtifactError as ArtifactError
from nlp.scoring import intent_probs, sentiment_probs
from socialcrm.mention import Classification
from socialcrm.settings import NlpSettings, Settings

log = logging.getLogger(__name__)

SHIPPED_MODEL = Path(__file__).parent / "model"
Progress = Callable[[int], None]


@dataclass
class Classifier:
    """The loaded model: call `classify` with any number of texts."""

    scorer: Scorer
    few_shot: dict[str, LinearHead]
    options: NlpSettings
    hub: HubSentiment | None = None

    @property
    def model(self) -> str:
        """`name@version` written on every classification."""
        own = self.scorer.meta.label
        return own if self.hub is None else f"{self.hub.label}+{own}"

    def classify(
        self, texts: Sequence[str], progress: Progress | None = None
    ) -> list[Classification]:
        """One classification per text, in order; other languages are marked and not labelled."""
        clean = [data.normalise(t) for t in texts]
        found = languages.detect(clean)
        out = [self._unlabelled(f.lang) for f in found]
        chosen: list[tuple[int, str]] = []
        for i, (detected, text) in enumerate(zip(found, clean, strict=True)):
            options = self.options
            lang = languages.labelled_language(
                detected, options.languages, options.language_confidence
            )
            if lang is not None and text.strip():
                chosen.append((i, lang))
        labels = self._labels([clean[i] for i, _ in chosen], [lang for _, lang in chosen], progress)
        for (i, _), label in zip(chosen, labels, strict=True):
            out[i] = label
        if progress is not None:
            progress(len(texts) - len(chosen))
        return out

    def _labels(
        self, texts: list[str], langs: list[str], progress: Progress | None
    ) -> list[Classification]:
        if not texts:
            return []
        logits = self.scorer.logits(texts, progress, self.options.batch_size)
        meta = self.scorer.meta
        if self.hub is not None:
            sentiment = self.hub.probabilities(texts)
        else:
            sentiment = sentiment_probs(logits["sentiment"], meta)
        intents = intent_probs(logits, meta)
        for name, head in self.few_shot.items():
            intents[name] = head(logits[EMBEDDING])
        rows = zip(sentiment.tolist(), *(intents[name].tolist() for name in INTENTS), strict=True)
        return [
            self._one(scores, dict(zip(INTENTS, probs, strict=True)), lang)
            for (scores, *probs), lang in zip(rows, langs, strict=True)
        ]

    def _one(self, scores: list[float], intents: dict[str, float], lang: str) -> Classification:
        threshold = self.options.uncertain_below
        reply = needs_reply(intents)
        unsure = max(scores) < threshold or (1 - threshold < reply < threshold)
        return Classification(
            sentiment=SENTIMENTS[scores.index(max(scores))],
            sentiment_scores={n: round(p, 4) for n, p in zip(SENTIMENTS, scores, strict=True)},
            intents={name: round(p, 4) for name, p in intents.items()},
            needs_reply=round(reply, 4),
            uncertain=unsure,
            lang=lang,
            model=self.model,
        )

    def _unlabelled(self, lang: str) -> Classification:
        return Classification(None, {}, {}, None, True, lang, self.model)


def model_folder(options: NlpSettings, settings: Settings | None = None) -> Path:
    """The artifact folder to load: the configured one, or the shipped model."""
    if not options.model_dir:
        return SHIPPED_MODEL
    return settings.path(Path(options.model_dir)) if settings else Path(options.model_dir)


def examples_folder(options: NlpSettings, settings: Settings | None = None) -> Path:
    """The few-shot examples to learn from: the configured folder, or the shipped one."""
    if not options.examples_dir:
        return fewshot.SHIPPED_EXAMPLES
    return settings.path(Path(options.examples_dir)) if settings else Path(options.examples_dir)


def build(options: NlpSettings, settings: Settings | None = None) -> Classifier:
    """Load the encoder, overlay the artifact, fit the few-shot heads; seconds, not minutes."""
    hub = HubSentiment.load(options.sentiment_model) if options.sentiment_model else None
    scorer = load_scorer(model_folder(options, settings))
    few_shot = fit_few_shot(scorer, examples_folder(options, settings))
    classifier = Classifier(scorer, few_shot, options, hub)
    log.info("model %s loaded (bf16=%s)", classifier.model, scorer.bf16)
    return classifier


def load_scorer(folder: Path) -> Scorer:
    """The trained network and bag-of-words model of the artifact in `folder`, laid on its base."""
    meta = read_meta(folder)
    tokenizer, encoder = load_base(meta.base)
    net = MultiTaskNet(encoder)
    tensors = load_into(net, folder)
    net.eval()
    bf16 = bf16_supported()
    if bf16:
        # the encoder's weights in bfloat16 rather than autocast: as close to fp32 (mean logit
        # difference 0.005, against autocast's 0.004) and about a quarter faster, because no
        # activation is cast back and forth around every layer; the heads stay fp32
        net.encoder.to(torch.bfloat16)
    return Scorer(net, tokenizer, meta, LexicalModel.from_tensors(tensors), bf16)


def fit_few_shot(scorer: Scorer, folder: Path) -> dict[str, LinearHead]:
    """One head per few-shot intent, from the example files in `folder`."""
    examples = fewshot.read_examples(folder)
    names = list(examples)
    texts = [data.normalise(t) for name in names for t in examples[name]]
    vectors = scorer.network_logits(texts)[EMBEDDING]
    by_name: dict[str, torch.Tensor] = {}
    start = 0
    for name in names:
        by_name[name] = vectors[start : start + len(examples[name])]
        start += len(examples[name])
    heads: dict[str, LinearHead] = {}
    for intent in FEW_SHOT_INTENTS:
        negatives = torch.cat([v for n, v in by_name.items() if n != intent])
        heads[intent] = fewshot.fit_head(by_name[intent], negatives)
    return heads


_LOADED: dict[str, Classifier] = {}
_LOCK = threading.Lock()


def shared(options: NlpSettings, settings: Settings | None = None) -> Classifier:
    """The process's classifier for these options, loaded once and reused."""
    key = options.model_dump_json() + str(settings.base_dir if settings else "")
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = build(options, settings)
        return _LOADED[key]
