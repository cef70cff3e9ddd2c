"""Bounded patience for a live feed whose polls fail: back off, then give up loudly.

A feed polls for ever, so one failed poll is no reason to stop: it waits (the server's
``Retry-After`` when it names one, else an exponential backoff) and polls again. A success
resets the count. After ``policy.max_attempts`` failed polls in a row the feed raises one
:class:`SourceError`, which the live engine treats as a feed failure and halts on.
"""

from __future__ import annotations

import logging

from quant_engine.data.sources.retry import RetryPolicy, SourceError

log = logging.getLogger(__name__)


class FeedFailures:
    """Counts consecutive failed polls of ``source`` and says how long to wait before the next."""

    def __init__(self, source: str, policy: RetryPolicy) -> None:
        self.source = source
        self.policy = policy
        self.consecutive = 0
        self.total = 0

    def succeeded(self) -> None:
        """A poll went through: the next failure starts the backoff afresh."""
        self.consecutive = 0

    def failed(self, problem: str, retry_after_s: float | None = None) -> float:
        """Record a failed poll; return the seconds to wait, or raise once patience is spent."""
        self.consecutive += 1
        self.total += 1
        if self.consecutive >= self.policy.max_attempts:
            raise SourceError(
                self.source, f"{self.consecutive} polls in a row failed; last: {problem}"
            )
        wait = self.policy.backoff(self.consecutive)
        if retry_after_s is not None:
            wait = min(max(wait, retry_after_s), self.policy.max_retry_after_s)
        log.warning(
            "%s: poll failed (%s); polling again in %.2f s (%d in a row; giving up at %d)",
            self.source,
            problem,
            wait,
            self.consecutive,
            self.policy.max_attempts,
        )
        return wait
