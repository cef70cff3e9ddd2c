"""The shared retry helper: Retry-After parsing, backoff, bounded attempts, clear errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from quant_engine.data.sources.retry import (
    Failure,
    RetryPolicy,
    SourceError,
    call_with_retries,
    parse_retry_after,
)


class Flaky:
    """Fails with the given exceptions in turn, then returns ``"ok"``."""

    def __init__(self, *errors: Exception) -> None:
        self.errors, self.calls = list(errors), 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


class Busy(Exception):
    def __init__(self, wait: float | None = None) -> None:
        super().__init__("busy")
        self.wait = wait


def explain(exc: Exception) -> Failure | None:
    if isinstance(exc, Busy):
        return Failure("HTTP 429: busy", True, exc.wait)
    if isinstance(exc, PermissionError):
        return Failure("authentication failed (HTTP 401)", False)
    return None


def run(call, sleeps, **policy):
    return call_with_retries(
        call,
        source="vendor",
        what="bars",
        explain=explain,
        policy=RetryPolicy(**policy),
        sleep=sleeps,
    )


def test_retry_after_as_seconds_or_http_date():
    now = datetime(2024, 1, 2, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after("Tue, 02 Jan 2024 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Tue, 02 Jan 2024 11:00:00 GMT", now=now) == 0.0  # in the past
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_waits_follow_retry_after_else_doubling_backoff(sleeps):
    call = Flaky(Busy(7), Busy(), Busy(), Busy())
    assert run(call, sleeps, max_attempts=5, backoff_s=1.0, max_backoff_s=3.0) == "ok"
    assert sleeps == [7.0, 2.0, 3.0, 3.0] and call.calls == 5


def test_exhausted_attempts_raise_one_error_naming_source_and_problem(sleeps):
    call = Flaky(Busy(), Busy(), Busy())
    with pytest.raises(
        SourceError, match=r"^vendor: bars failed after 3 attempts: HTTP 429: busy$"
    ):
        run(call, sleeps, max_attempts=3, backoff_s=0.1)
    assert call.calls == 3 and len(sleeps) == 2


def test_permanent_failures_are_not_retried(sleeps):
    call = Flaky(PermissionError("nope"))
    with pytest.raises(SourceError, match=r"^vendor: bars failed: authentication failed") as raised:
        run(call, sleeps)
    assert call.calls == 1 and sleeps == [] and isinstance(raised.value.__cause__, PermissionError)


def test_other_exceptions_propagate_unchanged(sleeps):
    with pytest.raises(ZeroDivisionError):
        run(Flaky(ZeroDivisionError()), sleeps)


def test_a_retry_after_beyond_the_limit_fails_at_once(sleeps):
    with pytest.raises(SourceError, match="asks to wait 3600 s, more than the 600 s allowed"):
        run(Flaky(Busy(3600)), sleeps)
    assert sleeps == []


def test_policy_is_validated():
    with pytest.raises(ValueError, match="max_attempts must be at least 1"):
        RetryPolicy(max_attempts=0)
