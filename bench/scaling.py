"""Subject-size vs table-size, measured side by side: two servers (same code snapshot),
one on a 20,000-memory table and one on a 1,000,000-memory table, each holding the same
10,000-memory bench subject; requests alternate between them (small, large, small, …) so
both see the same machine load.

    .venv/bin/python bench/scaling.py [--requests 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common, retrieval, workload


async def alternate(urls: dict[str, str], kind: str, tasks: list[str]) -> dict[str, list[float]]:
    latencies: dict[str, list[float]] = {label: [] for label in urls}
    clients = {label: httpx.AsyncClient(base_url=url, timeout=60) for label, url in urls.items()}
    try:
        for task in tasks:
            for label, client in clients.items():
                started = time.perf_counter()
                if kind == "context":
                    response = await client.post(
                        "/v1/context",
                        json={"subject_id": retrieval.SUBJECT, "task": task, "max_tokens": 1000},
                    )
                else:
                    response = await client.get(
                        "/v1/memories/search",
                        params={"subject_id": retrieval.SUBJECT, "q": task, "semantic": "true"},
                    )
                latencies[label].append(time.perf_counter() - started)
                response.raise_for_status()
    finally:
        for client in clients.values():
            await client.aclose()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=20_000)
    parser.add_argument("--embeddings-cache", type=Path)
    args = parser.parse_args()
    rows, vectors = retrieval.bench_rows(seed=7, cache=args.embeddings_cache)
    rng = random.Random(77)
    tasks = [workload.task_text(rng, 500_000 + i) for i in range(args.requests)]
    warm = [workload.task_text(rng, 600_000 + i) for i in range(10)]
    result = common.run_record("scaling", common.machine_info())
    with common.embedded_postgres() as pg, ExitStack() as stack:
        urls = {}
        for label, total in (("small", args.small), ("large", args.large)):
            name = f"scaling_{label}"
            url = pg.create_database(name)
            common.migrate(url)
            result[f"load_{label}"] = asyncio.run(
                retrieval.load_database(pg.dsn(name), total, rows, vectors, seed=11)
            )
            server = stack.enter_context(
                common.running_server(url, common.bench_log_path(f"scaling-{label}"))
            )
            asyncio.run(retrieval.add_episodes(server.base_url))
            urls[label] = server.base_url
        # The first request per server builds the subject's in-memory index: cold cost.
        first = asyncio.run(alternate(urls, "context", warm[:1]))
        result["first_context_ms"] = {k: round(v[0] * 1000, 1) for k, v in first.items()}
        common.log(f"first context call (builds the index): {result['first_context_ms']}")
        asyncio.run(alternate(urls, "context", warm[1:]))
        asyncio.run(alternate(urls, "search", warm))
        for kind in ("context", "search"):
            load = common.loadavg()
            started = time.perf_counter()
            latencies = asyncio.run(
                alternate(
                    urls, kind, [t + (" (search)" if kind == "search" else "") for t in tasks]
                )
            )
            wall = time.perf_counter() - started
            result[kind] = {
                label: {**retrieval.summarise(values, wall), "load": load}
                for label, values in latencies.items()
            }
            common.log(f"{kind}: {result[kind]}")
    common.write_result("scaling", result)
    summary = ("first_context_ms", "context", "search")
    common.log(json.dumps({k: result[k] for k in summary}, indent=1))


if __name__ == "__main__":
    main()
