"""The backup document (canonical checksum, legacy format) and the CLI round trip."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from typer.testing import CliRunner, Result

from statewave_server.cli.admin import register
from statewave_server.errors import BadRequest
from statewave_server.services.admin import backup
from statewave_server.services.admin.backup_format import (
    EpisodeRecord,
    MemoryRecord,
    SubjectContent,
    checksum,
    from_document,
    to_document,
)
from statewave_server.services.embeddings import HashEmbeddingProvider
from statewave_server.settings import get_settings

NOW = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def _content() -> SubjectContent:
    episode = EpisodeRecord(
        id=uuid.uuid4(),
        source="user",
        type="message",
        payload={"messages": [{"role": "user", "content": "Grüße from Zoë"}]},
        session_id="s-1",
        occurred_at=NOW,
        idempotency_key="k-1",
        created_at=NOW,
    )
    memory = MemoryRecord(
        id=uuid.uuid4(),
        kind="profile_fact",
        content="The user is Zoë.",
        valid_from=NOW,
        source_episode_ids=[episode.id],
        embedding=[0.1, -0.25, 1e-07],
        embedding_model="hash-3",
        created_at=NOW,
        updated_at=NOW,
    )
    return SubjectContent(subject_id="zoe", tenant_id="t", episodes=[episode], memories=[memory])


def test_document_round_trips_through_json_and_verifies() -> None:
    document = json.loads(json.dumps(to_document(_content())))
    assert document["checksum"] == checksum(document)
    parsed = from_document(document)
    assert parsed == _content().model_copy(
        update={"episodes": parsed.episodes, "memories": parsed.memories}
    )
    assert parsed.memories[0].embedding == [0.1, -0.25, 1e-07]
    assert parsed.episodes[0].session_id == "s-1"


def test_a_foreign_file_is_named_as_not_a_backup() -> None:
    with pytest.raises(BadRequest, match=r"^Not a Statewave backup .*statewave export"):
        from_document({"memories": []})
    with pytest.raises(BadRequest, match=r"Unsupported backup format_version '3\.0'"):
        from_document({"format_version": "3.0"})


def test_any_change_to_the_content_breaks_the_checksum() -> None:
    document = to_document(_content())
    for field, value in (("subject_id", "other"), ("tenant_id", "x"), ("resolutions", None)):
        changed = {**document, field: value}
        with pytest.raises(BadRequest, match="Checksum mismatch"):
            from_document(changed)
    # exported_at is metadata, not content
    assert from_document({**document, "exported_at": "later"}).subject_id == "zoe"


def test_reference_server_documents_are_accepted() -> None:
    import hashlib

    episodes = [
        {
            "id": str(uuid.uuid4()),
            "subject_id": "old",
            "tenant_id": None,
            "source": "user",
            "type": "message",
            "payload": {"text": "hi"},
            "metadata": {},
            "provenance": {},
            "created_at": NOW.isoformat(),
            "last_compiled_at": None,
        }
    ]
    body = {"episodes": episodes, "memories": []}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    document = {"format_version": "1.0", "subject_id": "old", "tenant_id": None, **body}
    parsed = from_document({**document, "checksum": digest})
    assert parsed.tenant_id == "" and parsed.episodes[0].occurred_at is None
    with pytest.raises(BadRequest):
        from_document({**document, "checksum": "0" * 64})


@pytest.fixture(scope="module")
async def db(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(db_url)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


def _invoke(args: list[str], db_url: str) -> Result:
    app = typer.Typer()
    app.command("noop")(lambda: None)
    register(app)
    env = {"STATEWAVE_DATABASE_URL": db_url, "STATEWAVE_EMBEDDING_PROVIDER": "hash"}
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, args, env=env)
    finally:
        get_settings.cache_clear()


async def test_cli_export_then_import_is_idempotent(
    db: async_sessionmaker[AsyncSession], db_url: str, tmp_path: Path
) -> None:
    embedder = HashEmbeddingProvider(dimensions=8)
    await backup.import_content(db, embedder, _content())
    target = tmp_path / "zoe.json"
    exported = await asyncio.to_thread(
        _invoke, ["export", "zoe", "--tenant", "t", "-o", str(target)], db_url
    )
    assert exported.exit_code == 0, exported.output
    document = json.loads(target.read_text(encoding="utf-8"))
    assert document["counts"] == {"episodes": 1, "memories": 1, "resolutions": 0}

    again = await asyncio.to_thread(_invoke, ["import", str(target), "--json"], db_url)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["episodes_skipped"] == 1

    copied = await asyncio.to_thread(
        _invoke,
        ["import", str(target), "--target-subject", "zoe-2", "--remap-ids", "--json"],
        db_url,
    )
    assert copied.exit_code == 0, copied.output
    result = json.loads(copied.stdout)
    assert (result["episodes_imported"], result["memories_imported"]) == (1, 1)
    assert result["ids_preserved"] is False

    target.write_text(target.read_text().replace("Zo", "Xo"), encoding="utf-8")
    tampered = await asyncio.to_thread(_invoke, ["import", str(target)], db_url)
    assert tampered.exit_code == 1
    assert "Checksum mismatch" in tampered.output


async def test_cli_lists_and_imports_packs(db_url: str) -> None:
    listed = await asyncio.to_thread(_invoke, ["packs", "list", "--json"], db_url)
    assert listed.exit_code == 0, listed.output
    assert {p["pack_id"] for p in json.loads(listed.stdout)} >= {
        "demo-support-agent",
        "demo-coding-assistant",
    }
    imported = await asyncio.to_thread(
        _invoke,
        ["packs", "import", "demo-coding-assistant", "--target-subject", "ravi", "--json"],
        db_url,
    )
    assert imported.exit_code == 0, imported.output
    body = json.loads(imported.stdout)
    assert body["subject_id"] == "ravi" and body["memories_embedded"] == body["memories_imported"]


async def test_cli_import_reads_as_a_summary_and_names_its_flags(
    db: async_sessionmaker[AsyncSession], db_url: str, tmp_path: Path
) -> None:
    content = _content().model_copy(update={"subject_id": "yan"})
    await backup.import_content(db, HashEmbeddingProvider(dimensions=8), content)
    target = tmp_path / "yan.json"
    target.write_text(json.dumps(to_document(content)), encoding="utf-8")

    clash = await asyncio.to_thread(_invoke, ["import", str(target), "--tenant", "other"], db_url)
    assert clash.exit_code == 1
    assert "--remap-ids" in clash.output  # the CLI's flag, not only the API's field

    copied = await asyncio.to_thread(
        _invoke, ["import", str(target), "--tenant", "other", "--remap-ids"], db_url
    )
    assert copied.exit_code == 0, copied.output
    assert copied.stdout.startswith(
        "Imported into subject 'yan' (tenant other): 1 episode(s) (0 already there), "
        "1 memory(ies) (0 already there)"
    )
    assert "rows got fresh ids." in copied.stdout

    old_name = await asyncio.to_thread(
        _invoke,
        ["import", str(target), "--target-tenant", "other2", "--remap-ids", "--json"],
        db_url,
    )
    assert old_name.exit_code == 0, old_name.output
    assert json.loads(old_name.stdout)["tenant_id"] == "other2"


async def test_cli_packs_list_is_a_table_and_unknown_packs_name_the_choices(db_url: str) -> None:
    listed = await asyncio.to_thread(_invoke, ["packs", "list"], db_url)
    assert listed.exit_code == 0, listed.output
    header = next(line for line in listed.stdout.splitlines() if "pack" in line and "┃" in line)
    assert [cell.strip() for cell in header.strip("┃ ").split("┃")][:4] == [
        "pack",
        "version",
        "episodes",
        "memories",
    ]
    assert "demo-coding-assistant" in listed.stdout  # whole ids: a pack is named by its id
    unknown = await asyncio.to_thread(_invoke, ["packs", "import", "no-such-pack"], db_url)
    assert unknown.exit_code == 1
    assert "available: demo-coding-assistant, demo-support-agent" in unknown.output
