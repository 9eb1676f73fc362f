"""What-if: the two slow retrieval queries, as shipped and with the recommended schema
changes, on the same rows (SQL only, no product code changed; run on a throwaway DB).

    .venv/bin/python bench/whatif.py [--total 20000] [--queries 20]

``baseline``: the migrated schema as is. ``variant``: the same, plus
``ALTER COLUMN embedding SET STORAGE PLAIN`` (vectors kept inline, not TOASTed) and a
stored ``content_tsv`` generated column, both applied before the load.
``variant_inline``: ``variant`` plus ``toast_tuple_target = 4080`` (the tsvector and the
content stay in the heap row too). Reports the
median/p95 ``EXPLAIN ANALYZE`` execution time of each query over distinct task texts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common, retrieval, workload

NEAREST = retrieval.EXPLAIN_SQL["nearest (semantic, limit 100)"]
TEXT = retrieval.EXPLAIN_SQL["text_matches (limit 50)"]
_TSQ = "CAST(replace(CAST(plainto_tsquery('english'::regconfig, $3) AS TEXT), '&', '|') AS TSQUERY)"
TEXT_STORED = f"""
    SELECT id FROM memories
    WHERE tenant_id = $1 AND subject_id = $2 AND status = 'active'
      AND (content_tsv @@ {_TSQ} OR lower(content) LIKE '%' || lower($3) || '%')
    ORDER BY ts_rank_cd(content_tsv, {_TSQ}) DESC, created_at DESC, id LIMIT 50"""
TEXT_STORED_NO_SUBSTRING = f"""
    SELECT id FROM memories
    WHERE tenant_id = $1 AND subject_id = $2 AND status = 'active' AND content_tsv @@ {_TSQ}
    ORDER BY ts_rank_cd(content_tsv, {_TSQ}) DESC, created_at DESC, id LIMIT 50"""
NEAREST_NO_EMBEDDING_FETCH = NEAREST  # already selects id + distance only


async def timings(dsn: str, queries: dict[str, str], tasks: list[str], vectors: np.ndarray) -> Any:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    result: dict[str, Any] = {}
    try:
        for name, sql in queries.items():
            times = []
            buffers = ""
            for i, task in enumerate(tasks):
                arg = retrieval.vector_text(vectors[i]) if "<=>" in sql else task
                rows = await connection.fetch(
                    "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, "", retrieval.SUBJECT, arg
                )
                plan = json.loads(rows[0][0])[0]
                if i > 0:  # the first run warms the cache
                    times.append(plan["Execution Time"])
                    buffers = str(plan["Plan"].get("Shared Hit Blocks", ""))
            result[name] = {
                "median_ms": round(float(np.median(times)), 1),
                "p95_ms": round(common.percentile(times, 95), 1),
                "shared_hit_blocks": buffers,
            }
        result["storage"] = dict(
            await connection.fetchrow(
                "SELECT avg(pg_column_size(embedding))::int AS embedding_bytes,"
                " pg_size_pretty(pg_relation_size('memories')) AS heap,"
                " pg_size_pretty(pg_total_relation_size(reltoastrelid)) AS toast"
                " FROM memories, pg_class WHERE pg_class.relname = 'memories' "
                " GROUP BY reltoastrelid"
            )
        )
    finally:
        await connection.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--embeddings-cache", type=Path)
    args = parser.parse_args()
    rows, vectors = retrieval.bench_rows(seed=7, cache=args.embeddings_cache)
    rng = random.Random(3)
    tasks = [workload.task_text(rng, i) for i in range(args.queries + 1)]
    query_vectors = vectors[rng.sample(range(len(vectors)), args.queries + 1)]
    out: dict[str, Any] = {"command": common.command_line(), "machine": common.machine_info()}
    with common.embedded_postgres() as pg:
        for label in ("baseline", "variant", "variant_inline"):
            name = f"whatif_{label}"
            url = pg.create_database(name)
            common.migrate(url)
            queries = {"nearest": NEAREST, "text_matches": TEXT}
            if label == "variant_inline":
                # as "variant", and rows up to 4 KB stay whole in the heap (no TOAST at all
                # for a 384-dim vector + text + tsvector)
                pg.psql("ALTER TABLE memories SET (toast_tuple_target = 4080);", name)
            if label.startswith("variant"):
                pg.psql(
                    "ALTER TABLE memories ALTER COLUMN embedding SET STORAGE PLAIN;"
                    "ALTER TABLE memories ADD COLUMN content_tsv tsvector GENERATED ALWAYS AS"
                    " (to_tsvector('english'::regconfig, content)) STORED;",
                    name,
                )
                queries.update(
                    text_matches_stored_tsv=TEXT_STORED,
                    text_matches_stored_tsv_no_substring=TEXT_STORED_NO_SUBSTRING,
                )
            asyncio.run(retrieval.load_database(pg.dsn(name), args.total, rows, vectors, 11))
            load = common.loadavg()
            out[label] = asyncio.run(timings(pg.dsn(name), queries, tasks, query_vectors))
            out[label]["load"] = load
            common.log(f"{label}: {out[label]}")
    common.write_result("whatif", out)


if __name__ == "__main__":
    main()
