"""Heuristic compile with the local embeddings (all-MiniLM-L6-v2 on the CPU).

    .venv/bin/python bench/compile.py [--subjects 40] [--episodes-per-subject 50] [--clients 2]

Ingests support-like conversations for M subjects (not timed), then times synchronous
POST /v1/memories/compile per subject (a few concurrent clients): episodes/s, memories/s.
Each compile embeds every memory it creates, inside the request.
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


async def ingest(
    base_url: str, subjects: list[str], per_subject: int, seed: int, *, stable_profile: bool
) -> int:
    rng = random.Random(seed)
    episodes = [
        workload.episode(rng, subject, f"{subject}-s{i // 10}", stable_profile=stable_profile)
        for subject in subjects
        for i in range(per_subject)
    ]
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        for start in range(0, len(episodes), 100):
            response = await client.post(
                "/v1/episodes/batch", json={"episodes": episodes[start : start + 100]}
            )
            response.raise_for_status()
    return len(episodes)


async def compile_all(
    base_url: str, subjects: list[str], clients: int, errors: list[str]
) -> tuple[int, float, list[float]]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for subject in subjects:
        queue.put_nowait(subject)
    latencies: list[float] = []
    memories = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=600) as client:

        async def worker() -> None:
            nonlocal memories
            while not queue.empty():
                subject = queue.get_nowait()
                started = time.perf_counter()
                try:
                    response = await client.post(
                        "/v1/memories/compile", json={"subject_id": subject}
                    )
                except (httpx.ReadError, httpx.RemoteProtocolError):
                    # The server raised while writing the response and dropped the
                    # connection: the same known bug as the 500 below.
                    latencies.append(time.perf_counter() - started)
                    errors.append(subject)
                    continue
                latencies.append(time.perf_counter() - started)
                if response.status_code == 500:
                    # Known server bug (see RESULTS.md): the compile committed, the response
                    # failed to serialise. Counted; memories are counted in the DB instead.
                    errors.append(subject)
                    continue
                response.raise_for_status()
                memories += int(response.json()["memories_created"])

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - began
    return memories, elapsed, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=40)
    parser.add_argument("--episodes-per-subject", type=int, default=50)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument(
        "--varying-profiles",
        action="store_true",
        help="let a subject's employer/plan/city change between episodes (causes supersessions)",
    )
    args = parser.parse_args()
    stable = not args.varying_profiles
    errors: list[str] = []

    machine = common.machine_info()
    common.log(f"machine {machine}")
    with common.embedded_postgres() as pg:
        url = pg.create_database("bench_compile")
        common.migrate(url)
        with common.running_server(url, common.bench_log_path("compile")) as server:
            warm = ["warm-0"]
            asyncio.run(ingest(server.base_url, warm, 20, seed=1, stable_profile=stable))
            common.log("warmup compile (loads the embedding model)")
            asyncio.run(compile_all(server.base_url, warm, 1, []))
            subjects = [f"cust-{i}" for i in range(args.subjects)]
            total = asyncio.run(
                ingest(
                    server.base_url,
                    subjects,
                    args.episodes_per_subject,
                    seed=2,
                    stable_profile=stable,
                )
            )
            load_before = common.loadavg()
            common.log(f"timing compile of {total} episodes in {args.subjects} subjects")
            memories, elapsed, latencies = asyncio.run(
                compile_all(server.base_url, subjects, args.clients, errors)
            )
            load_after = common.loadavg()
        counts = pg.psql(
            "SELECT count(*) FILTER (WHERE embedding IS NOT NULL), count(*) FROM memories "
            "WHERE subject_id LIKE 'cust-%'",
            "bench_compile",
        )
        compiled = pg.psql(
            "SELECT count(*) FROM episodes WHERE subject_id LIKE 'cust-%' "
            "AND last_compiled_at IS NOT NULL",
            "bench_compile",
        )
    embedded, in_db = (int(x) for x in counts.split("|"))
    result = common.run_record(
        "compile",
        machine,
        server_command=" ".join(server.command[1:]),
        load_before=load_before,
        load_after=load_after,
        subjects=args.subjects,
        episodes=total,
        stable_profiles=stable,
        episodes_marked_compiled_in_db=int(compiled),
        memories_created_reported=memories,
        memories_in_db=in_db,
        memories_embedded_in_db=embedded,
        compile_requests_500=len(errors),
        clients=args.clients,
        seconds=round(elapsed, 2),
        episodes_per_s=round(total / elapsed, 1),
        memories_per_s=round(in_db / elapsed, 1),
        compile_request_p50_ms=round(common.percentile(latencies, 50) * 1000, 1),
        compile_request_p95_ms=round(common.percentile(latencies, 95) * 1000, 1),
    )
    common.write_result("compile", result)
    common.log(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
