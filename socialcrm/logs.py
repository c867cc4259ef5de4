"""Logging set-up: one handler on stderr, and every secret masked in every line."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import TextIO

from rich.console import Console
from rich.logging import RichHandler

MASK = "***"
HANDLER_NAME = "socialcrm"
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
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


def remove_handler() -> None:
    """Take away the handler `setup_logging` installed (others, e.g. a test's, stay)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(handler)


def setup_logging(level: str, secrets: Iterable[str] = (), stream: TextIO | None = None) -> None:
    """Log to stderr with secrets masked: rich on a terminal, else one plain line per record."""
    stream = stream or sys.stderr
    handler: logging.Handler
    if stream.isatty():
        handler = RichHandler(console=Console(file=stream), show_path=False, markup=False)
    else:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter(PLAIN_FORMAT))
    handler.addFilter(SecretMaskingFilter(secrets))
    handler.set_name(HANDLER_NAME)
    remove_handler()
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    # libraries that chatter at INFO about every request
    noisy_loggers = ("httpx", "httpcore", "apscheduler", "alembic.runtime.migration")
    for noisy in noisy_loggers:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
