"""`socialcrm nlp train`, `eval` and `correct` end to end, on a small labelled set made here."""

from __future__ import annotations

import csv
import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner, Result

from nlp.data import UNLABELLED_TASKS, Example
from nlp.network import META_FILE, WEIGHTS_FILE, MultiTaskNet, freeze_below
from nlp.train import DISTIL, TrainConfig, corpus, distillation, epoch_examples, loss_of, soup
from socialcrm.cli import app
from socialcrm.db import Database
from socialcrm.mention import Cursor, Page
from socialcrm.storage import save_page
from tests.fakes import mention

WORDS = {
    0: ["awful", "broken", "hate"],
    1: ["tuesday", "meeting", "report"],
    2: ["love", "great", "thanks"],
}


def write_data(root: Path, n: int = 60) -> Path:
    """A miniature of ../shared/data: the same files and formats, made-up texts."""
    rng = random.Random(0)
    folder = root / "tweeteval" / "sentiment"
    folder.mkdir(parents=True)
    for part in ("train", "val"):
        labels = [i % 3 for i in range(n)]
        texts = [
            f"{rng.choice(WORDS[y])} {rng.choice(WORDS[y])} number {i}"
            for i, y in enumerate(labels)
        ]
        (folder / f"{part}_text.txt").write_text("\n".join(texts) + "\n")
        (folder / f"{part}_labels.txt").write_text("\n".join(map(str, labels)) + "\n")
    emotion = root / "tweeteval" / "emotion"  # 0 anger, 1 joy, 2 optimism, 3 sadness
    emotion.mkdir()
    feelings = [i % 4 for i in range(n // 2)]
    said = [
        f"{rng.choice(WORDS[0 if y in (0, 3) else 2])} feeling {i}" for i, y in enumerate(feelings)
    ]
    (emotion / "train_text.txt").write_text("\n".join(said) + "\n")
    (emotion / "train_labels.txt").write_text("\n".join(map(str, feelings)) + "\n")
    for task in UNLABELLED_TASKS:  # tweets of other tasks: unlabelled text for a teacher
        (root / "tweeteval" / task).mkdir()
        lines = [f"{rng.choice(WORDS[i % 3])} {task} {i}" for i in range(n // 3)]
        (root / "tweeteval" / task / "train_text.txt").write_text("\n".join(lines) + "\n")
    tables = {
        "complaints": (
            ["id", "text", "complaint", "domain"],
            lambda i: [i, f"my order {i} is late" if i % 2 else f"nice day {i}", i % 2, "x"],
        ),
        "tweet_act": (
            ["text", "act"],
            lambda i: [
                f"how do I fix {i}?" if i % 3 == 0 else f"it is {i}",
                "QUE" if i % 3 == 0 else "STM",
            ],
        ),
        "youtube_spam": (
            ["id", "text", "spam"],
            lambda i: [i, f"subscribe to my channel {i}" if i % 2 else f"good song {i}", i % 2],
        ),
    }
    for name, (header, make) in tables.items():
        (root / name).mkdir()
        with (root / name / "train.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(make(i) for i in range(n))
    return root


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def quick_train(data: Path, model: Path, limit: int, *extra: str) -> Result:
    """One epoch of `nlp train` on at most `limit` examples per task."""
    args = ["--data", str(data), "--output", str(model), "--epochs", "1", "--limit", str(limit)]
    return invoke("nlp", "train", *args, *extra)


def test_train_writes_a_compact_artifact_that_classify_and_eval_use(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data")
    model = tmp_path / "model"
    result = quick_train(data, model, 40)
    assert result.exit_code == 0, result.output
    assert f"to {model}" in result.stdout
    assert "macro" in result.stdout  # the metrics table
    meta = json.loads((model / META_FILE).read_text())
    assert meta["training"]["limit"] == 40
    assert set(meta["temperatures"]) == {"sentiment", "complaint", "act", "spam"}
    assert set(meta["lexical_weights"]) == {"sentiment"}
    assert meta["training"]["chosen"].startswith("epoch 1")
    assert meta["metrics"]["sentiment"]["n"] == 60  # the whole validation file
    assert (model / WEIGHTS_FILE).stat().st_size < 25 * 2**20

    settings = tmp_path / "settings.toml"
    settings.write_text(f'[nlp]\nmodel_dir = "{model}"\n')
    classified = CliRunner().invoke(app, ["-c", str(settings), "classify"], input="love it\n")
    assert classified.exit_code == 0, classified.output
    assert json.loads(classified.stdout)["model"] == f"{meta['name']}@{meta['version']}"
    evaluated = invoke("-c", str(settings), "nlp", "eval", "--data", str(data))
    assert evaluated.exit_code == 0, evaluated.output
    assert "macro-recall" in evaluated.stdout
    assert "sentiment" in evaluated.stdout


def test_training_is_reproducible_with_the_same_seed(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data")
    for name in ("a", "b"):
        assert quick_train(data, tmp_path / name, 24).exit_code == 0
    assert (tmp_path / "a" / WEIGHTS_FILE).read_bytes() == (
        tmp_path / "b" / WEIGHTS_FILE
    ).read_bytes()


def test_missing_data_is_a_one_line_error(tmp_path: Path) -> None:
    result = invoke("nlp", "train", "--data", str(tmp_path / "nowhere"))
    assert result.exit_code == 2
    assert "pass --data DIR" in result.stderr


def test_the_dev_splits_are_never_trained_on(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data")
    splits = corpus(TrainConfig(data_dir=data, output=tmp_path, limit=40))
    # sentiment is calibrated on the validation file; each intent set keeps a dev split
    assert splits["sentiment"].dev == []
    for task in ("complaint", "act", "spam"):
        split = splits[task]
        assert split.dev
        assert not {e.text for e in split.dev} & {e.text for e in split.train}


def test_corrections_are_included_with_feedback(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOCIALCRM_DATABASE_URL", database_url)
    db = Database(database_url)
    db.upgrade()
    with db.transaction() as session:
        page = Page((replace(mention(1), text="the app ate my notes"),), Cursor())
        [mention_id] = save_page(session, "fake", page).new_ids
    db.dispose()
    corrected = invoke(
        "nlp", "correct", str(mention_id), "--sentiment", "negative", "--intent", "complaint"
    )
    assert corrected.exit_code == 0, corrected.output
    assert "sentiment=negative; intents=complaint" in corrected.stdout
    bad = invoke("nlp", "correct", str(mention_id), "--sentiment", "angry")
    assert bad.exit_code == 2
    assert "unknown sentiment 'angry'" in bad.stderr

    data = write_data(tmp_path / "data")
    model = tmp_path / "model"
    result = quick_train(data, model, 24, "--with-feedback")
    assert result.exit_code == 0, result.output
    assert "including 3 example(s) from staff corrections" in result.stderr
    meta = json.loads((model / META_FILE).read_text())
    assert meta["training"]["feedback_examples"] == 3


def test_an_epoch_holds_every_feedback_example(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data")
    fed = [Example("the app ate my notes", "complaint", 1)]
    cfg = TrainConfig(data_dir=data, output=tmp_path, limit=24, feedback=fed)
    epoch = epoch_examples(corpus(cfg), cfg)
    assert epoch.count(fed[0]) == cfg.intent_repeat


def test_members_are_averaged_into_one_network(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data")
    model = tmp_path / "soup"
    result = quick_train(data, model, 24, "--members", "2")
    assert result.exit_code == 0, result.output
    assert "averaged 2 networks" in result.stderr
    meta = json.loads((model / META_FILE).read_text())
    assert meta["training"]["members"] == 2
    assert meta["training"]["chosen"].startswith("average of seed 0: epoch 1")
    assert "; seed 1: epoch 1" in meta["training"]["chosen"]


def test_a_teacher_labels_unlabelled_tweets_for_its_student(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data")
    teacher = tmp_path / "teacher"
    assert quick_train(data, teacher, 24).exit_code == 0
    cfg = TrainConfig(data_dir=data, output=tmp_path, limit=24, teacher=teacher)
    distilled = distillation(cfg, report=lambda _line: None)
    assert len(distilled) == 24  # --limit draws from the 3 x 20 unlabelled tweets too
    assert {e.task for e in distilled} == {DISTIL}
    for example in distilled:
        assert example.soft is not None
        assert sum(example.soft) == pytest.approx(1.0, abs=1e-5)
        assert example.label == max(range(3), key=example.soft.__getitem__)
    assert set(distilled) <= set(epoch_examples(corpus(cfg), cfg, distilled))

    student = tmp_path / "student"
    result = quick_train(data, student, 24, "--teacher", str(teacher))
    assert result.exit_code == 0, result.output
    assert "labelling 24 unlabelled tweets with the teacher" in result.stderr
    taught = json.loads((teacher / META_FILE).read_text())
    recorded = json.loads((student / META_FILE).read_text())["training"]["teacher"]
    assert recorded == f"{taught['name']}@{taught['version']}"


def test_a_folder_that_is_no_model_is_refused_as_teacher(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data")
    result = quick_train(data, tmp_path / "out", 24, "--teacher", str(tmp_path))
    assert result.exit_code == 2
    assert "--teacher must name a folder written by nlp train" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_soft_targets_are_learnt_by_cross_entropy_against_the_teacher() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    soft = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])
    loss = loss_of({"sentiment": logits}, DISTIL, soft, torch.ones(3))
    expected = -(soft * logits.log_softmax(-1)).sum(-1).mean()
    assert loss.item() == pytest.approx(expected.item())


def tiny_encoder(seed: int) -> Any:
    """A small randomly initialised BERT, trainable from its first layer on."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=50,
        hidden_size=8,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=16,
    )
    return BertModel(config)


def test_a_soup_is_the_mean_of_its_members_rounded_as_stored() -> None:
    nets = [MultiTaskNet(tiny_encoder(seed)) for seed in (1, 2)]
    for net in nets:
        freeze_below(net, 1)
    first = {n: p.detach().clone() for n, p in nets[0].named_parameters()}
    second = dict(nets[1].named_parameters())
    soup(nets[0], nets)
    for name, param in nets[0].named_parameters():
        mean = (first[name] + second[name].detach()) / 2
        if not param.requires_grad:
            assert torch.equal(param.detach(), first[name]), name  # frozen: left alone
            continue
        if name.startswith("encoder."):
            mean = mean.half().float()  # trained encoder weights ship in fp16
        assert torch.equal(param.detach(), mean), name
