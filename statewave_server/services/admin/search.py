"""The console's one search box: a subject id, a job id or an outbox event id, whole or
as a prefix (the short ids the console and the CLI show), in one read transaction.

Ids first: a subject's exact id (in any tenant), and job and event ids starting with the
text when it looks like an id (hex digits and dashes; a whole UUID in either spelling, as
job ids are undashed and event ids dashed). Only text that names no id goes on to the
Subjects page's search (ids and memory content containing it), which scans the episodes
and memories (no trigram index) and so is the slow path on a large database.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db import jobs as job_repo
from statewave_server.db import outbox as outbox_repo
from statewave_server.db.admin_queries import explorer
from statewave_server.db.admin_queries.explorer import ExplorerFilter, SubjectRow
from statewave_server.db.models import Job, WebhookEvent
from statewave_server.db.read_routing import SessionFactory

#: Matches listed per kind; more are counted, not shown.
LIMIT: Final = 10
#: Longer text names nothing (ids are at most 256 characters): answered without a query.
MAX_QUERY: Final = 256
_ID_PREFIX: Final = re.compile(r"^[0-9a-f][0-9a-f-]{0,63}$")


@dataclass(frozen=True)
class SearchHits:
    query: str
    subjects: list[SubjectRow]
    subjects_total: int
    jobs: list[Job]
    jobs_total: int
    events: list[WebhookEvent]
    events_total: int

    @property
    def total(self) -> int:
        return self.subjects_total + self.jobs_total + self.events_total

    def only(self) -> SubjectRow | Job | WebhookEvent | None:
        """The one match, when there is exactly one."""
        if self.total != 1:
            return None
        return (self.subjects or self.jobs or self.events)[0]


def _prefixes(text: str) -> tuple[str, str] | None:
    """(job id prefix, event id prefix) for text that can start an id, else None."""
    value = text.lower()
    try:
        whole = uuid.UUID(value)
    except ValueError:
        return (value, value) if _ID_PREFIX.match(value) else None
    return whole.hex, str(whole)


async def _subjects(session: AsyncSession, filters: ExplorerFilter) -> tuple[list[SubjectRow], int]:
    return await explorer.explore_subjects(
        session, filters, sort_by="last_activity", descending=True, limit=LIMIT, offset=0
    )


async def find(db: SessionFactory, text: str) -> SearchHits:
    """Subjects, jobs and webhook events ``text`` names (see the module docstring)."""
    query = text.strip()
    if not query or len(query) > MAX_QUERY or "\x00" in query:
        return SearchHits(query, [], 0, [], 0, [], 0)
    jobs, events = job_repo.JobPage([], 0), outbox_repo.EventPage([], 0)
    async with db() as session:
        subjects, subjects_total = await _subjects(session, ExplorerFilter(subject_id=query))
        prefixes = _prefixes(query)
        if prefixes is not None:
            jobs = await job_repo.list_jobs(
                session,
                status=None,
                subject_id=None,
                tenant_id=None,
                kind=None,
                limit=LIMIT,
                id_prefix=prefixes[0],
            )
            events = await outbox_repo.list_events(session, id_prefix=prefixes[1], limit=LIMIT)
        if not (subjects or jobs.jobs or events.events):  # no id: the text search (slower)
            subjects, subjects_total = await _subjects(session, ExplorerFilter(search=query))
    return SearchHits(
        query,
        subjects,
        subjects_total,
        jobs.jobs,
        jobs.total,
        list(events.events),
        events.total,
    )
