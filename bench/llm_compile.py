"""How busy the LLM compiler keeps its provider: a local fake model with a fixed latency.

    .venv/bin/python bench/llm_compile.py [--latency 0.5] [--concurrency 4] [--subjects 24]

A real OpenAI-compatible HTTP server on loopback (``devtools/openai_server.py``)
answers every chat call after ``--latency`` seconds with one memory per episode of the
batch. The real Statewave server (``STATEWAVE_COMPILER_TYPE=llm``,
``STATEWAVE_LLM_MAX_CONCURRENCY=--concurrency``; hash embeddings by default so the LLM
pipeline, not the local model, is what is measured) drains the subjects through synchronous
compiles from several clients. Busy share = calls × latency ÷ (concurrency × drain time):
1.0 means a call was in flight in every slot for the whole drain.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common
from bench.compile import compile_all, episodes_for, ingest
from devtools.openai_server import RecordedRequest, Reply, running_openai_server

_EPISODE = re.compile(r"^--- Episode (\d+) ---$", re.MULTILINE)


class FixedLatencyModel:
    """Answers after ``latency`` seconds with an episode summary per episode; counts calls."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.calls += 1
        parts = _EPISODE.split(request.user_content)[1:]  # index, text, index, text, …
        memories = [
            {
                "kind": "episode_summary",
                "content": f"Summary: {' '.join(text.split())[:120]}",
                "summary": "A support exchange.",
                "confidence": 0.8,
                "episode_index": int(index),
            }
            for index, text in zip(parts[::2], parts[1::2], strict=True)
        ]
        return Reply.chat_json({"memories": memories}, delay=self.latency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--subjects", type=int, default=24)
    parser.add_argument("--episodes-per-subject", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--embedding",
        choices=["hash", "local"],
        default="hash",
        help="hash isolates the LLM pipeline; local adds the model (then it is the ceiling)",
    )
    args = parser.parse_args()

    machine = common.machine_info()
    subjects = [f"cust-{i}" for i in range(args.subjects)]
    model = FixedLatencyModel(args.latency)
    with running_openai_server() as fake, common.embedded_postgres() as pg:
        fake.responder = model
        url = pg.create_database("bench_llm_compile")
        common.migrate(url)
        settings = {
            "STATEWAVE_COMPILER_TYPE": "llm",
            "STATEWAVE_LITELLM_MODEL": "openai/fake-model",
            "STATEWAVE_LITELLM_API_BASE": fake.base_url,
            "STATEWAVE_LITELLM_API_KEY": "sk-bench",
            "STATEWAVE_LITELLM_MAX_RETRIES": "0",
            "STATEWAVE_LLM_MAX_CONCURRENCY": str(args.concurrency),
            "STATEWAVE_EMBEDDING_PROVIDER": args.embedding,
        }
        with common.running_server(url, common.bench_log_path("llm"), **settings) as server:
            asyncio.run(ingest(server.base_url, episodes_for(["warm-0"], 10, seed=1)))
            asyncio.run(compile_all(server.base_url, ["warm-0"], 1))
            episodes = episodes_for(subjects, args.episodes_per_subject, seed=2)
            asyncio.run(ingest(server.base_url, episodes))
            calls_before = model.calls
            load_before = common.loadavg()
            memories, seconds = asyncio.run(compile_all(server.base_url, subjects, args.clients))
            load_after = common.loadavg()
            calls = model.calls - calls_before
    busy = calls * args.latency / (args.concurrency * seconds)
    result = common.run_record(
        "llm_compile",
        machine,
        latency_s=args.latency,
        concurrency=args.concurrency,
        embedding=args.embedding,
        clients=args.clients,
        episodes=len(episodes),
        memories=memories,
        calls=calls,
        seconds=round(seconds, 2),
        episodes_per_s=round(len(episodes) / seconds, 1),
        provider_busy_share=round(busy, 3),
        load_before=load_before,
        load_after=load_after,
    )
    common.write_result("llm_compile", result)
    common.log(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
