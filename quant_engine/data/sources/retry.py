"""Bounded retries with backoff for vendor calls, honouring a server's ``Retry-After``.

Each source translates its client's exceptions into a :class:`Failure` (what went wrong, whether
it is worth another try, how long the server asked us to wait); :func:`call_with_retries` does
the waiting and, when the attempts run out or the failure is permanent, raises one
:class:`SourceError` naming the source and the problem.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class SourceError(RuntimeError):
    """A bar source could not deliver; the message names the source and the problem."""

    def __init__(self, source: str, problem: str) -> None:
        self.source, self.problem = source, problem
        super().__init__(f"{source}: {problem}")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a transient failure (429, 5xx, dropped connection)."""

    max_attempts: int = 5  # calls in all, the first included
    backoff_s: float = 1.0  # first wait when the server names none; doubles each attempt
    max_backoff_s: float = 60.0
    max_retry_after_s: float = 600.0  # a longer Retry-After is not worth waiting for

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.backoff_s < 0 or self.max_backoff_s < 0:
            raise ValueError("backoff times must be non-negative")

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1-based) when no Retry-After."""
        return min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s)


@dataclass(frozen=True)
class Failure:
    """A client error translated: the problem in words, and whether to try again."""

    problem: str
    retryable: bool
    retry_after_s: float | None = None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def call_with_retries(
    call: Callable[[], T],
    *,
    source: str,
    what: str,
    explain: Callable[[Exception], Failure | None],
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``call``; retry transient failures per ``policy``; raise :class:`SourceError`.

    ``explain`` maps a client exception to a :class:`Failure`, or to None for exceptions that
    are not the client's (programming errors), which propagate unchanged.
    """
    for attempt in range(1, policy.max_attempts + 1):
        try:
            return call()
        except Exception as exc:
            failure = explain(exc)
            if failure is None:
                raise
            if not failure.retryable:
                raise SourceError(source, f"{what} failed: {failure.problem}") from exc
            if attempt == policy.max_attempts:
                raise SourceError(
                    source,
                    f"{what} failed after {attempt} attempt{'s' if attempt > 1 else ''}:"
                    f" {failure.problem}",
                ) from exc
            wait = failure.retry_after_s
            if wait is None:
                wait = policy.backoff(attempt)
            elif wait > policy.max_retry_after_s:
                raise SourceError(
                    source,
                    f"{what} failed: {failure.problem}; the server asks to wait {wait:.0f} s,"
                    f" more than the {policy.max_retry_after_s:.0f} s allowed",
                ) from exc
            log.warning(
                "%s: %s: %s; retrying in %.2f s (attempt %d of %d)",
                source,
                what,
                failure.problem,
                wait,
                attempt + 1,
                policy.max_attempts,
            )
            sleep(wait)
    raise AssertionError("unreachable")  # the loop returns or raises
