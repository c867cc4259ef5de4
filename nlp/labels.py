"""The labels the NLP stage gives, with what each one means."""

from __future__ import annotations

SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")

# Intents are independent (multi-label): a complaint can also be a question.
INTENTS: dict[str, str] = {
    "complaint": "reports a problem or expresses dissatisfaction with a product or service",
    "question": "asks something of the brand or its users: support, how-to, a request for help",
    "purchase_intent": "wants to buy, subscribe, upgrade or asks about prices: a lead",
    "praise": "thanks or compliments the brand, its product or its staff",
    "feature_request": "suggests a change or asks for something the product does not do",
    "spam": "promotion, self-advertising or bait unrelated to the conversation",
}

# tweet_act speech acts: which intent each one counts as (the rest count as neither).
ACT_LABELS: tuple[str, ...] = ("EXP", "STM", "QUE", "SUG", "OTH", "THT", "REQ")
ACT_INTENT = {"QUE": "question", "REQ": "question", "SUG": "feature_request"}

# How much each intent says that somebody is waiting for an answer (noisy-OR weights).
REPLY_WEIGHTS: dict[str, float] = {
    "complaint": 0.9,
    "question": 0.95,
    "purchase_intent": 0.9,
    "feature_request": 0.5,
}


def needs_reply(intents: dict[str, float]) -> float:
    """Probability that a mention wants an answer: a noisy-OR of the intents, unless it is spam."""
    untouched = 1.0
    for intent, weight in REPLY_WEIGHTS.items():
        untouched *= 1.0 - weight * intents.get(intent, 0.0)
    return (1.0 - untouched) * (1.0 - intents.get("spam", 0.0))
