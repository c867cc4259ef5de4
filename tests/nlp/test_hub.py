"""Sentiment from another model by Hugging Face id or folder: a tiny random one built here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from nlp.classifier import build
from nlp.encoder import base_model_path
from nlp.hub import HubSentiment
from nlp.labels import INTENTS, SENTIMENTS
from socialcrm.cli import app
from socialcrm.settings import NlpSettings


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer BERT whose labels come in an unusual order."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-sentiment")
    tokenizer = AutoTokenizer.from_pretrained(base_model_path())
    labels = {0: "positive", 1: "negative", 2: "neutral"}
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_probabilities_come_back_in_our_label_order(tiny_model: Path) -> None:
    hub = HubSentiment.load(str(tiny_model))
    texts = ["short", "a somewhat longer text to be padded differently"]
    ours = hub.probabilities(texts)
    batch = hub.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        raw = hub.model(**batch).logits.softmax(-1)
    # the model's order is positive, negative, neutral
    assert torch.allclose(ours, raw[:, [1, 2, 0]], atol=1e-5)
    assert hub.label == f"{tiny_model}@local"


def test_the_classifier_gives_the_same_output_with_another_sentiment_model(
    tiny_model: Path, no_network: list[Any]
) -> None:
    classifier = build(NlpSettings(sentiment_model=str(tiny_model)))
    [label] = classifier.classify(["the checkout page is broken again"])
    assert label.sentiment in SENTIMENTS
    assert list(label.sentiment_scores) == list(SENTIMENTS)
    assert list(label.intents) == list(INTENTS)  # intents still come from the shipped model
    assert classifier.model.startswith(f"{tiny_model}@local+socialcrm-minilm@")
    assert no_network == []


def test_an_unknown_model_id_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = tmp_path / "settings.toml"
    config.write_text('[nlp]\nsentiment_model = "nobody/no-such-model"\n')
    result = CliRunner().invoke(app, ["-c", str(config), "classify"], input="hello\n")
    assert result.exit_code == 2
    assert "cannot load sentiment model 'nobody/no-such-model'" in result.stderr
