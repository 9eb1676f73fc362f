"""Batch ingest through HTTP: POST /v1/episodes/batch (100 episodes per request).

    .venv/bin/python bench/ingest.py [--episodes 50000] [--clients 8]

Request bodies are serialised before the clock starts, so the client's own JSON cost is
not counted against the server (the client still shares the two cores with it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common, workload

BATCH = 100
TARGET_EPS = 3000.0


async def drive(
    base_url: str, bodies: list[bytes], clients: int, deadline_s: float
) -> tuple[int, float, list[float]]:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    created = 0
    headers = {"content-type": "application/json"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        stop_at = time.perf_counter() + deadline_s

        async def worker() -> None:
            nonlocal created
            while not queue.empty() and time.perf_counter() < stop_at:
                body = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post("/v1/episodes/batch", content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 201:
                    raise RuntimeError(f"batch failed: {response.status_code} {response.text}")
                created += int(response.json()["episodes_created"])

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - began
    return created, elapsed, latencies


def make_bodies(episodes: int, subjects: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    bodies = []
    for start in range(0, episodes, BATCH):
        batch = []
        for i in range(start, min(start + BATCH, episodes)):
            subject = f"cust-{rng.randrange(subjects)}"
            batch.append(workload.episode(rng, subject, f"{subject}-s{i // 1000}"))
        bodies.append(json.dumps({"episodes": batch}).encode())
    return bodies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=50_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--subjects", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=2_000, help="episodes sent before timing")
    parser.add_argument("--max-seconds", type=float, default=300)
    args = parser.parse_args()

    machine = common.machine_info()
    common.log(f"machine {machine}")
    with common.embedded_postgres() as pg:
        url = pg.create_database("bench_ingest")
        common.migrate(url)
        log_path = common.bench_log_path("ingest")
        with common.running_server(url, log_path) as server:
            warm = make_bodies(args.warmup, args.subjects, seed=1)
            bodies = make_bodies(args.episodes, args.subjects, seed=2)
            common.log(f"warmup {args.warmup} episodes")
            asyncio.run(drive(server.base_url, warm, args.clients, args.max_seconds))
            load_before = common.loadavg()
            common.log(f"timing {args.episodes} episodes, {args.clients} clients")
            created, elapsed, latencies = asyncio.run(
                drive(server.base_url, bodies, args.clients, args.max_seconds)
            )
            load_after = common.loadavg()
        count = pg.psql("SELECT count(*) FROM episodes", "bench_ingest")
    rate = created / elapsed
    result = common.run_record(
        "ingest",
        machine,
        server_command=" ".join(server.command[1:]),
        load_before=load_before,
        load_after=load_after,
        episodes=created,
        episodes_in_db=int(count) - args.warmup,
        clients=args.clients,
        batch_size=BATCH,
        seconds=round(elapsed, 2),
        episodes_per_s=round(rate, 1),
        request_p50_ms=round(common.percentile(latencies, 50) * 1000, 1),
        request_p95_ms=round(common.percentile(latencies, 95) * 1000, 1),
        target_episodes_per_s=TARGET_EPS,
        met=rate >= TARGET_EPS,
    )
    common.write_result("ingest", result)
    common.log(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
