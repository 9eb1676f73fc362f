"""Freshness under sustained ingest: acknowledgement → memory visible through another process.

    .venv/bin/python bench/freshness.py [--seconds 60] [--load 0.3]

Two real server processes share one embedded PostgreSQL: A takes the writes and runs the
durable worker in-process; B only reads. The model alone is timed first on the workload's
texts (texts/s, the project's batching); ingest then runs at ``--load`` × that rate for
``--seconds``: every second one batch spread over the subjects, then one async compile
request per subject ("the client asks once per batch"). One episode per batch carries a
unique marker; a prober asks B, without waiting for anything else, for that marker's memory
through semantic search (compiled memories only) and for the marker in the
``/v1/context`` text the agent reads, until each has it. Reported: p50/p95/max of
acknowledgement → visible (each path), the uncompiled backlog every second until it drains,
and a plot of that curve (``bench/results/freshness.svg``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common, workload
from bench.compile import raw_model_rate
from statewave_server.services.compiler.drafts import episode_text

PROBE_INTERVAL_S = 0.05
PROBE_GIVE_UP_S = 60.0
DRAIN_LIMIT_S = 300.0
SUBJECTS = [f"fresh-{i}" for i in range(20)]


@dataclass
class Probe:
    marker: str
    subject_id: str
    acknowledged: float
    search_s: float | None = None
    context_s: float | None = None


@dataclass
class Run:
    probes: list[Probe] = field(default_factory=list)
    backlog: list[tuple[float, int]] = field(default_factory=list)
    sent: int = 0


async def produce(
    writer: httpx.AsyncClient, reader: httpx.AsyncClient, run: Run, rate: float, seconds: float
) -> None:
    """One batch per second at ``rate`` episodes/s, an async compile per subject, one probe."""
    rng = random.Random(7)
    probers: list[asyncio.Task[None]] = []
    began = time.perf_counter()
    for second in range(int(seconds)):
        count = max(1, round(rate))
        batch = [
            workload.episode(rng, SUBJECTS[i % len(SUBJECTS)], f"s{second}", stable_profile=True)
            for i in range(count)
        ]
        marker = f"zqx{second:04d}marker"
        batch[0]["payload"]["messages"][0]["content"] += f" Reference {marker}."
        for start in range(0, len(batch), 100):
            response = await writer.post(
                "/v1/episodes/batch", json={"episodes": batch[start : start + 100]}
            )
            response.raise_for_status()
        probe = Probe(marker, batch[0]["subject_id"], time.perf_counter())
        run.probes.append(probe)
        run.sent += len(batch)
        for subject in sorted({e["subject_id"] for e in batch}):
            response = await writer.post(
                "/v1/memories/compile", json={"subject_id": subject, "async": True}
            )
            response.raise_for_status()
        probers.append(asyncio.create_task(watch(reader, probe)))
        await asyncio.sleep(max(0.0, began + second + 1 - time.perf_counter()))
    await asyncio.gather(*probers)


async def watch(reader: httpx.AsyncClient, probe: Probe) -> None:
    """Ask B until the marker's memory shows in semantic search and the marker's turn in
    the context text.

    Search answers from compiled memories only, so it times the compile path. The context
    text is what the agent reads; it shows relevant turns from the episodes themselves,
    so it can show a turn before its memories exist (that is the point of it).
    """
    while time.perf_counter() - probe.acknowledged < PROBE_GIVE_UP_S:
        if probe.search_s is None:
            response = await reader.get(
                "/v1/memories/search",
                params={"subject_id": probe.subject_id, "q": probe.marker, "semantic": "true"},
            )
            response.raise_for_status()
            if any(probe.marker in m["content"] for m in response.json()["memories"]):
                probe.search_s = time.perf_counter() - probe.acknowledged
        if probe.context_s is None:
            response = await reader.post(
                "/v1/context",
                json={
                    "subject_id": probe.subject_id,
                    "task": f"What was reference {probe.marker} about?",
                    "max_tokens": 1000,
                },
            )
            response.raise_for_status()
            if probe.marker in response.json()["assembled_context"]:
                probe.context_s = time.perf_counter() - probe.acknowledged
        if probe.search_s is not None and probe.context_s is not None:
            return
        await asyncio.sleep(PROBE_INTERVAL_S)


async def sample_backlog(pg: common.Postgres, run: Run, stop: asyncio.Event) -> None:
    began = time.perf_counter()
    while True:
        count = await asyncio.to_thread(
            pg.psql,
            "SELECT count(*) FROM episodes WHERE last_compiled_at IS NULL",
            "bench_freshness",
        )
        run.backlog.append((round(time.perf_counter() - began, 1), int(count)))
        if stop.is_set() and int(count) == 0:
            return
        if time.perf_counter() - began > DRAIN_LIMIT_S:
            return
        await asyncio.sleep(1.0)


async def drive(
    pg: common.Postgres, writer_url: str, reader_url: str, rate: float, seconds: float
) -> Run:
    run = Run()
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_backlog(pg, run, stop))
    async with (
        httpx.AsyncClient(base_url=writer_url, timeout=60) as writer,
        httpx.AsyncClient(base_url=reader_url, timeout=60) as reader,
    ):
        await produce(writer, reader, run, rate, seconds)
    stop.set()
    await sampler
    return run


def summary(values: list[float | None]) -> dict[str, Any]:
    seen = [v for v in values if v is not None]
    if not seen:
        return {"n": 0, "missed": len(values)}
    return {
        "n": len(seen),
        "missed": len(values) - len(seen),
        "p50_s": round(common.percentile(seen, 50), 3),
        "p95_s": round(common.percentile(seen, 95), 3),
        "max_s": round(max(seen), 3),
    }


def plot(backlog: list[tuple[float, int]], ingest_seconds: float, path: Path) -> None:
    """A plain SVG line chart of the uncompiled backlog over time (no plotting library)."""
    width, height, pad = 640, 300, 40
    last_t = max(t for t, _ in backlog) or 1.0
    top = max(max(n for _, n in backlog), 1)

    def x(t: float) -> float:
        return pad + (width - 2 * pad) * t / last_t

    def y(n: int) -> float:
        return height - pad - (height - 2 * pad) * n / top

    points = " ".join(f"{x(t):.1f},{y(n):.1f}" for t, n in backlog)
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">\n'
        f'<rect width="{width}" height="{height}" fill="white"/>\n'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'stroke="black"/>\n'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="black"/>\n'
        f'<line x1="{x(ingest_seconds):.1f}" y1="{pad}" x2="{x(ingest_seconds):.1f}" '
        f'y2="{height - pad}" stroke="grey" stroke-dasharray="4"/>\n'
        f'<polyline points="{points}" fill="none" stroke="#1f5fbf" stroke-width="2"/>\n'
        f'<text x="{pad}" y="{pad - 10}">uncompiled episodes (max {top}) over {last_t:.0f} s; '
        f"ingest stops at {ingest_seconds:.0f} s</text>\n"
        "</svg>\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--load", type=float, default=0.3, help="share of the model's rate")
    args = parser.parse_args()

    machine = common.machine_info()
    sample = [
        workload.episode(random.Random(3), s, "warm", stable_profile=True) for s in SUBJECTS * 50
    ]
    texts = [episode_text(e["payload"]) for e in sample]
    raw_load = common.loadavg()
    raw = raw_model_rate(texts)
    rate = args.load * raw
    common.log(f"model alone {raw:.1f} texts/s; ingest at {rate:.1f} episodes/s")
    with common.embedded_postgres() as pg:
        url = pg.create_database("bench_freshness")
        common.migrate(url)
        writer_log = common.bench_log_path("freshness-writer")
        reader_log = common.bench_log_path("freshness-reader")
        with (
            common.running_server(
                url, writer_log, STATEWAVE_RUN_WORKER_IN_PROCESS="true"
            ) as writer,
            common.running_server(url, reader_log) as reader,
        ):
            load_before = common.loadavg()
            run = asyncio.run(drive(pg, writer.base_url, reader.base_url, rate, args.seconds))
            load_after = common.loadavg()
    svg = common.RESULTS_JSON_DIR / "freshness.svg"
    plot(run.backlog, args.seconds, svg)
    drained = run.backlog[-1][1] == 0
    result = common.run_record(
        "freshness",
        machine,
        model_alone_texts_per_s=round(raw, 1),
        model_alone_load=raw_load,
        ingest_episodes_per_s=round(rate, 1),
        ingest_seconds=args.seconds,
        episodes_sent=run.sent,
        load_before=load_before,
        load_after=load_after,
        visible_in_search=summary([p.search_s for p in run.probes]),
        visible_in_context=summary([p.context_s for p in run.probes]),
        backlog_max=max(n for _, n in run.backlog),
        backlog_drained=drained,
        drained_at_s=run.backlog[-1][0] if drained else None,
        backlog=run.backlog,
        plot=str(svg.relative_to(common.REPO_ROOT)),
    )
    common.write_result("freshness", result)
    common.log(json.dumps({k: v for k, v in result.items() if k != "backlog"}, indent=2))


if __name__ == "__main__":
    main()
