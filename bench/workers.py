"""Async compile drained by 1 and by 2 ``statewave worker`` processes: throughput, exactly once.

    .venv/bin/python bench/workers.py [--episodes 2000] [--workers 1,2]

For each worker count, a fresh database: support-like conversations ingested through the
real server (no in-process worker), one async compile request per subject, N real worker
processes (local model), already started, drain the queue; the clock runs from the first
compile request to the last episode compiled. Reported: drain seconds, episodes/s, and
the checks that make the number worth reading — every episode compiled, each exactly once
(one turn summary per episode), no job dead or left pending.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common
from bench.compile import episodes_for, ingest
from devtools.worker import worker_subprocess

POLL_S = 0.5


async def request_compiles(base_url: str, subjects: list[str]) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        for subject in subjects:
            response = await client.post(
                "/v1/memories/compile", json={"subject_id": subject, "async": True}
            )
            response.raise_for_status()


def count(pg: common.Postgres, sql: str) -> int:
    return int(pg.psql(sql, "bench_workers"))


def drained(pg: common.Postgres) -> bool:
    return (
        count(pg, "SELECT count(*) FROM episodes WHERE last_compiled_at IS NULL") == 0
        and count(pg, "SELECT count(*) FROM compilation_jobs WHERE status IN ('pending','running')")
        == 0
    )


def wait_for_workers(log: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    """Until every worker has said ``worker_started`` (startup is not drain time)."""
    deadline = time.monotonic() + 120
    while log.read_text(errors="replace").count('"worker_started"') < len(procs):
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise RuntimeError(f"workers did not start; see {log}")
        time.sleep(0.2)


def run(workers: int, episodes_total: int, per_subject: int) -> dict[str, Any]:
    subjects = [f"cust-{i}" for i in range(max(1, episodes_total // per_subject))]
    episodes = episodes_for(subjects, per_subject, seed=2)
    log_path = common.bench_log_path(f"workers-{workers}")
    worker_log = common.bench_log_path(f"workers-{workers}-workers")
    worker_log.unlink(missing_ok=True)
    with common.embedded_postgres() as pg:
        url = pg.create_database("bench_workers")
        common.migrate(url)
        env = common.clean_env(
            PYTHONPATH=str(common.code_snapshot()[0]),
            STATEWAVE_DATABASE_URL=url,
            STATEWAVE_JOB_POLL_INTERVAL_SECONDS="0.05",
            STATEWAVE_LOG_LEVEL="INFO",
        )
        with common.running_server(url, log_path) as server, ExitStack() as stack:
            asyncio.run(ingest(server.base_url, episodes))
            procs: list[subprocess.Popen[bytes]] = [
                stack.enter_context(worker_subprocess(env, worker_log)) for _ in range(workers)
            ]
            wait_for_workers(worker_log, procs)
            load_before = common.loadavg()
            began = time.perf_counter()
            asyncio.run(request_compiles(server.base_url, subjects))
            while not drained(pg):
                if any(p.poll() is not None for p in procs):
                    raise RuntimeError(f"a worker exited; see {worker_log}")
                time.sleep(POLL_S)
            seconds = time.perf_counter() - began
            load_after = common.loadavg()
        turn_summaries = count(
            pg,
            "SELECT count(*) FROM memories WHERE kind = 'episode_summary' "
            "AND coalesce(metadata->>'form', '') <> 'digest'",
        )
        distinct_sources = count(
            pg,
            "SELECT count(DISTINCT source_episode_ids[1]) FROM memories "
            "WHERE kind = 'episode_summary' AND coalesce(metadata->>'form', '') <> 'digest'",
        )
        dead = count(pg, "SELECT count(*) FROM compilation_jobs WHERE status = 'dead'")
        jobs = count(pg, "SELECT count(*) FROM compilation_jobs")
    return {
        "workers": workers,
        "episodes": len(episodes),
        "subjects": len(subjects),
        "jobs": jobs,
        "jobs_dead": dead,
        "turn_summaries": turn_summaries,
        "each_episode_once": turn_summaries == distinct_sources == len(episodes),
        "seconds": round(seconds, 2),
        "episodes_per_s": round(len(episodes) / seconds, 1),
        "load_before": load_before,
        "load_after": load_after,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--episodes-per-subject", type=int, default=50)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    machine = common.machine_info()
    runs = [run(int(n), args.episodes, args.episodes_per_subject) for n in args.workers.split(",")]
    result = common.run_record("workers", machine, runs=runs)
    common.write_result("workers", result)
    common.log(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
