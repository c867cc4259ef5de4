"""Secrets never reach a log line."""

from __future__ import annotations

import io
import logging

import pytest

from socialcrm.logs import SecretMaskingFilter, setup_logging


@pytest.fixture
def log_output() -> io.StringIO:
    buffer = io.StringIO()
    setup_logging("DEBUG", ["tok-ABCDEF-123", "s3cr3t"], stream=buffer)
    return buffer


def test_secret_in_arguments_is_masked(log_output: io.StringIO) -> None:
    logging.getLogger("t").info("connecting with token %s to %s", "tok-ABCDEF-123", "reddit")
    text = log_output.getvalue()
    assert "tok-ABCDEF-123" not in text
    assert "connecting with token *** to reddit" in text


def test_secret_in_an_exception_is_masked(log_output: io.StringIO) -> None:
    error = RuntimeError("401 for Authorization: Bearer s3cr3t")
    logging.getLogger("t").error("request failed", exc_info=(RuntimeError, error, None))
    text = log_output.getvalue()
    assert "s3cr3t" not in text
    assert "Bearer ***" in text


def test_url_passwords_are_masked_even_when_not_configured() -> None:
    masker = SecretMaskingFilter()
    assert (
        masker.mask("db postgresql://app:pa55word@db:5432/x up")
        == "db postgresql://app:***@db:5432/x up"
    )


def test_longer_secrets_are_masked_whole() -> None:
    masker = SecretMaskingFilter(["abcd", "abcdefgh"])
    assert masker.mask("key=abcdefgh") == "key=***"


def test_short_values_are_not_treated_as_secrets() -> None:
    # masking "a" or "1" would garble every line while protecting nothing
    assert SecretMaskingFilter(["ab"]).mask("abc") == "abc"
