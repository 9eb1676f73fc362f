"""Run every benchmark (each on its own embedded PostgreSQL and real server), then write
bench/RESULTS.md's generated section from bench/results/*.json.

    .venv/bin/python bench/run_all.py            # every benchmark below, one after another
    .venv/bin/python bench/run_all.py --render   # only regenerate bench/results/SUMMARY.md

Benchmarks run one after another (never concurrently: they share two cores).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common

SCRIPTS = [
    ["bench/ingest.py"],
    ["bench/compile.py"],
    ["bench/freshness.py"],
    ["bench/llm_compile.py"],
    ["bench/workers.py"],
    ["bench/quality/locomo.py"],
    ["bench/quality/locomo.py", "--roles", "generic"],
    ["bench/retrieval.py", "--profile-seconds", "20"],
    ["bench/scaling.py"],
]


def _load(name: str) -> dict[str, Any] | None:
    path = common.RESULTS_JSON_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _met(flag: bool) -> str:
    return "**met**" if flag else "**MISSED**"


def render() -> str:
    lines = ["# Generated summary (bench/run_all.py --render)", ""]
    ingest = _load("ingest")
    if ingest:
        lines += [
            "## Ingest",
            "",
            f"`{ingest['command']}` — code `{ingest['code']['git_head']}`, load "
            f"{ingest['load_before']} → {ingest['load_after']}",
            "",
            "| episodes | clients | seconds | episodes/s | req p50 | req p95 | target |",
            "|---|---|---|---|---|---|---|",
            f"| {ingest['episodes']} | {ingest['clients']} | {ingest['seconds']} | "
            f"{ingest['episodes_per_s']} | {ingest['request_p50_ms']} ms | "
            f"{ingest['request_p95_ms']} ms | ≥ 3000/s {_met(ingest['met'])} |",
            "",
        ]
    comp = _load("compile")
    if comp:
        lines += [
            "## Compile (heuristic + local embeddings) against the model alone",
            "",
            f"`{comp['command']}` — code `{comp['code']['git_head']}`; the model alone on "
            f"{comp['raw_model_texts']} of the same texts, right before and after each drain",
            "",
            "| episodes | subjects | seconds | episodes/s | memories/s | texts embedded / "
            "episode | model alone texts/s | ratio | load |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {d['episodes']} | {d['subjects']} | {d['seconds']} | {d['episodes_per_s']} | "
            f"{d['memories_per_s']} | {d['texts_embedded_per_episode']} | "
            f"{d['raw_model_texts_per_s']} | {d['ratio_to_raw_model']} | "
            f"{d['load_before']} → {d['load_after']} |"
            for d in comp["drains"]
        ]
        lines.append("")
    ret = _load("retrieval")
    if ret:
        lines += ["## Retrieval", "", f"`{ret['command']}` — code `{ret['code']['git_head']}`", ""]
        lines += [
            "| table | endpoint | clients | n | p50 ms | p95 ms | p99 ms | req/s | load |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for table in ret["tables"].values():
            for key in ("context", "context_concurrent", "search", "search_concurrent"):
                if key not in table:
                    continue
                row = table[key]
                lines.append(
                    f"| {table['total_memories']:,} | {key.split('_')[0]} | "
                    f"{row.get('clients', 1)} | {row['n']} | {row['p50_ms']} | {row['p95_ms']} "
                    f"| {row['p99_ms']} | {row['req_per_s']} | {row['load']} |"
                )
        if "embed_query_alone" in ret:
            e = ret["embed_query_alone"]
            lines += [
                "",
                f"embed_query alone: p50 {e['p50_ms']} ms, p95 {e['p95_ms']} ms (load {e['load']})",
            ]
        if "targets" in ret:
            t = ret["targets"]
            lines += [
                "",
                f"context p95 ≤ 50 ms at 1M: {_met(t['context_met'])}; "
                f"search p95 ≤ 25 ms at 1M: {_met(t['search_met'])}",
            ]
        lines.append("")
    lines += _scaling() + _freshness() + _llm_compile() + _workers()
    lines += _locomo("locomo-speaker") + _locomo("locomo-generic")
    return "\n".join(lines)


def _header(data: dict[str, Any], title: str) -> list[str]:
    code = data.get("code", {})
    return [f"## {title}", "", f"`{data['command']}` — code `{code.get('git_head', '?')}`", ""]


def _scaling() -> list[str]:
    data = _load("scaling")
    if not data:
        return []
    lines = _header(data, "Scaling: the same subject in a 20k and a 1M table")
    lines += ["| endpoint | table | p50 ms | p95 ms | p99 ms | load |", "|---|---|---|---|---|---|"]
    for endpoint in ("context", "search"):
        for table in ("small", "large"):
            row = data[endpoint][table]
            lines.append(
                f"| {endpoint} | {data['load_' + table]['memories']:,} | {row['p50_ms']} | "
                f"{row['p95_ms']} | {row['p99_ms']} | {row['load']} |"
            )
    return [*lines, ""]


def _freshness() -> list[str]:
    data = _load("freshness")
    if not data:
        return []
    lines = _header(data, "Freshness: acknowledged on one process → visible on another")
    lines += [
        f"Model alone {data['model_alone_texts_per_s']} texts/s; ingest "
        f"{data['ingest_episodes_per_s']} episodes/s for {data['ingest_seconds']} s "
        f"({data['episodes_sent']} episodes); backlog max {data['backlog_max']}, drained: "
        f"{data['backlog_drained']} at {data['drained_at_s']} s; load "
        f"{data['load_before']} → {data['load_after']}; plot `{data['plot']}`.",
        "",
        "| path | n | missed | p50 s | p95 s | max s |",
        "|---|---|---|---|---|---|",
    ]
    for path in ("search", "context"):
        row = data[f"visible_in_{path}"]
        lines.append(
            f"| {path} | {row['n']} | {row['missed']} | {row.get('p50_s')} | "
            f"{row.get('p95_s')} | {row.get('max_s')} |"
        )
    return [*lines, ""]


def _llm_compile() -> list[str]:
    data = _load("llm_compile")
    if not data:
        return []
    lines = _header(data, "LLM compiler against a fixed-latency fake model")
    lines += [
        "| latency s | concurrency | clients | embedding | episodes | calls | seconds | "
        "episodes/s | provider busy | load |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {data['latency_s']} | {data['concurrency']} | {data['clients']} | "
        f"{data['embedding']} | {data['episodes']} | {data['calls']} | {data['seconds']} | "
        f"{data['episodes_per_s']} | {data['provider_busy_share']} | {data['load_after']} |",
    ]
    return [*lines, ""]


def _workers() -> list[str]:
    data = _load("workers")
    if not data:
        return []
    lines = _header(data, "Async compile drained by worker processes")
    lines += [
        "| workers | episodes | jobs | dead | each episode once | seconds | episodes/s | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['workers']} | {r['episodes']} | {r['jobs']} | {r['jobs_dead']} | "
        f"{r['each_episode_once']} | {r['seconds']} | {r['episodes_per_s']} | "
        f"{r['load_before']} → {r['load_after']} |"
        for r in data["runs"]
    ]
    return [*lines, ""]


def _locomo(name: str) -> list[str]:
    data = _load(name)
    if not data:
        return []
    lines = _header(data, f"LoCoMo, text in the budget ({data['roles']} roles)")
    budgets = sorted({int(key.split("|")[0]) for key in data["scores"]})
    methods = sorted({key.split("|")[1] for key in data["scores"]})
    lines += [
        "answer = every content word of the gold answer in `assembled_context`; shown = "
        "evidence turns with ≥ 80% of their word trigrams in it; ids = the old id-based "
        f"recall (side column). {data['questions']} questions, load {data['load']}.",
        "",
        "| method | "
        + " | ".join(f"answer @{b}" for b in budgets)
        + " | "
        + " | ".join(f"shown @{b}" for b in budgets)
        + " | "
        + " | ".join(f"ids @{b}" for b in budgets)
        + " |",
        "|---|" + "---|" * (3 * len(budgets)),
    ]
    for method in methods:
        cells = [
            f"{data['scores'][f'{b}|{method}|{metric}|overall']:.3f}"
            for metric in ("answer", "shown", "ids")
            for b in budgets
        ]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    latencies = [ms for values in data["latency_ms"].values() for ms in values]
    lines += [
        "",
        f"Statewave context latency (all budgets, n={len(latencies)}): "
        f"p50 {common.percentile(latencies, 50):.1f} ms, "
        f"p95 {common.percentile(latencies, 95):.1f} ms.",
    ]
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--render", action="store_true", help="only render the summary")
    args = parser.parse_args()
    if not args.render:
        for script in SCRIPTS:
            common.log(f"running {' '.join(script)}")
            subprocess.run([sys.executable, *script], cwd=common.REPO_ROOT, check=True)
    out = common.RESULTS_JSON_DIR / "SUMMARY.md"
    out.write_text(render())
    common.log(f"wrote {out}")


if __name__ == "__main__":
    main()
