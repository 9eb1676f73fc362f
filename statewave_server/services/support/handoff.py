"""Handoff packs: the escalation brief a human (or another agent) picks a session up with.

Built from the subject's NEWEST data: the current session's latest episodes, the most
recent other-session episodes, the newest profile facts and resolutions, plus health and
SLA. Computing health here is a real health check: the cache write and any alert commit
with the handoff (see ``alerts``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from statewave_server.db import memories as memory_repo
from statewave_server.services.events import EventSink
from statewave_server.services.support.alerts import lock_health, record_health
from statewave_server.services.support.health import (
    AT_RISK,
    HEALTH_EPISODES,
    HEALTHY,
    WATCH,
    HealthReport,
    compute_health,
)
from statewave_server.services.support.records import (
    CUSTOMER_SOURCES,
    OPEN,
    RESOLVED,
    SupportData,
    SupportEpisode,
    SupportResolution,
    load_support_data,
    window,
)
from statewave_server.services.support.sla import (
    SLA_EPISODES,
    SLA_RESOLUTIONS,
    SlaSummary,
    compute_sla,
)
from statewave_server.services.tokens import count_tokens, truncate_to_tokens

FACTS = 20
KEY_FACTS = 8
SESSION_EPISODES = 30
CONTEXT_EPISODES = 5
RESOLUTION_HISTORY = 20
ATTEMPTED_STEPS = 5
STEP_SOURCES = frozenset({"assistant", "agent", "system", "tool"})
STEP_TYPES = frozenset({"action", "tool_call", "resolution_attempt"})
_ICONS = {AT_RISK: "🔴", WATCH: "🟡", HEALTHY: "🟢"}


@dataclass(frozen=True, slots=True)
class Fact:
    id: uuid.UUID
    content: str


@dataclass(frozen=True, slots=True)
class HandoffPack:
    subject_id: str
    session_id: str
    reason: str
    generated_at: datetime
    customer_summary: str
    active_issue: str
    attempted_steps: tuple[str, ...]
    key_facts: tuple[str, ...]
    resolution_history: tuple[SupportResolution, ...]
    recent_context: tuple[str, ...]
    health: HealthReport
    sla: SlaSummary
    handoff_notes: str
    token_estimate: int
    provenance: dict[str, list[str]]


def build_handoff(
    subject_id: str,
    session_id: str,
    *,
    reason: str,
    max_tokens: int,
    facts: Sequence[Fact],
    data: SupportData,
    health: HealthReport,
    sla: SlaSummary,
    now: datetime,
) -> HandoffPack:
    """The brief's parts and its Markdown, cut to ``max_tokens`` tokens (pure)."""
    current = [e for e in data.episodes if e.session_id == session_id][-SESSION_EPISODES:]
    others = [e for e in reversed(data.episodes) if e.session_id != session_id]
    others = others[:CONTEXT_EPISODES]
    key_facts = tuple(f.content for f in facts[:KEY_FACTS])
    history = data.resolutions[:RESOLUTION_HISTORY]
    summary = (
        f"{subject_id} — " + "; ".join(key_facts[:3]) if key_facts else f"Subject: {subject_id}"
    )
    steps = tuple(
        _line_text(e, 150)
        for e in current
        if (e.source in STEP_SOURCES or e.type in STEP_TYPES) and _line_text(e, 150)
    )[-ATTEMPTED_STEPS:]
    pack = HandoffPack(
        subject_id=subject_id,
        session_id=session_id,
        reason=reason,
        generated_at=now,
        customer_summary=summary,
        active_issue=_active_issue(current),
        attempted_steps=steps,
        key_facts=key_facts,
        resolution_history=history,
        recent_context=tuple(_context_line(e) for e in others),
        health=health,
        sla=sla,
        handoff_notes="",
        token_estimate=0,
        provenance={
            "fact_ids": [str(f.id) for f in facts[:KEY_FACTS]],
            "episode_ids": [str(e.id) for e in current],
            "resolution_ids": [str(r.id) for r in history],
            "context_episode_ids": [str(e.id) for e in others],
        },
    )
    notes = truncate_to_tokens(render_notes(pack), max_tokens)
    return _with_notes(pack, notes, min(count_tokens(notes), max_tokens))


def render_notes(pack: HandoffPack) -> str:
    """The Markdown brief: fixed section order, empty sections left out."""
    sections = [
        [
            f"# Handoff Brief — {pack.subject_id}",
            f"Reason: {pack.reason}",
            f"Session: {pack.session_id}",
        ],
        ["## Customer", pack.customer_summary],
        ["## Customer Health", _health_line(pack.health)],
        _section("## SLA Status", _sla_lines(pack.sla)),
        _section("## Active Issue", [pack.active_issue] if pack.active_issue else []),
        _section("## What Has Been Tried", [f"- {s}" for s in pack.attempted_steps]),
        _section(
            "## Open Issues",
            [
                f"- [{r.session_id}] {r.summary or 'No summary'}"
                for r in pack.resolution_history
                if r.status != RESOLVED
            ],
        ),
        _section(
            "## Previously Resolved",
            [
                f"- [{r.session_id}] {r.summary or 'Resolved'}"
                for r in pack.resolution_history
                if r.status == RESOLVED
            ][:3],
        ),
        _section("## Key Facts", [f"- {f}" for f in pack.key_facts]),
        _section("## Recent Context (other sessions)", [f"- {c}" for c in pack.recent_context]),
    ]
    return "\n\n".join("\n".join(lines) for lines in sections if lines)


async def create_handoff(
    db: async_sessionmaker[AsyncSession],
    events: EventSink,
    *,
    tenant_id: str,
    subject_id: str,
    session_id: str,
    reason: str,
    max_tokens: int,
) -> HandoffPack:
    """Load, check health (cache + alert committed with this transaction), build."""
    now = datetime.now(UTC)
    async with db.begin() as session:
        await lock_health(session, tenant_id=tenant_id, subject_id=subject_id)
        data = await load_support_data(
            session,
            tenant_id=tenant_id,
            subject_id=subject_id,
            episodes=SLA_EPISODES,
            resolutions=SLA_RESOLUTIONS,
        )
        facts = await _facts(session, tenant_id=tenant_id, subject_id=subject_id)
        health = compute_health(window(data, HEALTH_EPISODES), now)
        await record_health(
            session, events, tenant_id=tenant_id, subject_id=subject_id, report=health, now=now
        )
    sla = compute_sla(subject_id, data, now)
    return build_handoff(
        subject_id,
        session_id,
        reason=reason,
        max_tokens=max_tokens,
        facts=facts,
        data=data,
        health=health,
        sla=sla,
        now=now,
    )


async def _facts(session: AsyncSession, *, tenant_id: str, subject_id: str) -> list[Fact]:
    rows = await memory_repo.newest_active(
        session, tenant_id=tenant_id, subject_id=subject_id, kind="profile_fact", limit=FACTS
    )
    return [Fact(m.id, m.content) for m in rows]


def _active_issue(current: Sequence[SupportEpisode]) -> str:
    """The customer's first message in the session (else its first non-empty episode)."""
    lines = [(e, _line(e, 200)) for e in current if _line_text(e, 200)]
    if not lines:
        return ""
    first = next((line for e, line in lines if e.source in CUSTOMER_SOURCES), lines[0][1])
    more = len(lines) - 1
    return f"{first} (+ {more} more messages in session)" if more else first


def _health_line(health: HealthReport) -> str:
    icon = _ICONS.get(health.state, "⚪")
    line = f"{icon} Health: {health.state.upper()} (score: {health.score})"
    details = "; ".join(f.detail for f in health.top_factors())
    return f"{line} — {details}" if details else line


def _sla_lines(sla: SlaSummary) -> list[str]:
    if not sla.total_sessions:
        return []
    lines = []
    if sla.first_response_breach_count:
        n = sla.first_response_breach_count
        lines.append(f"- ⚠️ First-response SLA breached in {n} session(s)")
    if sla.resolution_breach_count:
        lines.append(f"- ⚠️ Resolution SLA breached in {sla.resolution_breach_count} session(s)")
    ages = [
        s.open_duration_seconds
        for s in sla.sessions
        if s.status == OPEN and s.open_duration_seconds is not None
    ]
    if ages:
        lines.append(f"- Open issue age: {max(ages) / 3600:.1f}h")
    if sla.avg_first_response_seconds is not None:
        lines.append(f"- Avg first response: {sla.avg_first_response_seconds / 60:.1f} min")
    return lines


def _section(title: str, lines: list[str]) -> list[str]:
    return [title, *lines] if lines else []


def _line_text(episode: SupportEpisode, limit: int) -> str:
    return " ".join(episode.content_text.split())[:limit]


def _line(episode: SupportEpisode, limit: int) -> str:
    return f"[{episode.source}/{episode.type}] {_line_text(episode, limit)}"


def _context_line(episode: SupportEpisode) -> str:
    tag = f" [{episode.session_id}]" if episode.session_id else ""
    text = _line_text(episode, 120) or "(no text content)"
    return f"[{episode.source}/{episode.type}]{tag} {text}"


def _with_notes(pack: HandoffPack, notes: str, tokens: int) -> HandoffPack:
    return replace(pack, handoff_notes=notes, token_estimate=tokens)
