"""Retry policy as data: how long a failed job waits before its next attempt.

The number of attempts lives on each job row (``max_attempts``, set at enqueue); this
object only answers "how long to wait after attempt *n* failed".
"""

from __future__ import annotations

from dataclasses import dataclass

from statewave_server.settings import Settings


def capped_exponential(
    attempt: int, base_seconds: float, factor: float, max_seconds: float
) -> float:
    """``base * factor ** (attempt - 1)`` capped at ``max_seconds`` (``attempt`` 1-based;
    values below 1 count as 1). Shared by job retries and webhook delivery backoff."""
    exponent = max(attempt, 1) - 1
    return float(min(max_seconds, base_seconds * factor**exponent))


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: ``base * factor ** (attempt - 1)``, capped at ``max_seconds``."""

    base_seconds: float = 5.0
    max_seconds: float = 600.0
    factor: float = 2.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            base_seconds=settings.job_backoff_base_seconds,
            max_seconds=settings.job_backoff_max_seconds,
        )

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return capped_exponential(attempt, self.base_seconds, self.factor, self.max_seconds)
