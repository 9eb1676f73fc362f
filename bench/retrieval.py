"""/v1/context and semantic search latency for one 10,000-memory subject, in a table of
1,000,000 memories and in a table of 20,000 (same subject, same rows, same queries).

    .venv/bin/python bench/retrieval.py [--large 1000000] [--small 20000] [--requests 200]

Loading (not timed): the bench subject's 10,000 memories get real all-MiniLM-L6-v2
embeddings of generated support sentences; every other memory gets one of 4,096 random
384-dim unit vectors (reused cyclically) and templated text. Rows are inserted with
INSERT … SELECT generate_series, the bench subject's rows interleaved evenly through the
table (as if its memories arrived over time among everyone else's), so its rows are
scattered over the heap exactly as in a shared production table. The memories indexes
are dropped for the load and re-created from their own definitions, then VACUUM ANALYZE.

Timed: sequential requests (one client, so latencies are not queueing) with distinct task
texts (the query-embedding cache never hits), after a warm-up; then the same with 4
concurrent clients for throughput. The query embedding (local model, in the server) is
part of every measured latency; it is also timed alone, in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common, workload

SUBJECT = "bench-subject"
SUBJECT_MEMORIES = 10_000
OTHER_SUBJECTS = 999
RANDOM_VECTORS = 4096
DIMS = 384
TARGET_CONTEXT_P95_MS = 50.0
TARGET_SEARCH_P95_MS = 25.0


def vector_text(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.6f}" for x in vector) + "]"


def bench_rows(seed: int, cache: Path | None) -> tuple[list[tuple[str, str]], np.ndarray]:
    """The bench subject's (kind, content) rows and their real embeddings."""
    from statewave_server.services.embeddings.local import LocalMiniLMProvider

    rng = random.Random(seed)
    rows = [workload.memory_sentence(rng) for _ in range(SUBJECT_MEMORIES)]
    if cache is not None and cache.exists():
        return rows, np.load(cache)
    provider = LocalMiniLMProvider()
    started = time.perf_counter()
    vectors = np.asarray(provider.embed_sync([content for _, content in rows]), dtype=np.float32)
    common.log(
        f"embedded {len(rows)} bench-subject memories in {time.perf_counter() - started:.1f}s"
    )
    provider.close()
    if cache is not None:
        np.save(cache, vectors)
    return rows, vectors


_OTHER_CONTENT_SQL = """
CASE WHEN g % 20 < 5 THEN
  (ARRAY['my name is Alice Novak','I work at Globex','We''re on the Pro plan',
         'I''m based in Osaka','I use the REST API daily','I work at Initech',
         'my name is Chen Wei'])[1 + (g / 7) % 7]
ELSE
  'user: The ' || (ARRAY['billing dashboard','mobile app','REST API','SSO login','CSV export',
    'webhook delivery','invoice PDF','search page','team invites','audit log'])[1 + g % 10]
  || ' ' || (ARRAY['times out','returns a 500 error','shows the wrong currency','is very slow',
    'logs me out','drops the last row','sends duplicate emails','fails silently',
    'rejects my card','shows a blank page'])[1 + (g / 10) % 10]
  || ' ' || (ARRAY['since yesterday','after the last update','every Monday morning',
    'on large accounts','only on Safari','when two admins edit at once',
    'after I renamed the workspace','during the nightly sync'])[1 + (g / 100) % 8]
  || '. Order ' || g || E'.\\nassistant: I''ve opened a ticket.'
END
"""


async def load_database(
    dsn: str, total: int, rows: list[tuple[str, str]], vectors: np.ndarray, seed: int
) -> dict[str, Any]:
    """Fill ``memories`` with ``total`` rows, the bench subject's interleaved every
    ``total // 10_000`` rows; returns timings."""
    import asyncpg

    stride = total // SUBJECT_MEMORIES
    if stride < 2:
        raise ValueError("total must be at least twice the bench subject's size")
    rng = np.random.default_rng(seed)
    random_vectors = rng.standard_normal((RANDOM_VECTORS, DIMS)).astype(np.float32)
    random_vectors /= np.linalg.norm(random_vectors, axis=1, keepdims=True)
    timings: dict[str, Any] = {}
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("SET maintenance_work_mem = '512MB'")
        await connection.execute(
            "CREATE UNLOGGED TABLE bench_vectors (i int PRIMARY KEY, v vector);"
            "CREATE UNLOGGED TABLE bench_rows (n int PRIMARY KEY, kind text, content text,"
            " v vector);"
        )
        buffer = io.StringIO()
        for i, vector in enumerate(random_vectors):
            buffer.write(f"{i}\t{vector_text(vector)}\n")
        await connection.copy_to_table(
            "bench_vectors", source=io.BytesIO(buffer.getvalue().encode()), format="text"
        )
        buffer = io.StringIO()
        for n, ((kind, content), vector) in enumerate(zip(rows, vectors, strict=True)):
            escaped = content.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
            buffer.write(f"{n}\t{kind}\t{escaped}\t{vector_text(vector)}\n")
        await connection.copy_to_table(
            "bench_rows", source=io.BytesIO(buffer.getvalue().encode()), format="text"
        )
        indexes = await connection.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'memories' "
            "AND indexname <> 'memories_pkey'"
        )
        for index in indexes:
            await connection.execute(f'DROP INDEX "{index["indexname"]}"')
        await connection.execute("ALTER TABLE memories DROP CONSTRAINT memories_pkey")
        started = time.perf_counter()
        await connection.execute(
            f"""
            INSERT INTO memories (id, tenant_id, subject_id, kind, content, summary, confidence,
                                  valid_from, created_at, updated_at, embedding, embedding_model)
            SELECT gen_random_uuid(), '',
                   CASE WHEN b.n IS NULL THEN 'cust-' || (g % {OTHER_SUBJECTS}) ELSE $2 END,
                   COALESCE(b.kind, CASE WHEN g % 20 < 5 THEN 'profile_fact'
                                         WHEN g % 20 = 5 THEN 'procedure'
                                         ELSE 'episode_summary' END),
                   COALESCE(b.content, {_OTHER_CONTENT_SQL}),
                   left(COALESCE(b.content, 'summary'), 200),
                   CASE WHEN g % 20 < 5 THEN 0.6 ELSE 0.8 END,
                   now() - ($1 - g) * interval '1 second',
                   now() - ($1 - g) * interval '1 second',
                   now() - ($1 - g) * interval '1 second',
                   COALESCE(b.v, v.v), 'all-MiniLM-L6-v2'
            FROM generate_series(0, $1 - 1) AS g
            JOIN bench_vectors v ON v.i = g % {RANDOM_VECTORS}
            LEFT JOIN bench_rows b ON g % {stride} = 0 AND b.n = g / {stride}
            """,
            total,
            SUBJECT,
        )
        timings["insert_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        await connection.execute(
            "ALTER TABLE memories ADD CONSTRAINT memories_pkey "
            "PRIMARY KEY (tenant_id, subject_id, id)"
        )
        for index in indexes:
            await connection.execute(index["indexdef"])
        timings["index_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        await connection.execute("DROP TABLE bench_vectors; DROP TABLE bench_rows")
        await connection.execute("VACUUM (ANALYZE) memories")
        timings["vacuum_analyze_s"] = round(time.perf_counter() - started, 1)
        counts = await connection.fetchrow(
            "SELECT count(*) AS total, count(*) FILTER (WHERE subject_id = $1) AS subject, "
            "pg_size_pretty(pg_total_relation_size('memories')) AS size FROM memories",
            SUBJECT,
        )
        timings.update(
            memories=counts["total"], subject_memories=counts["subject"], size=counts["size"]
        )
    finally:
        await connection.close()
    return timings


async def add_episodes(base_url: str) -> None:
    """300 recent conversation episodes for the bench subject (context includes episodes)."""
    rng = random.Random(5)
    episodes = [workload.episode(rng, SUBJECT, f"s-{i // 10}") for i in range(300)]
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        for start in range(0, len(episodes), 100):
            response = await client.post(
                "/v1/episodes/batch", json={"episodes": episodes[start : start + 100]}
            )
            response.raise_for_status()


async def measure(
    base_url: str, kind: str, tasks: list[str], clients: int
) -> tuple[list[float], float, dict[str, Any]]:
    """Latencies (s) of one request per task; wall time; a sample response summary."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for task in tasks:
        queue.put_nowait(task)
    latencies: list[float] = []
    sample: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:

        async def worker() -> None:
            while not queue.empty():
                task = queue.get_nowait()
                started = time.perf_counter()
                if kind == "context":
                    response = await client.post(
                        "/v1/context",
                        json={"subject_id": SUBJECT, "task": task, "max_tokens": 1000},
                    )
                else:
                    response = await client.get(
                        "/v1/memories/search",
                        params={"subject_id": SUBJECT, "q": task, "semantic": "true"},
                    )
                latencies.append(time.perf_counter() - started)
                response.raise_for_status()
                if not sample:
                    body = response.json()
                    if kind == "context":
                        sample.update(
                            facts=len(body["facts"]),
                            episodes=len(body["episodes"]),
                            procedures=len(body["procedures"]),
                            token_estimate=body["token_estimate"],
                        )
                    else:
                        sample.update(results=len(body["memories"]))

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - began
    return latencies, wall, sample


def summarise(latencies: list[float], wall: float) -> dict[str, float]:
    ms = [x * 1000 for x in latencies]
    return {
        "n": len(ms),
        "p50_ms": round(common.percentile(ms, 50), 1),
        "p95_ms": round(common.percentile(ms, 95), 1),
        "p99_ms": round(common.percentile(ms, 99), 1),
        "max_ms": round(max(ms), 1),
        "mean_ms": round(sum(ms) / len(ms), 1),
        "req_per_s": round(len(ms) / wall, 1),
    }


def embed_query_timing(tasks: list[str]) -> dict[str, float]:
    """embed_query alone (local model, configured as in the server), uncached."""
    from statewave_server.services.embeddings.local import LocalMiniLMProvider

    provider = LocalMiniLMProvider()
    provider.load()

    async def run() -> list[float]:
        for task in tasks[:10]:
            await provider.embed_query(task + " warm")
        times = []
        for task in tasks:
            started = time.perf_counter()
            await provider.embed_query(task)
            times.append(time.perf_counter() - started)
        return times

    times = asyncio.run(run())
    provider.close()
    return summarise(times, sum(times))


EXPLAIN_SQL = {
    "index_rows (the subject's in-memory index, built once per process)": """
        SELECT id, kind, created_at, content, coalesce(content_tsv::text, ''),
               CASE WHEN embedding_model = 'all-MiniLM-L6-v2' THEN vector_send(embedding) END
        FROM memories
        WHERE tenant_id = $1 AND subject_id = $2 AND status = 'active'""",
    "newest_active (kind=episode_summary, limit 30)": """
        SELECT id FROM memories
        WHERE tenant_id = $1 AND subject_id = $2 AND status = 'active'
          AND kind = 'episode_summary'
        ORDER BY created_at DESC, id LIMIT 30""",
}


async def explain(dsn: str, task: str) -> dict[str, str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the queries a context call makes (second run: warm)."""
    import asyncpg

    connection = await asyncpg.connect(dsn)
    plans: dict[str, str] = {}
    try:
        for name, sql in EXPLAIN_SQL.items():
            args: list[Any] = ["", SUBJECT]
            if "$3" in sql:
                args.append(task)
            rows: list[Any] = []
            for _ in range(2):  # the second run is reported: warm cache
                rows = await connection.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)
            plans[name] = "\n".join(row[0] for row in rows)
    finally:
        await connection.close()
    return plans


def profile_server(
    pid: int, base_url: str, kind: str, tasks: list[str], seconds: int
) -> dict[str, Any]:
    """py-spy (in .venv) samples the server while ``tasks`` are sent sequentially; returns
    the share of samples per leaf function and per statewave frame (inclusive)."""
    import subprocess

    out = common.RESULTS_JSON_DIR / f"pyspy-{kind}.txt"
    common.RESULTS_JSON_DIR.mkdir(exist_ok=True)
    spy = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            str(out),
            "--idle",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    deadline = time.monotonic() + seconds - 2
    sent = 0
    while time.monotonic() < deadline and sent < len(tasks):
        asyncio.run(measure(base_url, kind, tasks[sent : sent + 5], 1))
        sent += 5
    spy.wait(timeout=seconds + 60)
    return summarise_stacks(out)


def summarise_stacks(path: Path) -> dict[str, Any]:
    """Collapsed stacks of the event-loop thread only: the share of samples where the loop
    sat idle (waiting on PostgreSQL, the embedding thread or the client) and the inclusive
    share of our own and SQLAlchemy's frames while it was busy."""
    if not path.exists():
        return {"error": "py-spy produced no output"}
    inclusive: dict[str, int] = {}
    loop_samples = idle = embed_busy = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        if any("onnxruntime" in frame for frame in frames):
            embed_busy += count
        if not any(frame.startswith("Runner.run ") for frame in frames):
            continue
        loop_samples += count
        if frames[-1].startswith("Runner.run "):
            idle += count
            continue
        seen = set()
        for frame in frames:
            if ("statewave_server" in frame or "pgvector" in frame) and frame not in seen:
                seen.add(frame)
                inclusive[frame] = inclusive.get(frame, 0) + count
    ranked = sorted(inclusive.items(), key=lambda item: -item[1])[:20]
    share = 100 / max(loop_samples, 1)
    return {
        "loop_samples": loop_samples,
        "loop_idle_pct": round(idle * share, 1),
        "embedding_busy_pct_of_loop_time": round(embed_busy * share, 1),
        "busy_frames_inclusive_pct": [(name, round(v * share, 1)) for name, v in ranked],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--concurrent-clients", type=int, default=4)
    parser.add_argument("--skip-embed-timing", action="store_true")
    parser.add_argument(
        "--profile-seconds", type=int, default=0, help="py-spy the server on the large table"
    )
    parser.add_argument(
        "--embeddings-cache", type=Path, help=".npy file to reuse the subject's embeddings"
    )
    args = parser.parse_args()

    machine = common.machine_info()
    common.log(f"machine {machine}")
    task_rng = random.Random(42)
    tasks = [workload.task_text(task_rng, i) for i in range(args.requests)]
    warm_tasks = [workload.task_text(task_rng, 100_000 + i) for i in range(args.warmup)]
    concurrent_tasks = [workload.task_text(task_rng, 200_000 + i) for i in range(args.requests)]
    search_tasks = [t + " (search)" for t in tasks]
    search_concurrent = [t + " (search)" for t in concurrent_tasks]

    rows, vectors = bench_rows(seed=7, cache=args.embeddings_cache)
    result = common.run_record("retrieval", machine, requests=args.requests, tables={})
    if not args.skip_embed_timing:
        load = common.loadavg()
        result["embed_query_alone"] = {**embed_query_timing(tasks), "load": load}
        common.log(f"embed_query alone: {result['embed_query_alone']}")

    with common.embedded_postgres() as pg:
        for label, total in (("small", args.small), ("large", args.large)):
            name = f"bench_{label}"
            url = pg.create_database(name)
            common.migrate(url)
            common.log(f"loading {total} memories into {name}")
            timings = asyncio.run(load_database(pg.dsn(name), total, rows, vectors, seed=11))
            common.log(f"loaded: {timings}")
            table: dict[str, Any] = {"total_memories": total, "load": timings}
            with common.running_server(url, common.bench_log_path(f"retrieval-{label}")) as server:
                result["server_command"] = " ".join(server.command[1:])
                asyncio.run(add_episodes(server.base_url))
                asyncio.run(measure(server.base_url, "context", warm_tasks, 1))
                asyncio.run(measure(server.base_url, "search", warm_tasks, 1))
                for kind, measured, concurrent in (
                    ("context", tasks, concurrent_tasks),
                    ("search", search_tasks, search_concurrent),
                ):
                    load = common.loadavg()
                    latencies, wall, sample = asyncio.run(
                        measure(server.base_url, kind, measured, 1)
                    )
                    table[kind] = {**summarise(latencies, wall), "load": load, "sample": sample}
                    common.log(f"{label} {kind} sequential: {table[kind]}")
                    load = common.loadavg()
                    latencies, wall, _ = asyncio.run(
                        measure(server.base_url, kind, concurrent, args.concurrent_clients)
                    )
                    table[f"{kind}_concurrent"] = {
                        **summarise(latencies, wall),
                        "clients": args.concurrent_clients,
                        "load": load,
                    }
                    common.log(f"{label} {kind} concurrent: {table[f'{kind}_concurrent']}")
                if label == "large" and args.profile_seconds:
                    profile_rng = random.Random(99)
                    for kind in ("context", "search"):
                        extra = [workload.task_text(profile_rng, 300_000 + i) for i in range(500)]
                        table[f"pyspy_{kind}"] = profile_server(
                            server.process.pid, server.base_url, kind, extra, args.profile_seconds
                        )
                        common.log(f"py-spy {kind}: {table[f'pyspy_{kind}']}")
            table["explain"] = asyncio.run(explain(pg.dsn(name), tasks[0]))
            result["tables"][label] = table
            common.write_result("retrieval", result)
            pg.server.psql(f'DROP DATABASE "{name}";')
    large = result["tables"]["large"]
    result["targets"] = {
        "context_p95_ms": TARGET_CONTEXT_P95_MS,
        "search_p95_ms": TARGET_SEARCH_P95_MS,
        "context_met": large["context"]["p95_ms"] <= TARGET_CONTEXT_P95_MS,
        "search_met": large["search"]["p95_ms"] <= TARGET_SEARCH_P95_MS,
    }
    common.write_result("retrieval", result)
    common.log(json.dumps({k: v for k, v in result.items() if k != "tables"}, indent=2))


if __name__ == "__main__":
    main()
