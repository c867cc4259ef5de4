"""`socialcrm classify` and the classifier: format, order, uncertainty, languages, offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nlp.classifier import Classifier, build
from nlp.labels import INTENTS, SENTIMENTS
from socialcrm.cli import app
from socialcrm.settings import NlpSettings

TEXTS = [
    "I absolutely love the new update, thank you so much!",
    "Worst support ever. My order is three weeks late and nobody answers.",
    "Das ist wirklich eine schlechte App, ich bin sehr enttäuscht.",
    "",
    "How do I export my notes to PDF?",
    "Je ne comprends pas pourquoi l'application plante tout le temps.",
]


def run_classify(
    tmp_path: Path, texts: list[str], *extra: str, settings: str = ""
) -> list[dict[str, Any]]:
    source = tmp_path / "in.txt"
    source.write_text("\n".join(texts) + "\n", encoding="utf-8")
    config = tmp_path / "settings.toml"
    config.write_text(settings, encoding="utf-8")
    result = CliRunner().invoke(
        app, ["-c", str(config), "classify", "--input", str(source), *extra]
    )
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_one_json_object_per_line_in_order(tmp_path: Path, classifier: Classifier) -> None:
    rows = run_classify(tmp_path, TEXTS)
    assert len(rows) == len(TEXTS)
    english = [rows[0], rows[1], rows[4]]
    for row in english:
        assert set(row) == {
            "sentiment",
            "sentiment_scores",
            "intents",
            "needs_reply",
            "uncertain",
            "lang",
            "model",
        }
        assert row["sentiment"] in SENTIMENTS
        assert list(row["sentiment_scores"]) == list(SENTIMENTS)
        assert sum(row["sentiment_scores"].values()) == pytest.approx(1, abs=1e-3)
        assert list(row["intents"]) == list(INTENTS)
        assert all(0 <= p <= 1 for p in row["intents"].values())
        assert 0 <= row["needs_reply"] <= 1
        assert row["lang"] == "en"
        assert row["model"] == classifier.model
    # order is kept although texts are batched by length: each row is the same as alone
    alone = [classifier.classify([t])[0] for t in (TEXTS[1], TEXTS[0])]
    assert rows[1]["sentiment_scores"] == pytest.approx(dict(alone[0].sentiment_scores), abs=2e-3)
    assert rows[0]["sentiment_scores"] == pytest.approx(dict(alone[1].sentiment_scores), abs=2e-3)


def test_labels_of_clear_cases(tmp_path: Path) -> None:
    rows = run_classify(tmp_path, TEXTS)
    assert rows[0]["sentiment"] == "positive"
    assert rows[1]["sentiment"] == "negative"
    assert rows[1]["intents"]["complaint"] > 0.5
    assert rows[4]["intents"]["question"] > 0.5
    assert rows[4]["needs_reply"] > 0.5


def test_emoji_are_read_by_their_names(classifier: Classifier) -> None:
    # the encoder's vocabulary has no emoji: read as [UNK], these two would score alike
    angry, delighted = classifier.classify(["the new update 😡😡", "the new update 😍😍"])
    assert angry.sentiment == "negative"
    assert delighted.sentiment == "positive"


def test_other_languages_are_marked_and_not_labelled(tmp_path: Path) -> None:
    rows = run_classify(tmp_path, TEXTS)
    assert (rows[2]["lang"], rows[5]["lang"]) == ("de", "fr")
    for row in (rows[2], rows[5], rows[3]):
        assert row["sentiment"] is None
        assert row["intents"] == {}
        assert row["needs_reply"] is None
        assert row["uncertain"] is True


def test_configured_languages_are_labelled(tmp_path: Path) -> None:
    rows = run_classify(tmp_path, TEXTS, settings='[nlp]\nlanguages = ["en", "de"]\n')
    assert rows[2]["lang"] == "de"
    assert rows[2]["sentiment"] in SENTIMENTS


def test_uncertain_follows_the_threshold(tmp_path: Path) -> None:
    strict = run_classify(tmp_path, TEXTS[:2], settings="[nlp]\nuncertain_below = 1.0\n")
    assert [row["uncertain"] for row in strict] == [True, True]
    lax = run_classify(tmp_path, TEXTS[:2], settings="[nlp]\nuncertain_below = 0.0\n")
    assert [row["uncertain"] for row in lax] == [False, False]


def test_reads_stdin_and_writes_a_file(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        app, ["classify", "--output", str(target)], input="great app\nterrible app\n"
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [row["sentiment"] for row in rows] == ["positive", "negative"]


def test_text_that_is_not_utf8_is_a_one_line_error(tmp_path: Path) -> None:
    source = tmp_path / "latin1.txt"
    source.write_bytes("fine\ncaf\xe9 au lait\n".encode("latin-1"))
    result = CliRunner().invoke(app, ["classify", "--input", str(source)])
    assert result.exit_code == 1
    assert "line 2 is not UTF-8" in result.stderr


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ('[nlp]\nmodel_dir = "no-such-folder"\n', "cannot read model artifact"),
        ('[nlp]\nexamples_dir = "no-such-folder"\n', "cannot read examples file"),
    ],
)
def test_a_missing_model_or_examples_folder_is_a_settings_error(
    tmp_path: Path, settings: str, message: str
) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(settings, encoding="utf-8")
    result = CliRunner().invoke(app, ["-c", str(config), "classify"], input="hello\n")
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_loads_and_classifies_without_network(no_network: list[Any]) -> None:
    fresh = build(NlpSettings())
    labels = fresh.classify(["the app keeps crashing", "thanks, works great"])
    assert [label.sentiment for label in labels] == ["negative", "positive"]
    assert no_network == []


def test_edited_examples_change_the_few_shot_heads(tmp_path: Path, classifier: Classifier) -> None:
    from nlp.fewshot import SHIPPED_EXAMPLES

    folder = tmp_path / "examples"
    folder.mkdir()
    for name in ("praise", "other"):
        (folder / f"{name}.txt").write_text((SHIPPED_EXAMPLES / f"{name}.txt").read_text())
    # purchase intent now means talking about the weather
    weather = [f"what lovely weather, day {i} of sunshine" for i in range(10)]
    (folder / "purchase_intent.txt").write_text("\n".join(weather) + "\n")
    custom = build(NlpSettings(examples_dir=str(folder)))
    text = ["such lovely sunny weather today"]
    assert custom.classify(text)[0].intents["purchase_intent"] > 0.5
    assert classifier.classify(text)[0].intents["purchase_intent"] < 0.5


@pytest.mark.parametrize("bf16", [True, False])
def test_the_encoder_runs_in_bf16_only_where_the_cpu_has_it(
    monkeypatch: pytest.MonkeyPatch, bf16: bool
) -> None:
    import torch

    from nlp import classifier as module

    monkeypatch.setattr(module, "bf16_supported", lambda: False)
    reference = module.load_scorer(module.SHIPPED_MODEL)
    monkeypatch.setattr(module, "bf16_supported", lambda: bf16)
    scorer = module.load_scorer(module.SHIPPED_MODEL)
    wanted = torch.bfloat16 if bf16 else torch.float32
    assert {p.dtype for p in scorer.net.encoder.parameters()} == {wanted}
    assert {p.dtype for p in scorer.net.heads.parameters()} == {torch.float32}
    texts = [t for t in TEXTS if t]
    got = scorer.network_logits(texts)["sentiment"]
    fp32 = reference.network_logits(texts)["sentiment"]
    assert got.dtype == torch.float32
    # bf16 weights stay as close to fp32 as autocast did: the same labels, logits within 0.1
    assert got.argmax(-1).tolist() == fp32.argmax(-1).tolist()
    assert torch.allclose(got, fp32, atol=0.1)
    assert torch.equal(got, fp32) != bf16
