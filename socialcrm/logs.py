"""Logging set-up: one handler on stderr, and every secret masked in every line."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from rich.console import Console
from rich.logging import RichHandler

MASK = "***"
# user:password@ in any URL, whether or not the password is a configured secret
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.\-]*://[^:/@\s]+:)[^@/\s]+(?=@)", re.IGNORECASE)
_MIN_SECRET_LENGTH = 4


class SecretMaskingFilter(logging.Filter):
    """Replaces known secret values and URL passwords in the formatted message with `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # longest first, so a secret that contains another is masked whole
        self._secrets = sorted(
            {s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True
        )

    def mask(self, text: str) -> str:
        """Return `text` with every secret replaced."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return _URL_PASSWORD.sub(rf"\g<head>{MASK}", text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the message (with its arguments merged in) and any exception text."""
        message = record.getMessage()
        masked = self.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def setup_logging(level: str, secrets: Iterable[str] = (), console: Console | None = None) -> None:
    """Send log records to stderr through rich, with secrets masked."""
    handler = RichHandler(
        console=console or Console(stderr=True),
        show_path=False,
        rich_tracebacks=False,
        markup=False,
    )
    handler.addFilter(SecretMaskingFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # libraries that chatter at INFO about every request
    noisy_loggers = ("httpx", "httpcore", "apscheduler", "alembic.runtime.migration")
    for noisy in noisy_loggers:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
