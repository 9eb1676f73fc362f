"""Backoff: exponential, capped, optionally jittered; the two instances come from settings."""

from __future__ import annotations

import pytest

from statewave_server.settings import Settings
from statewave_server.worker.policy import Backoff, job_retry, webhook_backoff


def test_delay_doubles_per_attempt_and_is_capped() -> None:
    policy = Backoff(base_seconds=5, max_seconds=30, factor=2)
    assert [policy.delay(n) for n in range(1, 6)] == [5, 10, 20, 30, 30]


def test_attempt_zero_is_treated_as_the_first() -> None:
    assert Backoff(base_seconds=2, max_seconds=600).delay(0) == 2


def test_job_retries_come_from_settings_without_jitter() -> None:
    settings = Settings(_env_file=None, job_backoff_base_seconds=0.5, job_backoff_max_seconds=3.0)
    policy = job_retry(settings)
    assert (policy.base_seconds, policy.max_seconds, policy.jitter) == (0.5, 3.0, (1.0, 1.0))
    assert policy.delay(10) == pytest.approx(3.0)
    assert {policy.delay(2) for _ in range(50)} == {1.0}


def test_webhook_backoff_comes_from_settings_with_jitter() -> None:
    settings = Settings(
        _env_file=None, webhook_backoff_base_seconds=4, webhook_backoff_max_seconds=100
    )
    policy = webhook_backoff(settings)
    assert (policy.base_seconds, policy.max_seconds, policy.jitter) == (4, 100, (0.5, 1.5))
    assert policy.delay(2, lambda lo, hi: lo) == 4 and policy.delay(2, lambda lo, hi: hi) == 12
