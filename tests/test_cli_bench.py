"""``statewave bench`` as a real process against a real server subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from devtools.postgres import REPO_ROOT
from devtools.server import clean_env, free_port, running_server, uvicorn_command

pytestmark = pytest.mark.slow


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "statewave_server", "bench", *args],
        cwd=REPO_ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )


def _subject_total(base_url: str) -> int:
    response = httpx.get(f"{base_url}/v1/subjects", params={"limit": 200}, timeout=30)
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


def test_bench_reports_positive_numbers_and_cleans_up(db_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(
        STATEWAVE_DATABASE_URL=db_url,
        STATEWAVE_RUN_WORKER_IN_PROCESS="false",
        STATEWAVE_EMBEDDING_PROVIDER="hash",
    )
    with running_server(uvicorn_command(port), env, tmp_path / "server.log", port) as server:
        before = _subject_total(server.base_url)
        done = _bench(
            "--url",
            server.base_url,
            "--episodes",
            "300",
            "--subjects",
            "3",
            "--queries",
            "20",
            "--json",
        )
        assert done.returncode == 0, (done.stdout, done.stderr, server.logs()[-3000:])
        report = json.loads(done.stdout)
        assert report["errors"] == 0 and report["error_samples"] == []
        assert report["subjects"] == 3 and report["subjects_deleted"] == 3
        assert report["ingest"]["episodes"] == 300
        assert report["ingest"]["episodes_per_second"] > 0
        assert report["compile"]["subjects"] == 3
        assert report["compile"]["episodes_per_second"] > 0
        assert report["compile"]["memories_created"] > 0
        for key in ("context_ms", "search_ms"):
            stats = report[key]
            assert stats["count"] == 20
            assert 0 < stats["p50"] <= stats["p95"] <= stats["p99"]
        assert _subject_total(server.base_url) == before
        listed = httpx.get(f"{server.base_url}/v1/subjects", params={"limit": 200}).json()
        assert not [s for s in listed["subjects"] if s["subject_id"].startswith("bench-")]


def test_bench_against_a_closed_port_fails_with_one_line() -> None:
    done = _bench("--url", f"http://127.0.0.1:{free_port()}", "--json")
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "connection refused" in lines[0]
