"""The distributed rate limiter holds across several real API processes on one database:
of a concurrent burst spread over three uvicorn processes, exactly ``rpm`` requests are
accepted in the window and the rest are 429 with ``Retry-After``."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from devtools.harness import ApiProcess, subprocess_env

RPM = 25
PROCESSES = 3
REQUESTS = 120


async def _burst(base_urls: list[str]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=60)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        return await asyncio.gather(
            *(client.get(f"{base_urls[i % len(base_urls)]}/v1/subjects") for i in range(REQUESTS))
        )


def _wait_for_window_start_margin(window: int = 60, need: float = 15.0) -> None:
    """Fixed windows: start the burst early enough in one that it cannot straddle two."""
    position = time.time() % window
    if position > window - need:
        time.sleep(window - position + 0.5)


@pytest.mark.slow
def test_total_accepted_across_processes_is_the_limit(db_url: str, tmp_path: Path) -> None:
    env = subprocess_env(
        db_url,
        STATEWAVE_RATE_LIMIT_RPM=str(RPM),
        STATEWAVE_RATE_LIMIT_STRATEGY="distributed",
    )
    apis = [ApiProcess(env, tmp_path / f"api-{i}.log") for i in range(PROCESSES)]
    for api in apis:
        api.start()
    try:
        for api in apis:
            api.wait_healthy()
        _wait_for_window_start_margin()
        responses = asyncio.run(_burst([api.base_url for api in apis]))
    finally:
        for api in apis:
            api.stop()
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 429}, set(statuses)
    assert statuses.count(200) == RPM
    assert statuses.count(429) == REQUESTS - RPM
    limited = [r for r in responses if r.status_code == 429]
    assert all(r.json()["error"]["code"] == "rate_limited" for r in limited)
    assert all(1 <= int(r.headers["Retry-After"]) <= 60 for r in limited)
    # Every process took part (answered some of the burst).
    by_port = {str(r.request.url.port) for r in responses}
    assert len(by_port) == PROCESSES
