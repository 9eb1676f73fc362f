"""Backoff as data: how long a failed job or webhook delivery waits before its next try.

The number of attempts lives on each row (``max_attempts``); a :class:`Backoff` only answers
"how long to wait after attempt *n* failed". Two instances exist, both built from settings:
:func:`job_retry` (no jitter) and :func:`webhook_backoff` (±50% jitter, so events that
failed together do not retry together).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from statewave_server.settings import Settings


@dataclass(frozen=True)
class Backoff:
    """Delay after failed attempt *n*: ``min(base·factor^(n−1), max) × U(jitter)``.

    ``max_seconds`` caps the nominal delay; ``jitter`` is the range the nominal delay is
    multiplied by (``(1.0, 1.0)``: none). Attempts below 1 count as the first.
    """

    base_seconds: float
    max_seconds: float
    factor: float = 2.0
    jitter: tuple[float, float] = (1.0, 1.0)

    def nominal(self, attempt: int) -> float:
        """The un-jittered delay after failed attempt ``attempt`` (1-based)."""
        exponent = max(attempt, 1) - 1
        return float(min(self.max_seconds, self.base_seconds * self.factor**exponent))

    def delay(
        self, attempt: int, uniform: Callable[[float, float], float] = random.uniform
    ) -> float:
        """Seconds to wait after failed attempt ``attempt``, jittered within ``jitter``."""
        return self.nominal(attempt) * uniform(*self.jitter)


def job_retry(settings: Settings) -> Backoff:
    """Compile and other jobs: exact exponential steps (``STATEWAVE_JOB_BACKOFF_*``)."""
    return Backoff(settings.job_backoff_base_seconds, settings.job_backoff_max_seconds)


def webhook_backoff(settings: Settings) -> Backoff:
    """Webhook deliveries: jittered ×0.5–1.5 around the step (``STATEWAVE_WEBHOOK_BACKOFF_*``)."""
    return Backoff(
        settings.webhook_backoff_base_seconds,
        settings.webhook_backoff_max_seconds,
        jitter=(0.5, 1.5),
    )
