"""Keep API keys out of text: error messages and the log lines of the clients we drive."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

MASK = "***"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


class RedactingLogger(logging.LoggerAdapter):
    """A logger for a client library that logs requests (ccxt logs their headers at DEBUG).

    Each message is rendered, cleaned of ``secrets`` and passed on to ``logger`` as plain text.
    """

    def __init__(self, logger: logging.Logger, secrets: Iterable[str | None]) -> None:
        super().__init__(logger, {})
        self._secrets = tuple(s for s in secrets if s)

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if self.isEnabledFor(level):
            text = str(msg) % args if args else str(msg)
            self.logger.log(level, "%s", redact(text, self._secrets), **kwargs)
