"""Every ``--json`` command on the EMBEDDED database, as a real process: stdout is JSON only.

The embedded PostgreSQL logs when it starts; before the CLI sent logs to stderr, that line
led stdout, so scripts broke and ``statewave export S > file`` wrote a file ``import``
refused. ``XDG_RUNTIME_DIR`` is unset, as under cron, Docker or systemd.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.postgres import REPO_ROOT, server_data_dir

pytestmark = pytest.mark.slow

SUBJECT = "cli-stdout-subject"
JSON_COMMANDS = (
    ["preflight", "--embedded", "--json"],
    ["jobs", "list", "--json"],
    ["jobs", "rescue", "--json"],
    ["jobs", "retry", "--all-dead", "--json"],
    ["webhooks", "list", "--json"],
    ["webhooks", "redrive", "--all-dead", "--json"],
    ["jobs", "purge", "--older-than-hours", "24", "--dry-run", "--json"],
    ["webhooks", "purge", "--older-than-hours", "24", "--yes", "--json"],
    ["embeddings", "backfill", "--json"],
    ["subjects", "--json"],
    ["search", SUBJECT, "billing", "--json"],
    ["context", SUBJECT, "What did the customer ask about billing?", "--json"],
)


def statewave(
    data_dir: Path, *args: str, stdout: Any = subprocess.PIPE, columns: int = 80
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATEWAVE_")}
    env.pop("DATABASE_URL", None)
    env.pop("XDG_RUNTIME_DIR", None)
    env.update(
        STATEWAVE_DATA_DIR=str(data_dir),
        STATEWAVE_EMBEDDING_PROVIDER="hash",
        COLUMNS=str(columns),  # the width Rich lays tables out for
    )
    return subprocess.run(
        [sys.executable, "-m", "statewave_server", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    """An embedded database at head holding one subject (a starter pack, via the CLI)."""
    with server_data_dir() as base:
        data = base / "data"
        migrated = statewave(data, "migrate", "--embedded", "upgrade")
        assert migrated.returncode == 0, migrated.stderr
        imported = statewave(
            data, "packs", "import", "demo-support-agent", "--target-subject", SUBJECT, "--json"
        )
        assert imported.returncode == 0, imported.stderr
        assert json.loads(imported.stdout)["pack_id"] == "demo-support-agent"
        yield data


@pytest.mark.parametrize("command", JSON_COMMANDS, ids=" ".join)
def test_json_commands_print_only_json(data_dir: Path, command: list[str]) -> None:
    done = statewave(data_dir, *command)
    assert done.returncode == 0, done.stderr
    json.loads(done.stdout)  # the whole of stdout is one JSON document
    assert "embedded_postgres_ready" in done.stderr  # the log line went to stderr
    assert "RuntimeDirWarning" not in done.stderr


def test_packs_list_json_needs_no_database(data_dir: Path) -> None:
    done = statewave(data_dir, "packs", "list", "--json")
    assert done.returncode == 0, done.stderr
    assert "demo-support-agent" in {pack["pack_id"] for pack in json.loads(done.stdout)}


def test_export_redirected_to_a_file_imports_back(data_dir: Path, tmp_path: Path) -> None:
    backup = tmp_path / "subject.json"
    with backup.open("w") as out:
        exported = statewave(data_dir, "export", SUBJECT, stdout=out)
    assert exported.returncode == 0, exported.stderr
    document = json.loads(backup.read_text())
    assert document["counts"]["memories"] > 0
    restored = statewave(
        data_dir, "import", str(backup), "--target-subject", "cli-copy", "--remap-ids", "--json"
    )
    assert restored.returncode == 0, restored.stderr
    result = json.loads(restored.stdout)
    assert result["subject_id"] == "cli-copy"
    assert result["memories_imported"] == document["counts"]["memories"]


def test_version() -> None:
    done = statewave(Path("/nonexistent"), "--version")
    assert done.returncode == 0, done.stderr
    from statewave_server import __version__

    assert done.stdout.strip() == f"statewave {__version__}"


def _active_memory_ids(data_dir: Path) -> list[str]:
    exported = statewave(data_dir, "export", SUBJECT)
    assert exported.returncode == 0, exported.stderr
    memories = json.loads(exported.stdout)["memories"]
    return [m["id"] for m in memories if m["status"] == "active"]


def test_memories_retire_and_correct(data_dir: Path) -> None:
    first, second = _active_memory_ids(data_dir)[:2]
    retired = statewave(data_dir, "memories", "retire", first[:8], "--reason", "wrong", "--json")
    assert retired.returncode == 0, retired.stderr
    memory = json.loads(retired.stdout)["memory"]
    assert memory["id"] == first  # an 8-character prefix names it
    assert memory["status"] == "deleted" and memory["metadata"]["retired_by"].startswith("cli")
    again = statewave(data_dir, "memories", "retire", first, "--reason", "wrong")
    assert again.returncode == 1 and "not active" in again.stderr
    corrected = statewave(
        data_dir, "memories", "correct", second, "The corrected fact.", "--reason", "typo"
    )
    assert corrected.returncode == 0, corrected.stderr
    assert f"Memory {second} is now superseded." in corrected.stdout
    assert "Replaced by" in corrected.stdout and "The corrected fact." in corrected.stdout
    assert second not in _active_memory_ids(data_dir)
    unknown = statewave(data_dir, "memories", "retire", str(uuid.uuid4()), "--reason", "x")
    assert unknown.returncode == 1 and "Memory not found" in unknown.stderr
    bad = statewave(data_dir, "memories", "retire", "not-an-id", "--reason", "x")
    assert bad.returncode == 2
    none = statewave(data_dir, "memories", "retire", "0000abc", "--reason", "x")
    assert none.returncode == 1 and "no memory id starts with" in none.stderr


def test_acting_on_an_unknown_id_fails(data_dir: Path) -> None:
    event = str(uuid.uuid4())
    redrive = statewave(data_dir, "webhooks", "redrive", "--event-id", event, "--json")
    assert redrive.returncode == 1
    assert json.loads(redrive.stdout)["not_redriven"] == [event]
    assert event in redrive.stderr
    retry = statewave(data_dir, "jobs", "retry", "--job-id", "no-such-job")
    assert retry.returncode == 1 and "no-such-job" in retry.stderr
    both = statewave(data_dir, "jobs", "retry", "--job-id", "x", "--all-dead")
    assert both.returncode == 2


def test_data_commands(data_dir: Path) -> None:
    listed = json.loads(statewave(data_dir, "subjects", "--json").stdout)
    assert SUBJECT in {row["subject_id"] for row in listed["subjects"]}
    task = "What did the customer ask about billing?"
    as_json = json.loads(statewave(data_dir, "context", SUBJECT, task, "--json").stdout)
    assert as_json["token_estimate"] <= as_json["max_tokens"]
    plain = statewave(data_dir, "context", SUBJECT, task)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == as_json["assembled_context"] + "\n"
    assert f"({as_json['token_estimate']} of" in plain.stderr
    table = statewave(data_dir, "subjects", "--search", SUBJECT, columns=110)
    assert table.returncode == 0 and SUBJECT in table.stdout and "ago" in table.stdout
