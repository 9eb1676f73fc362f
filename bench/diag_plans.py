"""Custom vs generic plan of the search's full-text query (what the server really runs).

    .venv/bin/python bench/diag_plans.py [--total 20000]

SQLAlchemy's asyncpg dialect executes through named prepared statements that it caches
per connection, so after five executions PostgreSQL may switch to a *generic* plan, whose
row estimate for ``subject_id = $2`` is table rows / distinct subjects, not the bench
subject's 10,000. This prints ``EXPLAIN ANALYZE EXECUTE`` of the shipped ``text_matches``
SQL under ``plan_cache_mode = force_custom_plan`` and ``force_generic_plan``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common, retrieval, workload

TEXT = retrieval.EXPLAIN_SQL["text_matches (limit 50)"]


async def plans(dsn: str, tasks: list[str]) -> dict[str, Any]:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    out: dict[str, Any] = {}
    try:
        await connection.execute(f"PREPARE tm(text, text, text) AS {TEXT}")
        for mode in ("force_custom_plan", "force_generic_plan"):
            await connection.execute(f"SET plan_cache_mode = {mode}")
            times = []
            text = ""
            for task in tasks:
                literal = task.replace("'", "''")
                rows = await connection.fetch(
                    f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE tm('', '{retrieval.SUBJECT}', '{literal}')"
                )
                text = "\n".join(row[0] for row in rows)
                times.append(float(text.rsplit("Execution Time: ", 1)[1].split(" ")[0]))
            out[mode] = {
                "median_ms": sorted(times)[len(times) // 2],
                "load": common.loadavg(),
                "last_plan": text,
            }
    finally:
        await connection.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=10)
    parser.add_argument("--embeddings-cache", type=Path)
    args = parser.parse_args()
    rows, vectors = retrieval.bench_rows(seed=7, cache=args.embeddings_cache)
    rng = random.Random(8)
    tasks = [workload.task_text(rng, i) + " (search)" for i in range(args.queries)]
    with common.embedded_postgres() as pg:
        url = pg.create_database("diag")
        common.migrate(url)
        asyncio.run(retrieval.load_database(pg.dsn("diag"), args.total, rows, vectors, 11))
        result = asyncio.run(plans(pg.dsn("diag"), tasks))
    result["command"] = common.command_line()
    common.write_result("diag_plans", result)
    for mode in ("force_custom_plan", "force_generic_plan"):
        print(f"== {mode}: median {result[mode]['median_ms']} ms (load {result[mode]['load']})")
        print(result[mode]["last_plan"])


if __name__ == "__main__":
    main()
