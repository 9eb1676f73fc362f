"""Plain views of the rows the support features read, and the one loader for them.

Health, SLA and handoff are pure functions over these values (testable without a
database); the loader reads the NEWEST rows, so a long-lived subject is judged on what
happened recently, not on its first weeks.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from statewave_server.db import episodes as episode_repo
from statewave_server.db.models import Resolution
from statewave_server.db.resolutions import newest_resolutions
from statewave_server.services.compiler import episode_text

#: Who speaks for the customer, and who answers (shared by SLA, health and handoff).
CUSTOMER_SOURCES = frozenset(
    {"user", "chat", "support-chat", "support_chat", "customer", "manual_input"}
)
RESPONDER_SOURCES = frozenset({"assistant", "agent", "system", "tool", "support", "staff"})

OPEN = "open"
RESOLVED = "resolved"


class EpisodeFacts(Protocol):
    """The episode columns support analytics read (an ``Episode`` or a plain row)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def source(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def payload(self) -> dict[str, Any]: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def session_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class SupportEpisode:
    id: uuid.UUID
    source: str
    type: str
    payload: Mapping[str, Any]
    occurred_at: datetime  # when it happened (the client's clock), not when it was stored
    session_id: str | None = None

    @property
    def text(self) -> str:
        """The payload text with message roles (as context and compilers see it)."""
        return episode_text(self.payload)

    @property
    def content_text(self) -> str:
        """The payload's words only: message contents without their ``role:`` prefixes,
        so keyword and urgency signals are not driven by the words "user"/"assistant"."""
        messages = self.payload.get("messages")
        if isinstance(messages, list):
            stripped = [
                {k: v for k, v in m.items() if k != "role"} if isinstance(m, Mapping) else m
                for m in messages
            ]
            return episode_text({"messages": stripped})
        return self.text

    @classmethod
    def from_row(cls, row: EpisodeFacts) -> SupportEpisode:
        return cls(row.id, row.source, row.type, row.payload, row.occurred_at, row.session_id)


@dataclass(frozen=True, slots=True)
class SupportResolution:
    session_id: str
    status: str
    summary: str | None = None
    resolved_at: datetime | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    @classmethod
    def from_row(cls, row: Resolution) -> SupportResolution:
        return cls(row.session_id, row.status, row.resolution_summary, row.resolved_at, row.id)


@dataclass(frozen=True, slots=True)
class SupportData:
    """Episodes in ascending time order; resolutions most recently updated first."""

    episodes: tuple[SupportEpisode, ...]
    resolutions: tuple[SupportResolution, ...]


async def load_support_data(
    session: AsyncSession,
    *,
    tenant_id: str,
    subject_id: str,
    episodes: int,
    resolutions: int,
) -> SupportData:
    """The newest ``episodes`` episodes (returned oldest first) and newest resolutions."""
    records = await newest_resolutions(
        session, tenant_id=tenant_id, subject_id=subject_id, limit=resolutions
    )
    return SupportData(
        await load_episodes(session, tenant_id=tenant_id, subject_id=subject_id, limit=episodes),
        tuple(SupportResolution.from_row(r) for r in records),
    )


async def load_episodes(
    session: AsyncSession, *, tenant_id: str, subject_id: str, limit: int, texts: bool = True
) -> tuple[SupportEpisode, ...]:
    """The newest ``limit`` episodes, oldest first (``texts=False``: empty payloads, for
    SLA, which reads only times, sources and sessions)."""
    rows = await episode_repo.newest_episode_facts(
        session, tenant_id=tenant_id, subject_id=subject_id, limit=limit, payload=texts
    )
    rows.reverse()
    return tuple(SupportEpisode.from_row(e) for e in rows)


def window(data: SupportData, newest: int) -> SupportData:
    """The same data limited to the ``newest`` most recent episodes."""
    return SupportData(data.episodes[-newest:] if newest else (), data.resolutions)


def by_session(episodes: Sequence[SupportEpisode]) -> dict[str, list[SupportEpisode]]:
    """Episodes grouped by session id in order of first appearance (no-session ones out)."""
    grouped: dict[str, list[SupportEpisode]] = {}
    for episode in episodes:
        if episode.session_id is not None:
            grouped.setdefault(episode.session_id, []).append(episode)
    return grouped
