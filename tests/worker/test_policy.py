"""Retry policy: exponential, capped, read from settings."""

from __future__ import annotations

import pytest

from statewave_server.settings import Settings
from statewave_server.worker.policy import RetryPolicy


def test_delay_doubles_per_attempt_and_is_capped() -> None:
    policy = RetryPolicy(base_seconds=5, max_seconds=30, factor=2)
    assert [policy.delay(n) for n in range(1, 6)] == [5, 10, 20, 30, 30]


def test_attempt_zero_is_treated_as_the_first() -> None:
    assert RetryPolicy(base_seconds=2).delay(0) == 2


def test_policy_comes_from_settings() -> None:
    settings = Settings(_env_file=None, job_backoff_base_seconds=0.5, job_backoff_max_seconds=3.0)
    policy = RetryPolicy.from_settings(settings)
    assert (policy.base_seconds, policy.max_seconds) == (0.5, 3.0)
    assert policy.delay(10) == pytest.approx(3.0)
