"""Labelled data for training and evaluation: TweetEval, complaints, tweet_act, YouTube spam."""

from __future__ import annotations

import csv
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import emoji

from nlp.labels import ACT_LABELS

_USER = re.compile(r"(?<![\w@])@[\w.@-]+")
_URL = re.compile(r"https?://\S+|www\.\S+")
# characters that may start an emoji: a cheap test before the emoji package's slower scan
_EMOJI_HINT = re.compile("[\u00a9\u00ae\u203c-\u3299\U0001f000-\U0001faff]")
_SPACES = re.compile(r"\s{2,}")
# JSON escapes left in the text ("it\\u2019s", "one\\u002c two"): TweetEval's validation file
# holds them in a tenth of its tweets, where its training tweets hold the characters themselves
_ESCAPED = re.compile(r"(?:\\u[0-9a-fA-F]{4})+")


class DataError(RuntimeError):
    """Training or evaluation data is missing or malformed."""


def normalise(text: str) -> str:
    """The text as the model saw it in training: literal \\uXXXX escapes become the characters
    they stand for, handles become @user, links become http, emoji become their names."""
    return demojize(_URL.sub("http", _USER.sub("@user", unescape(text)))).strip()


def unescape(text: str) -> str:
    """Literal JSON escapes decoded ("it\\u2019s" -> "it", U+2019, "s"); a pair of escaped
    surrogates is one character ("\\ud83d\\ude21" -> "😡"); a lone surrogate becomes U+FFFD."""
    if "\\u" not in text:
        return text
    return _ESCAPED.sub(_decoded, text)


def _decoded(match: re.Match[str]) -> str:
    units = "".join(chr(int(code, 16)) for code in match.group(0).split("\\u")[1:])
    return units.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def demojize(text: str) -> str:
    """Emoji as words ("😡" -> "enraged face").

    The encoder's vocabulary has no emoji (each would be [UNK], so "love it 😍" and "love it 😡"
    would read alike), but it knows their names; the training tweets hold none, so this changes
    nothing the model learnt and only lets it read emoji in live posts.
    """
    if not _EMOJI_HINT.search(text):
        return text
    named = emoji.replace_emoji(text, replace=_emoji_name)
    return _SPACES.sub(" ", named)


def _emoji_name(_chars: str, data: dict[str, str]) -> str:
    return " " + data["en"].strip(":").replace("_", " ") + " "


@dataclass(frozen=True)
class Example:
    """One labelled text for one task (label: class index, or 0/1 for binary tasks)."""

    text: str
    task: str
    label: int
    # a teacher's probabilities over the classes (self-training); `label` is then their argmax
    soft: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Split:
    """Examples used for training and examples held back to calibrate and evaluate."""

    train: list[Example]
    dev: list[Example]


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from exc


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from exc


def tweeteval(root: Path, part: str) -> list[Example]:
    """TweetEval sentiment `train` or `val`: label 0 negative, 1 neutral, 2 positive."""
    folder = root / "tweeteval" / "sentiment"
    texts = _lines(folder / f"{part}_text.txt")
    labels = _lines(folder / f"{part}_labels.txt")
    if len(texts) != len(labels):
        raise DataError(f"{folder}: {len(texts)} texts but {len(labels)} labels in {part}")
    return [Example(t, "sentiment", int(y)) for t, y in zip(texts, labels, strict=True)]


# TweetEval emotion: anger, joy, optimism, sadness
EMOTION_SENTIMENT = {0: 0, 1: 2, 2: 2, 3: 0}


def emotion_as_sentiment(root: Path) -> list[Example]:
    """TweetEval emotion train as sentiment: joy, optimism positive; anger, sadness negative."""
    folder = root / "tweeteval" / "emotion"
    texts = _lines(folder / "train_text.txt")
    labels = _lines(folder / "train_labels.txt")
    if len(texts) != len(labels):
        raise DataError(f"{folder}: {len(texts)} texts but {len(labels)} labels in train")
    return [
        Example(t, "sentiment", EMOTION_SENTIMENT[int(y)])
        for t, y in zip(texts, labels, strict=True)
    ]


# TweetEval tasks whose tweets are read as unlabelled sentiment text (their labels are not used)
UNLABELLED_TASKS = ("offensive", "hate", "irony")


def unlabelled_tweets(root: Path) -> list[str]:
    """Tweets of the other TweetEval training sets, as text without sentiment labels."""
    return [
        text
        for task in UNLABELLED_TASKS
        for text in _lines(root / "tweeteval" / task / "train_text.txt")
        if text.strip()
    ]


def complaints(root: Path) -> list[Example]:
    """Tweets to customer-service accounts, complaint 1/0."""
    return [
        Example(r["text"], "complaint", int(r["complaint"]))
        for r in _rows(root / "complaints" / "train.csv")
    ]


def tweet_acts(root: Path) -> list[Example]:
    """Tweets labelled with a speech act (question, request, suggestion, ...)."""
    rows = _rows(root / "tweet_act" / "train.csv")
    return [
        Example(r["text"], "act", ACT_LABELS.index(r["act"]))
        for r in rows
        if r["act"] in ACT_LABELS
    ]


def youtube_spam(root: Path) -> list[Example]:
    """YouTube comments, spam 1/0."""
    return [
        Example(r["text"], "spam", int(r["spam"]))
        for r in _rows(root / "youtube_spam" / "train.csv")
    ]


def hold_out(examples: Sequence[Example], size: int, seed: int) -> Split:
    """A seeded, class-stratified split: `size` examples for dev, the rest for training."""
    rng = random.Random(seed)
    by_label: dict[int, list[Example]] = {}
    for ex in examples:
        by_label.setdefault(ex.label, []).append(ex)
    train: list[Example] = []
    dev: list[Example] = []
    for label in sorted(by_label):
        group = by_label[label][:]
        rng.shuffle(group)
        take = round(size * len(group) / len(examples))
        dev += group[:take]
        train += group[take:]
    return Split(train, dev)


T = TypeVar("T")


def sample(examples: Sequence[T], limit: int | None, seed: int) -> list[T]:
    """At most `limit` examples, drawn with a seed (all of them when `limit` is None)."""
    if limit is None or limit >= len(examples):
        return list(examples)
    return random.Random(seed).sample(list(examples), limit)
