"""`socialcrm classify` and `socialcrm nlp train|eval|correct`: the model from the command line."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

from socialcrm.cli import _progress, _state, app, err, fail, out
from socialcrm.settings import Settings

if TYPE_CHECKING:
    from nlp.classifier import Classifier

nlp_app = typer.Typer(
    help="Train, evaluate and correct the sentiment and intent model.", no_args_is_help=True
)
app.add_typer(nlp_app, name="nlp")

CHUNK = 2048
MEMBERS = 1  # nlp.train.TrainConfig.members; here so that --help does not import torch
DEFAULT_DATA = Path("../shared/data")
DataOption = Annotated[
    Path, typer.Option("--data", help="Folder of the labelled data (see docs/nlp.md).")
]


def load_classifier(settings: Settings) -> Classifier:
    """The configured classifier (loaded once per process), or a one-line error to fix it."""
    from nlp.classifier import shared
    from nlp.encoder import ModelNotFoundError
    from nlp.fewshot import ExamplesError
    from nlp.network import ArtifactError

    try:
        return shared(settings.nlp, settings)
    except (ArtifactError, ModelNotFoundError, ExamplesError) as error:
        raise fail(str(error), 2) from None


def _chunks(stream: IO[bytes]) -> Iterator[list[str]]:
    """Lines of UTF-8 text, a chunk at a time, without their line endings."""
    chunk: list[str] = []
    for number, raw in enumerate(stream, start=1):
        try:
            chunk.append(raw.decode("utf-8").rstrip("\r\n"))
        except UnicodeDecodeError:
            raise fail(
                f"input line {number} is not UTF-8 text: convert the file (e.g. iconv -t UTF-8)"
            ) from None
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@contextmanager
def _opened(path: str, mode: str) -> Iterator[IO[Any]]:
    if path == "-":
        yield sys.stdin.buffer if "r" in mode else sys.stdout
        return
    try:
        handle = open(path, mode, encoding=None if "b" in mode else "utf-8")  # noqa: SIM115
    except OSError as error:
        raise fail(f"cannot open {path}: {error.strerror}") from None
    with handle:
        yield handle


@app.command()
def classify(
    ctx: typer.Context,
    input_: Annotated[
        str, typer.Option("--input", "-i", help="Text file, one text per line; - for stdin.")
    ] = "-",
    output: Annotated[
        str,
        typer.Option("--output", "-o", help="JSON Lines out, one per input line; - for stdout."),
    ] = "-",
) -> None:
    """Classify texts: one JSON object per input line, in order."""
    classifier = load_classifier(_state(ctx).settings)
    # counting reads the file once more: only worth it when a bar is shown
    total = _count_lines(input_) if err.is_terminal else None
    with ExitStack() as stack:
        source = stack.enter_context(_opened(input_, "rb"))
        sink = stack.enter_context(_opened(output, "w"))
        shown = err.is_terminal and (total is None or total > CHUNK)  # long inputs only
        bar = stack.enter_context(_progress(disable=not shown))
        task = bar.add_task("classify", total=total)
        for chunk in _chunks(source):
            for label in classifier.classify(chunk, progress=lambda n: bar.advance(task, n)):
                sink.write(json.dumps(_as_dict(label), ensure_ascii=False) + "\n")
            sink.flush()


def _as_dict(label: Any) -> dict[str, Any]:
    keys = ("sentiment", "sentiment_scores", "intents", "needs_reply", "uncertain", "lang", "model")
    return {key: getattr(label, key) for key in keys}


def _count_lines(path: str) -> int | None:
    if path == "-":
        return None
    try:
        with open(path, "rb") as handle:
            return sum(1 for _ in handle)
    except OSError as error:
        raise fail(f"cannot open {path}: {error.strerror}") from None


@nlp_app.command()
def train(
    ctx: typer.Context,
    data_dir: DataOption = DEFAULT_DATA,
    output: Annotated[
        Path | None, typer.Option(help="Folder to write the model to (default: <data_dir>/model).")
    ] = None,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the training data.")] = 4,
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed and data give the same model.")
    ] = 0,
    limit: Annotated[
        int | None,
        typer.Option(min=20, help="Use at most this many examples per task (a quick trial)."),
    ] = None,
    members: Annotated[
        int,
        typer.Option(
            min=1,
            help="Networks trained with seeds seed, seed+1, ... and averaged into one (a model "
            "soup): each is a whole training run, and costs nothing when classifying.",
        ),
    ] = MEMBERS,
    with_feedback: Annotated[
        bool,
        typer.Option("--with-feedback", help="Also learn from staff corrections in the database."),
    ] = False,
    teacher: Annotated[
        Path | None,
        typer.Option(
            help="A trained model folder whose sentiment probabilities on unlabelled tweets "
            "(the other TweetEval sets) are learnt as soft targets (self-training)."
        ),
    ] = None,
) -> None:
    """Fine-tune on the labelled data (and staff corrections), calibrate, evaluate, save."""
    from nlp import feedback
    from nlp.data import DataError
    from nlp.encoder import ModelNotFoundError
    from nlp.network import ArtifactError
    from nlp.train import TrainConfig
    from nlp.train import train as run_training

    state = _state(ctx)
    target = output or state.settings.data_dir / "model"
    corrections = []
    if with_feedback:
        with state.database().transaction() as session:
            corrections = feedback.examples(session)
        err.print(
            f"including {len(corrections)} example(s) from staff corrections", highlight=False
        )
    cfg = TrainConfig(
        data_dir=data_dir,
        output=target,
        epochs=epochs,
        seed=seed,
        limit=limit,
        members=members,
        feedback=corrections,
        teacher=teacher,
    )
    try:
        meta = run_training(cfg, report=lambda line: err.print(line, highlight=False, markup=False))
    except ArtifactError as error:
        raise fail(f"{error} (--teacher must name a folder written by nlp train)", 2) from None
    except (DataError, ModelNotFoundError) as error:
        raise fail(
            f"{error} (pass --data DIR: the folder holding tweeteval/, complaints/, ...)",
            2,
        ) from None
    _print_metrics(meta.metrics)
    out.print(
        f'wrote {meta.label} to {target}; use it with [nlp] model_dir = "{target}"',
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


@nlp_app.command("eval")
def evaluate(ctx: typer.Context, data_dir: DataOption = DEFAULT_DATA) -> None:
    """Measure the configured model: sentiment on TweetEval validation, intents on dev splits."""
    from nlp.data import DataError
    from nlp.evaluate import evaluate_classifier

    classifier = load_classifier(_state(ctx).settings)
    try:
        metrics = evaluate_classifier(classifier, data_dir)
    except DataError as error:
        raise fail(f"{error} (pass --data DIR)", 2) from None
    out.print(f"model {classifier.model}", highlight=False, markup=False)
    _print_metrics(metrics)


def _print_metrics(metrics: dict[str, Any]) -> None:
    """One line per task: the headline figures, then recall per class."""
    for task, m in metrics.items():
        figures = [
            f"n={m['n']}",
            f"macro-recall {m['macro_recall']:.2f}",
            f"macro-F1 {m['macro_f1']:.1f}",
            f"accuracy {m['accuracy']:.1f}",
            *([f"F1(yes) {m['f1']['yes']:.1f}"] if "yes" in m["f1"] else []),
            f"ECE {m['ece']:.1f}",
        ]
        recalls = ", ".join(f"{k} {v:.1f}" for k, v in m["recall"].items())
        line = f"{task:<16} {'  '.join(figures)}  recall: {recalls}  [{m['split']}]"
        out.print(line, highlight=False, markup=False, soft_wrap=True)


@nlp_app.command()
def correct(
    ctx: typer.Context,
    mention_id: Annotated[
        int,
        typer.Argument(
            help="The mention's id (see `socialcrm status`, the dashboard, or Discord)."
        ),
    ],
    sentiment: Annotated[str | None, typer.Option(help="negative, neutral or positive.")] = None,
    intent: Annotated[
        list[str] | None, typer.Option(help="An intent the mention has; repeat for several.")
    ] = None,
    no_intents: Annotated[
        bool, typer.Option("--no-intents", help="The mention has none of the intents.")
    ] = False,
    by: Annotated[str | None, typer.Option(help="Who corrects (default: the login name).")] = None,
) -> None:
    """Record the right labels for a mention; `nlp train --with-feedback` learns from them."""
    from nlp.feedback import CorrectionError, record

    if intent and no_intents:
        raise fail("give --intent or --no-intents, not both", 2)
    intents = [] if no_intents else intent
    with _state(ctx).database().transaction() as session:
        try:
            saved = record(session, mention_id, sentiment, intents, by or getpass.getuser())
        except CorrectionError as error:
            raise fail(str(error), 2) from None
        labels = [f"sentiment={saved.sentiment}"] if saved.sentiment else []
        if saved.intents is not None:
            labels.append("intents=" + (",".join(saved.intents) or "none"))
    out.print(
        f"mention {mention_id}: corrected ({'; '.join(labels)})", highlight=False, markup=False
    )
