"""NLP: sentiment and intent classification, training, evaluation and model artifacts (issue #4)."""
