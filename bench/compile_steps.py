"""Where a compile's CPU goes besides the model: client CPU per step of a 50-episode compile.

    .venv/bin/python bench/compile_steps.py [--subjects 60] [--episodes-per-subject 50]

On a 2-core machine the model shares the cores with everything else a compile does, so
``bench/compile.py``'s ratio is set by that CPU. This script measures it alone: the real
app in this process (``httpx.ASGITransport``, the real routers, middleware, services and
an embedded PostgreSQL), the embedding model replaced by one fixed unit vector (an
instant answer, so what is left is everything but the model), one compile at a time.
Each step is timed with ``time.process_time()`` (this process's CPU, every thread: the
heuristic compiler's thread included, PostgreSQL's not); the total includes the HTTP
client side of the transport, which a real client pays in its own process.

Each bench subject compiles once, so its supersede window is empty. A long-lived subject's
is not: the supersede rule is also timed alone against ``CONFLICT_WINDOW`` (2,000) stored
memories of the same workload and one compile's 69 new ones.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import inspect
import json
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import httpx

from bench import common
from bench.compile import episodes_for
from statewave_server.app import create_app
from statewave_server.db import episodes as episode_repo
from statewave_server.db import memories as memory_repo
from statewave_server.db.engine import Database
from statewave_server.services import compilation, draft_vectors
from statewave_server.services.compiler import MemoryRecord, find_supersessions
from statewave_server.services.compiler.drafts import EPISODE_SUMMARY, episode_text
from statewave_server.services.runtime import build_runtime
from statewave_server.settings import Settings

#: The steps timed, by module: what a compile does besides the model.
STEPS: tuple[tuple[ModuleType, tuple[str, ...]], ...] = (
    (compilation, ("compile_now", "find_supersessions", "_store", "_supersede_older")),
    (episode_repo, ("claim_uncompiled", "mark_compiled")),
    (memory_repo, ("insert_memories", "supersede_candidates", "supersede")),
    (draft_vectors, ("embed_draft_groups", "centroid")),
)


class InstantVectors:
    """An embedder that answers at once with one fixed unit vector (the local model's size)."""

    model = common.MODEL_NAME
    dimensions = 384
    semantic = True

    def __init__(self) -> None:
        rng = random.Random(3)
        raw = [rng.uniform(-1.0, 1.0) for _ in range(self.dimensions)]
        norm = sum(x * x for x in raw) ** 0.5
        self._vector = [x / norm for x in raw]

    async def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        return [list(self._vector) for _ in texts]

    async def embed_query(self, text: str) -> list[float]:
        return list(self._vector)

    async def warm_up(self) -> None:
        return None


def timed(
    spent: defaultdict[str, float], label: str, function: Callable[..., Any]
) -> Callable[..., Any]:
    """``function`` adding its CPU time to ``spent[label]`` (one compile at a time, so a
    coroutine's process time between start and end is its own)."""
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def coroutine(*args: Any, **kwargs: Any) -> Any:
            began = time.process_time()
            try:
                return await function(*args, **kwargs)
            finally:
                spent[label] += time.process_time() - began

        return coroutine

    @functools.wraps(function)
    def plain(*args: Any, **kwargs: Any) -> Any:
        began = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[label] += time.process_time() - began

    return plain


def instrument(spent: defaultdict[str, float]) -> None:
    for module, names in STEPS:
        for name in names:
            label = f"{module.__name__.rsplit('.', 1)[-1]}.{name}"
            setattr(module, name, timed(spent, label, getattr(module, name)))


async def measure(url: str, subjects: int, per_subject: int) -> dict[str, Any]:
    settings = Settings(database_url=url, run_worker_in_process=False, log_level="WARNING")
    runtime = dataclasses.replace(build_runtime(settings), embedder=InstantVectors())
    database = Database.from_settings(settings)
    app = create_app(settings, database, runtime)
    names = [f"cust-{i}" for i in range(subjects)]
    warm, measured = names[:10], names[10:]
    spent: defaultdict[str, float] = defaultdict(float)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://localhost", timeout=60
    ) as client:
        episodes = episodes_for(names, per_subject, seed=2)
        for start in range(0, len(episodes), 100):
            batch = {"episodes": episodes[start : start + 100]}
            (await client.post("/v1/episodes/batch", json=batch)).raise_for_status()

        async def compile_all(subject_ids: list[str]) -> float:
            began = time.process_time()
            for subject_id in subject_ids:
                response = await client.post(
                    "/v1/memories/compile", json={"subject_id": subject_id}
                )
                response.raise_for_status()
            return time.process_time() - began

        await compile_all(warm)
        instrument(spent)
        total = await compile_all(measured)
    await database.dispose()
    per_compile = {label: round(cpu / len(measured) * 1000, 2) for label, cpu in spent.items()}
    return {
        "compiles": len(measured),
        "episodes_per_compile": per_subject,
        "client_cpu_ms_per_compile": round(total / len(measured) * 1000, 2),
        "steps_cpu_ms_per_compile": dict(sorted(per_compile.items(), key=lambda kv: -kv[1])),
    }


def supersede_rule_against_a_full_window(repeats: int = 10) -> dict[str, Any]:
    """CPU of the supersede rule for 69 new memories against a full window of stored ones."""
    window, new = compilation.CONFLICT_WINDOW, 69
    names = [f"cust-{i}" for i in range((window + new) // 50 + 1)]
    texts = [episode_text(e["payload"]) for e in episodes_for(names, 50, seed=2)]
    start = datetime(2025, 1, 1, tzinfo=UTC)

    def record(minute: int, content: str) -> MemoryRecord:
        at = start + timedelta(minutes=minute)
        return MemoryRecord(uuid.uuid4(), EPISODE_SUMMARY, content, at, at)

    stored = [record(i, text) for i, text in enumerate(texts[:window])]
    compiled = [record(window + i, text) for i, text in enumerate(texts[window : window + new])]
    find_supersessions(stored, compiled)  # warm-up
    began = time.process_time()
    for _ in range(repeats):
        decided = find_supersessions(stored, compiled)
    return {
        "window": window,
        "new_memories": new,
        "cpu_ms": round((time.process_time() - began) / repeats * 1000, 1),
        "supersessions": len(decided),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=60)
    parser.add_argument("--episodes-per-subject", type=int, default=50)
    args = parser.parse_args()
    machine = common.machine_info()
    with common.embedded_postgres() as pg:
        url = pg.create_database("bench_compile_steps")
        common.migrate(url)
        measured = asyncio.run(measure(url, args.subjects, args.episodes_per_subject))
    rule = supersede_rule_against_a_full_window()
    result = common.run_record("compile_steps", machine, **measured, supersede_rule=rule)
    common.write_result("compile_steps", result)
    common.log(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
