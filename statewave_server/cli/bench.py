"""Body of ``statewave bench``: a load probe against a running Statewave server.

It ingests synthetic support conversations through ``POST /v1/episodes/batch``, compiles
every bench subject (``POST /v1/memories/compile``, synchronous), then times
``POST /v1/context`` and ``GET /v1/memories/search?semantic=true``. Subjects are named
``bench-<8 hex>-<i>`` (unique per run) and deleted at the end unless ``keep`` is set.

Exit codes: 0 every request succeeded; 1 a request failed or the server is unreachable.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from statewave_server.cli.remote import reason

DEFAULT_URL = "http://localhost:8100"
BATCH_SIZE = 100  # the API's maximum episodes per batch request
MESSAGES_PER_SESSION = 4
MAX_ERROR_SAMPLES = 5

T = TypeVar("T")

_CUSTOMERS = ("Dana", "Priya", "Marcus", "Lena", "Tomás", "Aiko", "Omar", "Grace")
_COMPANIES = ("Northwind Traders", "Globex", "Initech", "Umbrella Labs", "Hooli", "Vandelay")
_PLANS = ("Starter", "Team", "Business", "Enterprise")
_ISSUES = (
    "the CSV export keeps failing",
    "single sign-on stopped working after the last update",
    "invoices show the wrong billing address",
    "the mobile app crashes when uploading photos",
    "webhooks arrive twice for every order",
    "search results are missing last week's tickets",
    "two-factor codes are not being delivered",
    "the dashboard takes a minute to load",
)
_REPLIES = (
    "Thanks for the details, I'm checking the logs for your account now.",
    "Sorry about that! Could you tell me when this started?",
    "I've escalated this to our engineering team and will follow up today.",
    "A fix is rolling out; please try again in a few minutes.",
)
_TASKS = (
    "Summarize this customer's open issues",
    "What plan is the customer on and what is broken?",
    "Draft a reply about the latest problem",
    "Who is this customer and which company do they work for?",
)
_QUERIES = ("export failing", "billing address", "sign-on problem", "customer plan", "app crash")


@dataclass(frozen=True, slots=True)
class BenchConfig:
    url: str = DEFAULT_URL
    api_key: str | None = None
    tenant: str | None = None
    episodes: int = 2000
    subjects: int = 20
    queries: int = 100
    concurrency: int = 4
    keep: bool = False
    timeout: float = 300.0


@dataclass(slots=True)
class Latencies:
    """Wall-clock milliseconds of the successful calls of one kind."""

    samples: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float | int | None]:
        return {
            "count": len(self.samples),
            "p50": percentile(self.samples, 50),
            "p95": percentile(self.samples, 95),
            "p99": percentile(self.samples, 99),
        }


@dataclass(slots=True)
class BenchReport:
    url: str
    run_id: str
    subjects: list[str]
    queries: int
    concurrency: int
    episodes_ingested: int = 0
    ingest_seconds: float = 0.0
    subjects_compiled: int = 0
    memories_created: int = 0
    compile_seconds: float = 0.0
    context: Latencies = field(default_factory=Latencies)
    search: Latencies = field(default_factory=Latencies)
    subjects_deleted: int = 0
    kept: bool = False
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def fail(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(what)

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "run_id": self.run_id,
            "subjects": len(self.subjects),
            "concurrency": self.concurrency,
            "ingest": {
                "episodes": self.episodes_ingested,
                "seconds": round(self.ingest_seconds, 4),
                "episodes_per_second": _rate(self.episodes_ingested, self.ingest_seconds),
            },
            "compile": {
                "subjects": self.subjects_compiled,
                "episodes": self.episodes_ingested,
                "memories_created": self.memories_created,
                "seconds": round(self.compile_seconds, 4),
                "episodes_per_second": _rate(self.episodes_ingested, self.compile_seconds),
            },
            "context_ms": self.context.summary(),
            "search_ms": self.search.summary(),
            "queries": self.queries,
            "subjects_deleted": self.subjects_deleted,
            "kept": self.kept,
            "errors": self.errors,
            "error_samples": self.error_samples,
        }


class Unreachable(Exception):
    """The server cannot be used at all (connection refused, bad URL, auth rejected)."""


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (``None`` without samples), rounded to 0.01 ms."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return round(ordered[min(rank, len(ordered)) - 1], 2)


def _rate(count: int, seconds: float) -> float | None:
    return round(count / seconds, 2) if count and seconds > 0 else None


def subject_ids(run_id: str, count: int) -> list[str]:
    return [f"bench-{run_id}-{i}" for i in range(count)]


def synthetic_episodes(subjects: Sequence[str], total: int) -> list[dict[str, Any]]:
    """``total`` support messages spread evenly over ``subjects``, each subject's messages
    contiguous, alternating customer and agent in sessions of four."""
    per_subject = [
        total // len(subjects) + (i < total % len(subjects)) for i in range(len(subjects))
    ]
    episodes: list[dict[str, Any]] = []
    for s, (subject, count) in enumerate(zip(subjects, per_subject, strict=True)):
        name = _CUSTOMERS[s % len(_CUSTOMERS)]
        company = _COMPANIES[s % len(_COMPANIES)]
        plan = _PLANS[s % len(_PLANS)]
        for n in range(count):
            session = n // MESSAGES_PER_SESSION
            customer = n % 2 == 0
            issue = _ISSUES[(s + session) % len(_ISSUES)]
            if not customer:
                text = _REPLIES[(n // 2) % len(_REPLIES)]
            elif n % MESSAGES_PER_SESSION == 0:
                text = f"Hi, I'm {name} from {company} on the {plan} plan, and {issue}."
            else:
                text = f"Still seeing it: {issue}. This blocks our team (ticket #{session}-{n})."
            role = "user" if customer else "assistant"
            episodes.append(
                {
                    "subject_id": subject,
                    "source": role,
                    "type": "message",
                    "payload": {"messages": [{"role": role, "content": text}]},
                    "session_id": f"{subject}-s{session}",
                }
            )
    return episodes


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _pool(jobs: Sequence[Callable[[], Awaitable[None]]], concurrency: int) -> None:
    """Run ``jobs`` with at most ``concurrency`` in flight."""
    queue: asyncio.Queue[Callable[[], Awaitable[None]]] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def worker() -> None:
        while True:
            try:
                job = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await job()

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(jobs)) or 1)))


class _Runner:
    """One bench run: the HTTP client, the report and the progress display."""

    def __init__(self, config: BenchConfig, client: httpx.AsyncClient, progress: Progress) -> None:
        self.config = config
        self.client = client
        self.progress = progress
        run_id = secrets.token_hex(4)
        count = max(1, min(config.subjects, config.episodes))
        self.report = BenchReport(
            url=config.url,
            run_id=run_id,
            subjects=subject_ids(run_id, count),
            queries=config.queries,
            concurrency=config.concurrency,
            kept=config.keep,
        )

    async def call(
        self, what: str, method: str, path: str, *, ok: Sequence[int] = (200, 201), **kw: Any
    ) -> httpx.Response | None:
        """One request; a transport error or an unexpected status counts as an error."""
        try:
            response = await self.client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            self.report.fail(f"{what}: {type(exc).__name__}: {exc}"[:300])
            return None
        if response.status_code not in ok:
            self.report.fail(f"{what}: HTTP {response.status_code} {response.text[:200]}")
            return None
        return response

    @contextmanager
    def phase(self, label: str, total: int) -> Iterator[TaskID]:
        task = self.progress.add_task(label, total=total)
        try:
            yield task
        finally:
            self.progress.stop_task(task)

    async def ingest(self) -> None:
        batches = list(
            _chunks(synthetic_episodes(self.report.subjects, self.config.episodes), BATCH_SIZE)
        )
        with self.phase("Ingest episodes", self.config.episodes) as task:

            def job(batch: Sequence[dict[str, Any]]) -> Callable[[], Awaitable[None]]:
                async def run() -> None:
                    body = {"episodes": list(batch)}
                    response = await self.call("ingest", "POST", "/v1/episodes/batch", json=body)
                    if response is not None:
                        self.report.episodes_ingested += int(response.json()["episodes_created"])
                    self.progress.advance(task, len(batch))

                return run

            started = time.perf_counter()
            await _pool([job(b) for b in batches], self.config.concurrency)
            self.report.ingest_seconds = time.perf_counter() - started

    async def compile(self) -> None:
        with self.phase("Compile subjects", len(self.report.subjects)) as task:

            def job(subject: str) -> Callable[[], Awaitable[None]]:
                async def run() -> None:
                    body = {"subject_id": subject}
                    response = await self.call("compile", "POST", "/v1/memories/compile", json=body)
                    if response is not None:
                        self.report.subjects_compiled += 1
                        self.report.memories_created += int(response.json()["memories_created"])
                    self.progress.advance(task)

                return run

            started = time.perf_counter()
            await _pool([job(s) for s in self.report.subjects], self.config.concurrency)
            self.report.compile_seconds = time.perf_counter() - started

    async def timed(
        self, label: str, into: Latencies, request: Callable[[int], Awaitable[bool]]
    ) -> None:
        with self.phase(label, self.config.queries) as task:

            def job(i: int) -> Callable[[], Awaitable[None]]:
                async def run() -> None:
                    started = time.perf_counter()
                    if await request(i):
                        into.samples.append((time.perf_counter() - started) * 1000)
                    self.progress.advance(task)

                return run

            await _pool([job(i) for i in range(self.config.queries)], self.config.concurrency)

    def _subject(self, i: int) -> str:
        return self.report.subjects[i % len(self.report.subjects)]

    async def context_call(self, i: int) -> bool:
        body = {"subject_id": self._subject(i), "task": _TASKS[i % len(_TASKS)]}
        return await self.call("context", "POST", "/v1/context", json=body) is not None

    async def search_call(self, i: int) -> bool:
        params = {
            "subject_id": self._subject(i),
            "q": _QUERIES[i % len(_QUERIES)],
            "semantic": "true",
            "limit": 10,
        }
        found = await self.call("search", "GET", "/v1/memories/search", params=params)
        return found is not None

    async def cleanup(self) -> None:
        with self.phase("Delete subjects", len(self.report.subjects)) as task:

            def job(subject: str) -> Callable[[], Awaitable[None]]:
                async def run() -> None:
                    # 404: nothing of this subject was stored (its ingest failed).
                    done = await self.call(
                        "delete", "DELETE", f"/v1/subjects/{subject}", ok=(200, 404)
                    )
                    if done is not None and done.status_code == 200:
                        self.report.subjects_deleted += 1
                    self.progress.advance(task)

                return run

            await _pool([job(s) for s in self.report.subjects], self.config.concurrency)

    async def run(self) -> BenchReport:
        try:
            await self.ingest()
            await self.compile()
            await self.timed("Context queries", self.report.context, self.context_call)
            await self.timed("Search queries", self.report.search, self.search_call)
        finally:
            if not self.config.keep:
                await self.cleanup()
        return self.report


def _headers(config: BenchConfig) -> dict[str, str]:
    headers = {"User-Agent": "statewave-bench"}
    if config.api_key:
        headers["X-API-Key"] = config.api_key
    if config.tenant:
        headers["X-Tenant-ID"] = config.tenant
    return headers


async def _check_server(client: httpx.AsyncClient, url: str, with_key: bool) -> None:
    """Fail fast, with one line, when the server cannot be used at all (``with_key``: an
    API key was sent, so a 401 means a wrong key rather than a missing one)."""
    try:
        health = await client.get("/healthz")
        if health.status_code != 200:
            raise Unreachable(f"{url}/healthz answered HTTP {health.status_code}")
        probe = await client.get("/v1/subjects", params={"limit": 1})
    except httpx.ConnectError as exc:
        raise Unreachable(f"cannot connect to {url}: {reason(exc)}") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise Unreachable(f"cannot reach {url}: {type(exc).__name__}: {reason(exc)}") from None
    if probe.status_code in (401, 403) and not with_key:
        raise Unreachable(
            f"{url} requires an API key (HTTP {probe.status_code}): "
            "pass --api-key or set STATEWAVE_API_KEY"
        )
    if probe.status_code in (401, 403):
        raise Unreachable(f"{url} rejected the API key (HTTP {probe.status_code})")
    if probe.status_code != 200:
        raise Unreachable(f"{url}/v1/subjects answered HTTP {probe.status_code}")


async def run_bench(config: BenchConfig, progress: Progress) -> BenchReport:
    """The whole run; raises :class:`Unreachable` when the server cannot be used."""
    timeout = httpx.Timeout(config.timeout, connect=10.0)
    limits = httpx.Limits(max_connections=config.concurrency * 2)
    async with httpx.AsyncClient(
        base_url=config.url, headers=_headers(config), timeout=timeout, limits=limits
    ) as client:
        await _check_server(client, config.url, with_key=bool(config.api_key))
        return await _Runner(config, client, progress).run()


def render_table(report: BenchReport) -> Table:
    data = report.as_dict()
    table = Table(title=f"statewave bench {report.run_id} @ {report.url}")
    for column in ("Phase", "Count", "Seconds", "Episodes/s", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(column, justify="left" if column == "Phase" else "right")

    def fmt(value: Any) -> str:
        return "-" if value is None else f"{value:,}" if isinstance(value, int) else f"{value:.2f}"

    for name, key in (("Ingest (episodes)", "ingest"), ("Compile (subjects)", "compile")):
        phase = data[key]
        count = phase["episodes"] if key == "ingest" else phase["subjects"]
        table.add_row(
            name, fmt(count), fmt(phase["seconds"]), fmt(phase["episodes_per_second"]), "", "", ""
        )
    for name, key in (("Context (calls)", "context_ms"), ("Semantic search (calls)", "search_ms")):
        stats = data[key]
        table.add_row(
            name,
            fmt(stats["count"]),
            "",
            "",
            fmt(stats["p50"]),
            fmt(stats["p95"]),
            fmt(stats["p99"]),
        )
    return table


async def bench_command(config: BenchConfig, as_json: bool) -> int:
    """Run the bench and print the result: exit 0 when no request failed, 1 otherwise."""
    err = Console(stderr=True)
    config = replace(config, url=config.url.rstrip("/"))
    progress = Progress(
        TextColumn("[bold]{task.description}[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=as_json,
    )
    try:
        with progress:
            report = await run_bench(config, progress)
    except Unreachable as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        return 1
    if as_json:
        sys.stdout.write(json.dumps(report.as_dict()) + "\n")
    else:
        out = Console()
        out.print(render_table(report))
        colour = "green" if report.errors == 0 else "red"
        out.print(f"[{colour}]Errors: {report.errors}[/{colour}]")
        for sample in report.error_samples:
            out.print(f"  {sample}", highlight=False, markup=False)
        if report.kept:
            out.print(f"Kept subjects bench-{report.run_id}-0..{len(report.subjects) - 1}.")
    return 0 if report.errors == 0 else 1
