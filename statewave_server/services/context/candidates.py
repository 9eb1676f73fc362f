"""What context assembly ranks: plain, already-loaded data with its retrieval signals.

The service layer loads rows (recency window, full-text hits, semantic neighbours) and
hands them over as these values, so ranking and rendering stay pure and testable without
a database.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from statewave_server.services.compiler.drafts import DIGEST_FORM

PROFILE_FACT = "profile_fact"
PROCEDURE = "procedure"
EPISODE_SUMMARY = "episode_summary"

#: The memory kinds that context assembly renders; other kinds are ignored.
CONTEXT_KINDS = frozenset({PROFILE_FACT, PROCEDURE, EPISODE_SUMMARY})


@dataclass(frozen=True, slots=True)
class MemoryCandidate:
    """An active memory plus the signals that say how well it matches the task.

    ``breadcrumb`` is the navigation trail (or title) of its source episode, if any.
    ``relevance`` is the retrieval's fused relevance to the task in [0, 1] (1 = its best
    hit; BM25 and dense rankings fused in ``fusion.py``), ``None`` when the search found
    nothing at all; then the word overlap with the task stands in for it in the score.
    ``session_id`` is the one session all its source episodes belong to (``None``: none or
    several), so a compiled conversation keeps its session's signals.
    """

    id: uuid.UUID
    kind: str
    content: str
    summary: str
    created_at: datetime
    valid_from: datetime
    valid_to: datetime | None = None
    source_episode_ids: tuple[uuid.UUID, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    breadcrumb: str | None = None
    relevance: float | None = None
    session_id: str | None = None


def is_digest(memory: MemoryCandidate) -> bool:
    """Whether the memory digests several turns (already compact: rendered whole)."""
    return memory.kind == EPISODE_SUMMARY and memory.metadata.get("form") == DIGEST_FORM


@dataclass(frozen=True, slots=True)
class EpisodeCandidate:
    """A raw episode with its payload text already extracted (see the compiler's drafts).

    ``relevance`` is as for :class:`MemoryCandidate` (fused retrieval relevance in [0, 1]).
    """

    id: uuid.UUID
    source: str
    type: str
    text: str
    created_at: datetime
    session_id: str | None = None
    relevance: float | None = None


@dataclass(frozen=True, slots=True)
class SessionState:
    """What the resolutions table says about the subject's sessions.

    ``resolution_summaries`` maps a resolved session to its resolution summary; it feeds
    repeat-issue detection. A session whose resolution is ``unresolved`` is in neither set.
    """

    resolved_session_ids: frozenset[str] = frozenset()
    open_session_ids: frozenset[str] = frozenset()
    resolution_summaries: Mapping[str, str] = field(default_factory=dict)
