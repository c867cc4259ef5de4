"""Pure parts of the NLP stage: needs_reply, metrics, calibration, label mapping, corrections."""

from __future__ import annotations

import pytest
import torch

from nlp import calibrate, metrics
from nlp.data import normalise
from nlp.encoder import ModelNotFoundError
from nlp.feedback import to_examples
from nlp.hub import label_order
from nlp.labels import ACT_LABELS, needs_reply
from nlp.languages import UNDETERMINED, Detected, labelled_language


def test_needs_reply_is_a_noisy_or_of_the_intents_that_want_an_answer() -> None:
    assert needs_reply({}) == 0.0
    assert needs_reply({"question": 1.0}) == pytest.approx(0.95)
    # two independent reasons: 1 - (1 - .9*.5)(1 - .95*.5)
    assert needs_reply({"complaint": 0.5, "question": 0.5}) == pytest.approx(1 - 0.55 * 0.525)
    # praise alone does not ask for an answer
    assert needs_reply({"praise": 1.0}) == 0.0


def test_spam_cancels_needs_reply() -> None:
    assert needs_reply({"question": 1.0, "spam": 1.0}) == 0.0
    assert needs_reply({"question": 1.0, "spam": 0.5}) == pytest.approx(0.475)


def test_report_against_hand_computed_values() -> None:
    gold = [0, 0, 1, 1, 2, 2]
    pred = [0, 1, 1, 1, 2, 0]
    result = metrics.report(pred, gold, ("negative", "neutral", "positive"))
    assert result["recall"] == {"negative": 50.0, "neutral": 100.0, "positive": 50.0}
    assert result["macro_recall"] == pytest.approx(66.67)
    assert result["accuracy"] == pytest.approx(66.67)
    # F1: negative 2/(2+1+1)=.5, neutral 4/(4+1)=.8, positive 2/(2+0+1)=.667
    assert result["macro_f1"] == pytest.approx(100 * (0.5 + 0.8 + 2 / 3) / 3, abs=0.01)


def test_calibration_error_is_zero_when_confidence_matches_accuracy() -> None:
    probs = torch.tensor([[0.75, 0.25]] * 4)
    assert metrics.expected_calibration_error(probs, torch.tensor([0, 0, 0, 1])) == 0.0
    assert metrics.expected_calibration_error(probs, torch.tensor([1, 1, 1, 1])) == 75.0


def test_temperature_recovers_the_scale_of_overconfident_logits() -> None:
    generator = torch.Generator().manual_seed(0)
    true_logits = torch.randn(4000, 3, generator=generator) * 1.5
    gold = torch.multinomial(true_logits.softmax(-1), 1, generator=generator).squeeze(-1)
    fitted = calibrate.fit_temperature(true_logits * 3, gold)
    assert fitted == pytest.approx(3, rel=0.15)


def test_binary_temperature() -> None:
    generator = torch.Generator().manual_seed(1)
    logit = torch.randn(4000, generator=generator) * 2
    gold = torch.bernoulli(logit.sigmoid(), generator=generator).long()
    assert calibrate.fit_temperature(logit / 2, gold) == pytest.approx(0.5, rel=0.15)


@pytest.mark.parametrize(
    ("id2label", "expected"),
    [
        ({0: "negative", 1: "neutral", 2: "positive"}, [0, 1, 2]),
        ({0: "POSITIVE", 1: "NEGATIVE", 2: "NEUTRAL"}, [1, 2, 0]),
        ({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, [0, 1, 2]),
        ({0: "Neg", 1: "Pos", 2: "Neu"}, [0, 2, 1]),
    ],
)
def test_hub_label_names_map_to_our_order(id2label: dict[int, str], expected: list[int]) -> None:
    assert label_order(id2label) == expected


@pytest.mark.parametrize(
    "id2label", [{0: "negative", 1: "positive"}, {0: "joy", 1: "anger", 2: "fear"}]
)
def test_a_model_that_is_not_3_class_sentiment_is_refused(id2label: dict[int, str]) -> None:
    with pytest.raises(ModelNotFoundError, match="label"):
        label_order(id2label)


def test_language_policy() -> None:
    assert labelled_language(Detected("en", 0.9), ["en"], 0.5) == "en"
    assert labelled_language(Detected("de", 0.9), ["en"], 0.5) is None
    assert labelled_language(Detected("de", 0.9), ["en", "de"], 0.5) == "de"
    # the detector is unsure (short text, slang): labelled, and recorded as undetermined
    assert labelled_language(Detected("eo", 0.3), ["en"], 0.5) == UNDETERMINED


def test_a_correction_teaches_every_task_it_speaks_for() -> None:
    examples = to_examples("where is my refund?", "negative", ["complaint", "question"])
    taught = {(e.task, e.label) for e in examples}
    assert taught == {
        ("sentiment", 0),
        ("complaint", 1),
        ("spam", 0),
        ("act", ACT_LABELS.index("QUE")),
    }
    only_sentiment = to_examples("ok", "neutral", None)
    assert [(e.task, e.label) for e in only_sentiment] == [("sentiment", 1)]


def test_the_lexical_model_learns_words_and_survives_saving() -> None:
    from nlp.data import Example
    from nlp.lexical import LexicalModel, fit

    words = {0: "awful broken", 1: "tuesday report", 2: "lovely great"}
    examples = [Example(f"{words[i % 3]} {i}", "sentiment", i % 3) for i in range(60)]
    model = fit({"sentiment": examples}, seed=0)
    texts = ["so awful and broken", "what a lovely great day"]
    log_probs = model.log_probs(texts)["sentiment"]
    assert log_probs.argmax(-1).tolist() == [0, 2]
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(2))
    restored = LexicalModel.from_tensors(model.tensors())
    assert restored is not None
    # weights are stored in fp16: the same decisions, probabilities within rounding
    assert torch.allclose(restored.log_probs(texts)["sentiment"], log_probs, atol=1e-2)
    assert LexicalModel.from_tensors({}) is None


def test_lexical_features_are_scikit_learns_hashed_tf_idf() -> None:
    # the shipped weights were fitted on scikit-learn's HashingVectorizer; inference hashes
    # with mmh3 (no scikit-learn import at start-up) and must give the very same columns
    import numpy as np
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.preprocessing import normalize

    from nlp.lexical import N_FEATURES, TOKENS, LexicalModel

    texts = [
        "The new update is AWFUL!!! :( never again",
        "Émile's café, naïve résumé; ça va? :-)",
        "",
        "one",
        "a b c d e f g a b c",
        normalise(r"@bob it\u2019s 😡 https://x.example"),
    ]
    rng = np.random.default_rng(0)
    model = LexicalModel(rng.uniform(1, 5, N_FEATURES).astype(np.float32), {})
    reference = HashingVectorizer(
        ngram_range=(1, 3),
        n_features=N_FEATURES,
        alternate_sign=False,
        norm=None,
        token_pattern=TOKENS,
    ).transform(texts)
    reference = reference.astype(np.float32)
    reference.data = 1.0 + np.log(reference.data)
    expected = normalize(reference.multiply(model.idf).tocsr()).toarray()
    assert np.allclose(model.features(texts).toarray(), expected, atol=1e-6)
    assert expected[0].any()
    assert not expected[2].any()  # the empty text

    coef = rng.normal(size=(3, N_FEATURES)).astype(np.float32)
    intercept = np.array([0.1, -0.2, 0.3], dtype=np.float32)
    model.heads["sentiment"] = (coef, intercept)
    wanted = torch.from_numpy((expected @ coef.T + intercept).astype(np.float32)).log_softmax(-1)
    assert torch.allclose(model.log_probs(texts)["sentiment"], wanted, atol=1e-4)


def test_normalise_names_emoji_and_hides_handles_and_links() -> None:
    text = "@bob the app 😡😡 crashed again https://x.example/a ™"
    assert (
        normalise(text) == "@user the app enraged face enraged face crashed again http trade mark"
    )
    assert normalise("plain words, no emoji") == "plain words, no emoji"


def test_normalise_decodes_literal_json_escapes() -> None:
    # as TweetEval's validation tweets hold them: the model trained on the characters
    assert normalise(r"Rui En\u2019s ex\u002c framed") == "Rui En\u2019s ex, framed"
    # an escaped surrogate pair is one emoji, which is then named
    assert normalise(r"the update \ud83d\ude21") == "the update enraged face"
    assert normalise(r"lone \ud83d half") == "lone \ufffd half"
    assert normalise(r"C:\users\me and \u12 stay") == r"C:\users\me and \u12 stay"
