"""Compile throughput against the embedding model's own speed, in one run.

    .venv/bin/python bench/compile.py [--drains 2000,20000] [--episodes-per-subject 50]
                                      [--no-vector-cache]

On the same machine and the same texts it measures:

1. the raw speed of the configured local model (all-MiniLM-L6-v2, int8 ONNX) on 1,000 of
   the episodes' texts with the project's own batching (texts/s), in this process, right
   before and right after each drain (their mean is the drain's yardstick);
2. for each drain size, a fresh database: support-like conversations ingested (not timed),
   then synchronous ``POST /v1/memories/compile`` per subject until nothing is left
   (episodes/s, memories/s) and, from the server's ``memories_embedded`` log lines, the texts
   the model really embedded per episode (a text whose vector the compile took from its
   cache of recent memory texts is not counted);
3. the ratio compile episodes/s ÷ raw texts/s (1.0 = compile as fast as the model alone).

The workload's profile facts ("We're on the Pro plan", "I work at Globex") come from a
small pool, as customers' do, so most repeat across subjects and reuse a cached vector.
``--no-vector-cache`` turns that cache off (``STATEWAVE_MEMORY_VECTOR_CACHE_SIZE=0``): every
fact is then embedded, as if each customer's were worded differently.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common, workload
from statewave_server.services.compiler.drafts import episode_text
from statewave_server.services.embeddings.local import LocalMiniLMProvider


def episodes_for(subjects: list[str], per_subject: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        workload.episode(rng, subject, f"{subject}-s{i // 10}", stable_profile=True)
        for subject in subjects
        for i in range(per_subject)
    ]


def raw_model_rate(texts: list[str]) -> float:
    """Texts/s of the local model alone on ``texts`` (after one warm-up batch)."""
    provider = LocalMiniLMProvider()
    provider.embed_sync(texts[:64])
    began = time.perf_counter()
    provider.embed_sync(texts)
    rate = len(texts) / (time.perf_counter() - began)
    provider.close()
    return rate


async def ingest(base_url: str, episodes: list[dict[str, Any]]) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        for start in range(0, len(episodes), 100):
            response = await client.post(
                "/v1/episodes/batch", json={"episodes": episodes[start : start + 100]}
            )
            response.raise_for_status()


async def compile_all(base_url: str, subjects: list[str], clients: int) -> tuple[int, float]:
    """Compile every subject until it has nothing left; any non-200 fails the run."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for subject in subjects:
        queue.put_nowait(subject)
    memories = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=600) as client:

        async def worker() -> None:
            nonlocal memories
            while not queue.empty():
                subject = queue.get_nowait()
                while True:
                    response = await client.post(
                        "/v1/memories/compile", json={"subject_id": subject}
                    )
                    response.raise_for_status()
                    created = int(response.json()["memories_created"])
                    memories += created
                    if created == 0:
                        break

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
    return memories, time.perf_counter() - began


def texts_embedded(log_path: Path) -> int:
    """Sum of ``texts_embedded`` over the server's ``memories_embedded`` log lines."""
    total = 0
    for line in log_path.read_text(errors="replace").splitlines():
        if '"memories_embedded"' in line:
            total += int(json.loads(line[line.index("{") :])["texts_embedded"])
    return total


def drain(
    size: int, per_subject: int, clients: int, texts: list[str], *, vector_cache: bool
) -> dict[str, Any]:
    subjects = [f"cust-{i}" for i in range(max(1, size // per_subject))]
    episodes = episodes_for(subjects, per_subject, seed=2)
    log_path = common.bench_log_path(f"compile-{size}")
    with common.embedded_postgres() as pg:
        url = pg.create_database("bench_compile")
        common.migrate(url)
        cache_size = {} if vector_cache else {"STATEWAVE_MEMORY_VECTOR_CACHE_SIZE": "0"}
        with common.running_server(
            url, log_path, STATEWAVE_LOG_LEVEL="INFO", **cache_size
        ) as server:
            asyncio.run(ingest(server.base_url, episodes_for(["warm-0"], 20, seed=1)))
            asyncio.run(compile_all(server.base_url, ["warm-0"], 1))  # loads the model
            asyncio.run(ingest(server.base_url, episodes))
            before = texts_embedded(log_path)
            raw_before = raw_model_rate(texts)
            load_before = common.loadavg()
            common.log(f"timing the drain of {len(episodes)} episodes ({len(subjects)} subjects)")
            memories, seconds = asyncio.run(compile_all(server.base_url, subjects, clients))
            load_after = common.loadavg()
            embedded = texts_embedded(log_path) - before
        compiled = pg.psql(
            "SELECT count(*) FROM episodes WHERE subject_id LIKE 'cust-%' "
            "AND last_compiled_at IS NOT NULL",
            "bench_compile",
        )
    # The model alone, right before and right after: a shared machine's load drifts.
    raw_rate = (raw_before + raw_model_rate(texts)) / 2
    episodes_per_s = len(episodes) / seconds
    return {
        "episodes": len(episodes),
        "subjects": len(subjects),
        "episodes_compiled_in_db": int(compiled),
        "memories": memories,
        "seconds": round(seconds, 2),
        "episodes_per_s": round(episodes_per_s, 1),
        "memories_per_s": round(memories / seconds, 1),
        "texts_embedded_per_episode": round(embedded / len(episodes), 3),
        "raw_model_texts_per_s": round(raw_rate, 1),
        "ratio_to_raw_model": round(episodes_per_s / raw_rate, 3),
        "load_before": load_before,
        "load_after": load_after,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drains", default="2000,20000", help="episode counts, comma-separated")
    parser.add_argument("--episodes-per-subject", type=int, default=50)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument(
        "--no-vector-cache", action="store_true", help="embed every memory text, even repeats"
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.drains.split(",")]

    machine = common.machine_info()
    common.log(f"machine {machine}")
    sample = episodes_for([f"cust-{i}" for i in range(20)], 50, seed=2)
    texts = [episode_text(e["payload"]) for e in sample]
    vector_cache = not args.no_vector_cache
    drains = [
        drain(size, args.episodes_per_subject, args.clients, texts, vector_cache=vector_cache)
        for size in sizes
    ]
    result = common.run_record(
        "compile",
        machine,
        raw_model_texts=len(texts),
        clients=args.clients,
        memory_vector_cache=vector_cache,
        drains=drains,
    )
    common.write_result("compile" if vector_cache else "compile-no-vector-cache", result)
    common.log(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
