"""Reliability benchmarks (the long versions of ``tests/reliability``).

``durability``  a client ingests N episodes in batches (``Idempotency-Key`` per batch,
                retried until 201) while the API process is SIGKILLed and restarted K
                times; every acknowledged episode must be stored exactly once.
``postmaster-kill``  the same ingest while the embedded PostgreSQL **postmaster** is
                SIGKILLed (no shutdown checkpoint; restart runs crash recovery) and
                started again K times; every acknowledged episode must be there exactly
                once afterwards (the server's fsync/synchronous_commit are recorded).
``load``        API processes and workers on one PostgreSQL (optionally behind PgBouncer
                in transaction mode); a mixed workload (ingest 50 %, context 25 %,
                search 10 %, support 15 % cycling through resolutions POST/GET, handoff,
                health, SLA) from concurrent loopback clients for a fixed duration, async
                compile submissions at a fixed rate (timed as a route; each job polled
                until completed), and write-then-read probes across processes;
                throughput, p50/p95/p99 per route, errors, stale reads, submit → completed
                latency, job attempts.
``faults``      PostgreSQL stopped and started C times under light traffic (API with its
                in-process worker and webhook dispatcher): statuses and latency during
                each outage, /readyz, recovery times, a job and a webhook due during it.
``migration``   an additive ``alembic upgrade`` (scratch revision) while reads run and a
                long transaction holds a lock on ``episodes``; max read latency vs the
                configured ``lock_timeout`` (and, as a control, with a lock timeout
                larger than the blocking transaction).

Each run starts its own throwaway embedded PostgreSQL; results land in
``bench/results/reliability-<scenario>.json``; ``bench/RESULTS.md`` (section Reliability)
is the write-up.

    .venv/bin/python bench/reliability.py durability --episodes 20000 --kills 5
    .venv/bin/python bench/reliability.py postmaster-kill --episodes 20000 --kills 5
    .venv/bin/python bench/reliability.py load --duration 60 --concurrency 16
    .venv/bin/python bench/reliability.py load --apis 3 --workers 2 --pgbouncer \
        --embedding local --tag deployment-3api
    .venv/bin/python bench/reliability.py migration
    .venv/bin/python bench/reliability.py faults --cycles 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import tempfile
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common, workload
from devtools import harness
from devtools.freshness import search_finds, trial_word, write_and_compile
from devtools.pgbouncer import pgbouncer


def _workdir(name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"statewave-reliability-{name}-"))


# --------------------------------------------------------------------------- durability


def durability(args: argparse.Namespace, *, kill_postmaster: bool = False) -> dict[str, Any]:
    logs = _workdir("durability")
    with common.embedded_postgres() as pg:
        url = pg.create_database("durability")
        common.migrate(url)
        settings = asyncio.run(harness.durability_settings(url))
        api = harness.ApiProcess(harness.subprocess_env(url), logs / "api.log")
        first_start = api.restart()
        crash = harness.postmaster_crash(pg.server, pg.server.pgdata, api)
        try:
            result = harness.run_durability(
                api,
                url,
                total=args.episodes,
                batch_size=args.batch_size,
                clients=args.clients,
                kills=args.kills,
                timeout=args.timeout,
                crash=crash if kill_postmaster else None,
                log=common.log,
            )
        finally:
            api.stop()
            if kill_postmaster:
                harness.pg_start(pg.server)  # cleanup expects a running server
    data = {
        **asdict(result),
        "exact_once": result.exact_once,
        "killed": "postgres postmaster" if kill_postmaster else "API process",
        "postgres_settings": settings,
        "first_start_seconds": round(first_start, 2),
        "batch_size": args.batch_size,
        "clients": args.clients,
    }
    if not result.exact_once:
        raise SystemExit(f"EXACT-ONCE VIOLATED: {data}")
    return data


# --------------------------------------------------------------------------- load

MIX = (("ingest", 0.5), ("context", 0.25), ("search", 0.1), ("support", 0.15))
# The "support" share cycles through every support route, one after another per client.
SUPPORT_ROUTES = ("resolutions_post", "resolutions_get", "handoff", "health", "sla")
COMPILE_ROUTE = "compile_async"
ROUTES = (*(name for name, _ in MIX if name != "support"), *SUPPORT_ROUTES, COMPILE_ROUTE)
SEARCH_WORDS = ["refund", "billing", "export", "login", "invoice", "sync", "SSO", "webhook"]
RESOLUTION_STATUSES = ("open", "resolved", "unresolved")
JOB_POLL_SECONDS = 0.1  # resolution of the submit → completed figure
JOB_FINISH_SECONDS = 60.0  # how long queued jobs may take after the load stops
TERMINAL_JOB_STATUSES = frozenset({"completed", "failed"})


async def _seed(base_url: str, tenant: str, subjects: list[str], per_subject: int) -> None:
    rng = random.Random(7)
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        headers = {"X-Tenant-ID": tenant}
        for subject in subjects:
            episodes = [
                workload.episode(rng, subject, f"{subject}-seed", stable_profile=True)
                for _ in range(per_subject)
            ]
            response = await client.post(
                "/v1/episodes/batch", json={"episodes": episodes}, headers=headers
            )
            response.raise_for_status()
            compiled = await client.post(
                "/v1/memories/compile", json={"subject_id": subject}, headers=headers
            )
            compiled.raise_for_status()


def _request(
    route: str, rng: random.Random, subject: str, n: int
) -> tuple[str, str, dict[str, Any]]:
    """(method, path, httpx keywords) of the ``n``-th request of a client on ``route``."""
    session = f"{subject}-s{n % 5}"
    match route:
        case "ingest":
            return "POST", "/v1/episodes", {"json": workload.episode(rng, subject, session)}
        case "context":
            body = {"subject_id": subject, "task": workload.task_text(rng, n), "max_tokens": 1000}
            return "POST", "/v1/context", {"json": body}
        case "search":
            params = {"subject_id": subject, "q": rng.choice(SEARCH_WORDS)}
            return "GET", "/v1/memories/search", {"params": params}
        case "resolutions_post":
            body = {
                "subject_id": subject,
                "session_id": session,
                "status": rng.choice(RESOLUTION_STATUSES),
                "resolution_summary": workload.user_message(rng),
            }
            return "POST", "/v1/resolutions", {"json": body}
        case "resolutions_get":
            return "GET", "/v1/resolutions", {"params": {"subject_id": subject}}
        case "handoff":
            return "POST", "/v1/handoff", {"json": {"subject_id": subject, "session_id": session}}
        case "health" | "sla":
            return "GET", f"/v1/subjects/{subject}/{route}", {}
        case "compile_async":
            return "POST", "/v1/memories/compile", {"json": {"subject_id": subject, "async": True}}
    raise ValueError(f"unknown route {route!r}")


def _latency_ms(values: list[float]) -> dict[str, float | None]:
    return {
        f"p{pct}_ms": round(common.percentile(values, pct) * 1000, 1) if values else None
        for pct in (50, 95, 99)
    }


async def _load(
    base_urls: list[str],
    tenant: str,
    subjects: list[str],
    duration: float,
    concurrency: int,
    compile_every: float,
) -> dict[str, Any]:
    samples: dict[str, list[float]] = {route: [] for route in ROUTES}
    errors: dict[str, dict[str, int]] = {route: {} for route in ROUTES}
    names = [name for name, _ in MIX]
    weights = [weight for _, weight in MIX]
    headers = {"X-Tenant-ID": tenant}
    started = time.monotonic()
    deadline = started + duration
    limits = httpx.Limits(max_connections=concurrency * 2)

    async with httpx.AsyncClient(timeout=60, headers=headers, limits=limits) as client:

        async def timed(route: str, base: str, rng: random.Random, subject: str, n: int) -> Any:
            """One request of ``route``, its latency and any error recorded; its JSON or None."""
            method, path, kwargs = _request(route, rng, subject, n)
            t0 = time.monotonic()
            try:
                response = await client.request(method, f"{base}{path}", **kwargs)
                status, ok = str(response.status_code), response.is_success
            except httpx.HTTPError as exc:
                status, ok = type(exc).__name__, False
            samples[route].append(time.monotonic() - t0)
            if not ok:
                errors[route][status] = errors[route].get(status, 0) + 1
                return None
            return response.json()

        async def one(worker: int) -> None:
            rng = random.Random(worker)
            n = supports = 0
            while time.monotonic() < deadline:
                n += 1
                route = rng.choices(names, weights)[0]
                if route == "support":
                    route = SUPPORT_ROUTES[(worker + supports) % len(SUPPORT_ROUTES)]
                    supports += 1
                base = base_urls[(worker + n) % len(base_urls)]
                await timed(route, base, rng, rng.choice(subjects), worker * 1_000_000 + n)

        jobs: dict[str, str] = {}  # job id -> last status seen
        completion: list[float] = []  # submit (acknowledged) -> seen completed, seconds
        followers: list[asyncio.Task[None]] = []

        async def follow(job_id: str, acknowledged: float) -> None:
            """Poll a queued job until it ends (or the finish window closes)."""
            while time.monotonic() < deadline + JOB_FINISH_SECONDS:
                response = await client.get(f"{base_urls[0]}/v1/memories/compile/{job_id}")
                status = response.json()["status"] if response.is_success else "?"
                jobs[job_id] = status if response.is_success else str(response.status_code)
                if status in TERMINAL_JOB_STATUSES:
                    if status == "completed":
                        completion.append(time.monotonic() - acknowledged)
                    return
                await asyncio.sleep(JOB_POLL_SECONDS)

        async def trickle() -> None:
            """Async compiles at a fixed rate (a bounded worker backlog), timed as a route."""
            rng = random.Random(99)
            n = 0
            while time.monotonic() < deadline:
                await asyncio.sleep(compile_every)
                n += 1
                base = base_urls[n % len(base_urls)]
                queued = await timed(COMPILE_ROUTE, base, rng, rng.choice(subjects), n)
                if queued is not None:
                    jobs[queued["job_id"]] = queued["status"]
                    followers.append(
                        asyncio.create_task(follow(queued["job_id"], time.monotonic()))
                    )

        freshness = {"trials": 0, "stale": 0}

        async def probe() -> None:
            """Episode + sync compile on one process, search at once on the next."""
            n = 0
            while time.monotonic() < deadline:
                writer, reader = base_urls[n % len(base_urls)], base_urls[(n + 1) % len(base_urls)]
                word = trial_word(n)
                await asyncio.to_thread(_probe_once, writer, reader, tenant, word, freshness)
                n += 1
                await asyncio.sleep(0.5)

        await asyncio.gather(probe(), trickle(), *(one(i) for i in range(concurrency)))
        elapsed = time.monotonic() - started
        await asyncio.gather(*followers)  # each bounded by the finish window

    total = sum(len(v) for v in samples.values())
    total_errors = sum(sum(e.values()) for e in errors.values())
    per_route = {
        route: {
            "requests": len(values),
            "share": round(len(values) / total, 3) if total else 0,
            **_latency_ms(values),
            "errors": errors[route],
        }
        for route, values in samples.items()
    }
    everything = [s for values in samples.values() for s in values]
    final = list(jobs.values())
    return {
        "seconds": round(elapsed, 1),
        "requests": total,
        "throughput_rps": round(total / elapsed, 1),
        **_latency_ms(everything),
        "errors": total_errors,
        "error_rate": round(total_errors / total, 5) if total else None,
        "operations": per_route,
        "async_compile_jobs": {
            "queued": len(jobs),
            "final_status": {s: final.count(s) for s in sorted(set(final))},
            "submit_to_completed": {"jobs": len(completion), **_latency_ms(completion)},
            "poll_interval_ms": JOB_POLL_SECONDS * 1000,
            "ids": list(jobs),
        },
        "freshness": freshness,
    }


def _probe_once(writer: str, reader: str, tenant: str, word: str, tally: dict[str, int]) -> None:
    with httpx.Client(timeout=120, headers={"X-Tenant-ID": tenant}) as client:
        write_and_compile(client, writer, "freshness", word)
        tally["trials"] += 1
        if not search_finds(client, reader, "freshness", word):
            tally["stale"] += 1


async def _job_attempts(database_url: str, job_ids: list[str]) -> dict[str, int]:
    """How many of the jobs ran once, more than once, or never finished."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT status, attempts FROM compilation_jobs WHERE id = ANY(:ids)"),
                {"ids": job_ids},
            )
            tally: dict[str, int] = {}
            for status, attempts in rows:
                key = f"{status}, {attempts} attempt(s)"
                tally[key] = tally.get(key, 0) + 1
            return tally
    finally:
        await engine.dispose()


def load(args: argparse.Namespace) -> dict[str, Any]:
    logs = _workdir("load")
    with common.embedded_postgres() as pg, contextlib.ExitStack() as stack:
        url = pg.create_database("load")
        common.migrate(url)
        settings = {
            "STATEWAVE_EMBEDDING_PROVIDER": args.embedding,
            "STATEWAVE_DB_POOL_SIZE": str(args.pool_size),
            "STATEWAVE_JOB_POLL_INTERVAL_SECONDS": "0.5",
        }
        served_url = url
        if args.pgbouncer:
            info = pg.server.get_postmaster_info()
            bouncer = stack.enter_context(
                pgbouncer(Path(info.socket_dir), info.port, pool_size=args.server_connections)
            )
            served_url = bouncer.url("load")
            settings |= {"STATEWAVE_DATABASE_POOLED": "true", "STATEWAVE_DIRECT_DATABASE_URL": url}
        env = harness.subprocess_env(served_url, **settings)
        apis = [harness.ApiProcess(env, logs / f"api-{i}.log") for i in range(args.apis)]
        workers = [
            harness.ManagedProcess(harness.worker_command(), env, logs / f"worker-{i}.log")
            for i in range(args.workers)
        ]
        for process in [*apis, *workers]:
            process.start()
        try:
            for api in apis:
                api.wait_healthy(180)
            subjects = [f"load-{i}" for i in range(args.subjects)]
            tenant = "load"
            common.log(f"seeding {len(subjects)} subjects x {args.seed_episodes} episodes")
            asyncio.run(_seed(apis[0].base_url, tenant, subjects, args.seed_episodes))
            common.log(f"load for {args.duration} s, {args.concurrency} clients")
            load_before = common.loadavg()
            result = asyncio.run(
                _load(
                    [api.base_url for api in apis],
                    tenant,
                    subjects,
                    args.duration,
                    args.concurrency,
                    args.compile_every,
                )
            )
            result["loadavg_before"] = load_before
            result["loadavg_after"] = common.loadavg()
            jobs = result["async_compile_jobs"]
            jobs["attempts"] = asyncio.run(_job_attempts(url, jobs.pop("ids")))
            jobs["exactly_once"] = (
                jobs["attempts"] == {"completed, 1 attempt(s)": jobs["queued"]}
                and jobs["submit_to_completed"]["jobs"] == jobs["queued"]
            )
        finally:
            for process in [*workers, *apis]:
                process.stop()
    result.update(
        {
            "api_processes": args.apis,
            "workers": args.workers,
            "pgbouncer": args.pgbouncer,
            "server_connections": args.server_connections if args.pgbouncer else None,
            "concurrency": args.concurrency,
            "embedding_provider": args.embedding,
            "subjects": args.subjects,
            "seed_episodes_per_subject": args.seed_episodes,
            "pool_size_per_process": args.pool_size,
        }
    )
    return result


# --------------------------------------------------------------------------- migration


async def _migration_case(
    url: str, base_url: str, ini: Path, lock_timeout_ms: int, args: argparse.Namespace
) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:

        async def read() -> int:
            response = await client.get(
                "/v1/timeline", params={"subject_id": "mig-0"}, headers={"X-Tenant-ID": "mig"}
            )
            return response.status_code

        result = await harness.migration_under_load(
            url,
            read,
            ini,
            lock_timeout_ms=lock_timeout_ms,
            retries=args.retries,
            blocker_seconds=args.blocker_seconds,
            readers=args.readers,
        )
    return asdict(result)


def migration(args: argparse.Namespace) -> dict[str, Any]:
    logs = _workdir("migration")
    cases: dict[str, Any] = {}
    for label, lock_timeout_ms in (
        ("configured", args.lock_timeout_ms),
        ("control_no_effective_timeout", int(args.blocker_seconds * 1000 * 4)),
    ):
        with common.embedded_postgres() as pg:
            url = pg.create_database("migration")
            common.migrate(url)
            ini = harness.scratch_alembic(_workdir("alembic"))
            api = harness.ApiProcess(harness.subprocess_env(url), logs / f"api-{label}.log")
            api.restart()
            try:
                rng = random.Random(3)
                with httpx.Client(base_url=api.base_url, timeout=60) as client:
                    for _ in range(args.rows // 100):
                        episodes = [workload.episode(rng, f"mig-{j % 10}", "s") for j in range(100)]
                        client.post(
                            "/v1/episodes/batch",
                            json={"episodes": episodes},
                            headers={"X-Tenant-ID": "mig"},
                        ).raise_for_status()
                common.log(f"migration case {label}: lock_timeout {lock_timeout_ms} ms")
                cases[label] = asyncio.run(
                    _migration_case(url, api.base_url, ini, lock_timeout_ms, args)
                )
                common.log(str(cases[label]))
            finally:
                api.stop()
    return {"rows": args.rows, "cases": cases}


# --------------------------------------------------------------------------- faults


def _freeze(server: Any) -> list[Any]:
    """SIGSTOP the postmaster and every backend: a hung (not a dead) database server."""
    import psutil

    main = psutil.Process(server.get_pid())
    processes = [main, *main.children(recursive=True)]
    for process in processes:
        process.suspend()
    return processes


def _thaw(processes: list[Any]) -> None:
    for process in processes:
        process.resume()


def faults(args: argparse.Namespace) -> dict[str, Any]:
    from devtools.receiver import running_receiver

    logs = _workdir("faults")
    cycles: list[dict[str, Any]] = []
    with common.embedded_postgres() as pg, running_receiver() as receiver:
        url = pg.create_database("faults")
        common.migrate(url)
        env = harness.faults_env(url, receiver.url, args.connect_timeout, args.pool_timeout)
        api = harness.ApiProcess(env, logs / "api.log")
        api.restart()
        try:
            with harness.RequestLoad(api.base_url, "faults", max_seconds=1800) as load:
                time.sleep(1.0)
                for cycle in range(args.cycles):
                    job_id, event_id = asyncio.run(
                        harness.schedule_job_and_webhook(url, "faults", due_in=1.0)
                    )
                    stopped_at = time.monotonic()
                    frozen = _freeze(pg.server) if args.mode == "freeze" else []
                    if args.mode == "stop":
                        harness.pg_stop(pg.server)
                    probes = []
                    while time.monotonic() - stopped_at < args.down_seconds:
                        probes.append(harness.readyz(api.base_url))
                        time.sleep(0.5)
                    restarted_at = time.monotonic()
                    if args.mode == "stop":
                        harness.pg_start(pg.server)
                    _thaw(frozen)
                    pg_up = time.monotonic() - restarted_at
                    ready = harness.wait_for(
                        lambda: harness.readyz(api.base_url)[:2] == (200, "ready"), 60, "ready"
                    )
                    job = harness.wait_for(
                        lambda j=job_id: asyncio.run(harness.job_status(url, j)) == "completed",
                        60,
                        "job",
                    )
                    hook = harness.wait_for(
                        lambda e=event_id: any(r.event_id == e for r in receiver.accepted()),
                        60,
                        "webhook",
                    )
                    delivered = sum(1 for r in receiver.accepted() if r.event_id == event_id)
                    during = [
                        x
                        for x in load.samples
                        if x.started > stopped_at and x.started + x.seconds < restarted_at
                    ]
                    statuses: dict[str, int] = {}
                    for x in during:
                        key = f"{x.status} {x.code or ''}".strip()
                        statuses[key] = statuses.get(key, 0) + 1
                    cycles.append(
                        {
                            "cycle": cycle + 1,
                            "down_seconds": round(restarted_at - stopped_at, 1),
                            "requests_during_outage": len(during),
                            "statuses_during_outage": statuses,
                            "max_request_seconds_during_outage": round(
                                max((x.seconds for x in during), default=0.0), 3
                            ),
                            "readyz_during_outage": sorted({f"{p[0]} {p[1]}" for p in probes}),
                            "max_readyz_seconds": round(max(p[2] for p in probes), 3),
                            "pg_start_seconds": round(pg_up, 2),
                            "ready_after_pg_start_seconds": round(ready, 2),
                            "job_completed_after_ready_seconds": round(job, 2),
                            "webhook_delivered_after_job_seconds": round(hook, 2),
                            "webhook_deliveries": delivered,
                        }
                    )
                    common.log(str(cycles[-1]))
                    time.sleep(args.up_seconds)
            samples = load.samples
        finally:
            api.stop()
    all_statuses: dict[str, int] = {}
    for x in samples:
        all_statuses[str(x.status)] = all_statuses.get(str(x.status), 0) + 1
    return {
        "mode": args.mode,
        "connect_timeout_seconds": args.connect_timeout,
        "pool_timeout_seconds": args.pool_timeout,
        "requests": len(samples),
        "statuses": all_statuses,
        "server_errors_500": all_statuses.get("500", 0),
        "no_answer": all_statuses.get("0", 0),
        "max_request_seconds": round(max(x.seconds for x in samples), 3),
        "cycles": cycles,
    }


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="scenario", required=True)
    for name in ("durability", "postmaster-kill"):
        d = sub.add_parser(name)
        d.add_argument("--episodes", type=int, default=20_000)
        d.add_argument("--batch-size", type=int, default=50)
        d.add_argument("--clients", type=int, default=4)
        d.add_argument("--kills", type=int, default=5)
        d.add_argument("--timeout", type=float, default=1200)
    ld = sub.add_parser("load")
    ld.add_argument("--duration", type=float, default=60)
    ld.add_argument("--concurrency", type=int, default=16)
    ld.add_argument("--apis", type=int, default=2)
    ld.add_argument("--subjects", type=int, default=40)
    ld.add_argument("--seed-episodes", type=int, default=20)
    ld.add_argument("--pool-size", type=int, default=5)
    ld.add_argument("--compile-every", type=float, default=2.0)
    ld.add_argument("--embedding", choices=["hash", "local"], default="hash")
    ld.add_argument("--workers", type=int, default=1)
    ld.add_argument("--pgbouncer", action="store_true", help="PgBouncer, transaction mode")
    ld.add_argument("--server-connections", type=int, default=10, help="PgBouncer pool")
    ld.add_argument("--tag", default="", help="result file suffix")
    m = sub.add_parser("migration")
    m.add_argument("--lock-timeout-ms", type=int, default=500)
    m.add_argument("--retries", type=int, default=10)
    m.add_argument("--blocker-seconds", type=float, default=5.0)
    m.add_argument("--readers", type=int, default=8)
    m.add_argument("--rows", type=int, default=20_000)
    f = sub.add_parser("faults")
    f.add_argument("--cycles", type=int, default=5)
    f.add_argument("--mode", choices=["stop", "freeze"], default="stop")
    f.add_argument("--down-seconds", type=float, default=8.0)
    f.add_argument("--up-seconds", type=float, default=3.0)
    f.add_argument("--connect-timeout", type=float, default=2.0)
    f.add_argument("--pool-timeout", type=float, default=2.0)
    args = parser.parse_args()
    scenario = {
        "durability": durability,
        "postmaster-kill": partial(durability, kill_postmaster=True),
        "load": load,
        "migration": migration,
        "faults": faults,
    }[args.scenario]
    common.log(f"{args.scenario}: {vars(args)}")
    # Read before the run: the result describes the code that ran, not a later HEAD.
    record = common.run_record(f"reliability-{args.scenario}", common.machine_info())
    started = time.monotonic()
    data = scenario(args)
    data.update(
        {
            **record,
            "loadavg_end": common.loadavg(),
            "wall_seconds": round(time.monotonic() - started, 1),
        }
    )
    tag = getattr(args, "tag", "")
    path = common.write_result(f"reliability-{args.scenario}{'-' + tag if tag else ''}", data)
    common.log(f"wrote {path}")
    print(data)


if __name__ == "__main__":
    main()
