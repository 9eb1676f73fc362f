"""Console page render time for one large subject (the on-call operator's worst page).

    .venv/bin/python bench/console.py [--episodes 400] [--requests 60]

Ingests a support-like subject with N episodes over 40 sessions (employer/plan changes, so
supersessions happen), compiles it, then times GET requests of its console pages, one at a
time over loopback: the subject page (what we know, health, SLA, first memory and timeline
pages), a later page of each, a filtered and a searched memory table, a memory page, and
the page with a context preview (which runs the whole /v1/context assembly), the dashboard
(its 24 h sparklines are reused for a minute, so most requests are cache hits) and a
search that finds nothing (every search query runs). p50/p95 per page, server time
included (this is what the browser waits for).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common, workload

SUBJECT = "acct-bigco"


def ingest(base_url: str, episodes: int) -> None:
    rng = random.Random(7)
    rows = [
        workload.episode(rng, SUBJECT, f"{SUBJECT}-s{i % 40}", stable_profile=False)
        for i in range(episodes)
    ]
    with httpx.Client(base_url=base_url, timeout=600) as client:
        for start in range(0, len(rows), 100):
            client.post(
                "/v1/episodes/batch", json={"episodes": rows[start : start + 100]}
            ).raise_for_status()
        client.post("/v1/memories/compile", json={"subject_id": SUBJECT}).raise_for_status()


def time_page(client: httpx.Client, url: str, requests: int) -> dict[str, float]:
    client.get(url).raise_for_status()  # warm (index and caches), not timed
    samples = []
    size = 0
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)
        samples.append(time.perf_counter() - started)
        response.raise_for_status()
        size = len(response.content)
    return {
        "p50_ms": round(common.percentile(samples, 50) * 1000, 1),
        "p95_ms": round(common.percentile(samples, 95) * 1000, 1),
        "html_kb": round(size / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=400)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    machine = common.machine_info()
    common.log(f"machine {machine}")
    with common.embedded_postgres() as pg:
        url = pg.create_database("bench_console")
        common.migrate(url)
        with common.running_server(url, common.bench_log_path("console")) as server:
            common.log(f"ingesting and compiling {args.episodes} episodes")
            ingest(server.base_url, args.episodes)
            base = f"/console/subjects/{SUBJECT}"
            with httpx.Client(base_url=server.base_url, timeout=120) as client:
                first = client.get(base).text
                memory = re.search(r'class="memory-link" href="([^"]+)"', first)
                assert memory is not None
                pages = {
                    "subject": base,
                    "subject_memories_page_3": f"{base}?m_offset=100",
                    "subject_timeline_page_5": f"{base}?t_offset=200",
                    "subject_profile_facts": f"{base}?m_kind=profile_fact&m_status=superseded",
                    "subject_memory_search": f"{base}?m_q=Initech",
                    "memory": memory.group(1).replace("&amp;", "&"),
                    "subject_with_context_preview": f"{base}?task=What+plan+are+they+on",
                    "dashboard": "/console",
                    "search_nothing_found": "/console/search?q=no-such-subject",
                }
                load_before = common.loadavg()
                common.log("timing pages")
                timings = {
                    name: time_page(client, page, args.requests) for name, page in pages.items()
                }
                load_after = common.loadavg()
        counts = pg.psql(
            f"SELECT (SELECT count(*) FROM episodes WHERE subject_id = '{SUBJECT}'), "
            f"(SELECT count(*) FROM memories WHERE subject_id = '{SUBJECT}')",
            "bench_console",
        )
    episodes, memories = (int(x) for x in counts.split("|"))
    result = common.run_record(
        "console",
        machine,
        server_command=" ".join(server.command[1:]),
        load_before=load_before,
        load_after=load_after,
        episodes=episodes,
        memories=memories,
        requests_per_page=args.requests,
        pages=timings,
    )
    common.write_result("console", result)
    common.log(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
