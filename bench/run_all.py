"""Run every benchmark (each on its own embedded PostgreSQL and real server), then write
bench/RESULTS.md's generated section from bench/results/*.json.

    .venv/bin/python bench/run_all.py            # ingest, compile, retrieval, what-if
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
    ["bench/retrieval.py", "--profile-seconds", "20"],
    ["bench/whatif.py"],
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
            f"`{ingest['command']}` — load {ingest['load_before']} → {ingest['load_after']}",
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
            f"`{comp['command']}` — the model alone on {comp['raw_model_texts']} of the "
            "same texts, right before and after each drain",
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
        lines += ["## Retrieval", "", f"`{ret['command']}`", ""]
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
    whatif = _load("whatif")
    if whatif:
        lines += ["## What-if (EXPLAIN ANALYZE execution time)", "", "```"]
        lines.append(json.dumps({k: v for k, v in whatif.items() if k != "machine"}, indent=2))
        lines += ["```", ""]
    return "\n".join(lines)


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
