"""Customer health: a deterministic 0-100 score with the factors that explain it.

Start at 100, add each signal's impact, clamp to [0, 100]; 70+ is ``healthy``, 40+
``watch``, below ``at_risk``. Signals come from ticket state and timing (below) and from
what the customer said (``health_signals.py``: threats to cancel, frustration, escalation
requests, repeated contact, "still not fixed"). Pure: the caller loads the subject's
newest episodes and resolutions (see ``alerts.assess_health`` for the cached, alerting
entry point).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from statewave_server.services.context.repeats import keywords
from statewave_server.services.support.health_signals import (
    MAX_EVIDENCE,
    PHRASE_SIGNALS,
    Evidence,
    PhraseSignal,
    describe,
    phrase_evidence,
)
from statewave_server.services.support.records import (
    OPEN,
    RESOLVED,
    SupportData,
    SupportEpisode,
    by_session,
)
from statewave_server.services.support.sla import SessionSla, session_sla

#: How many of the newest episodes and resolutions health reads.
HEALTH_EPISODES = 200
HEALTH_RESOLUTIONS = 200

HEALTHY = "healthy"
WATCH = "watch"
AT_RISK = "at_risk"
SEVERITY = {HEALTHY: 0, WATCH: 1, AT_RISK: 2}

REPEAT_OVERLAP = 0.3
RECENT_DAYS = 7
IDLE_DAYS = 7
RESOLUTION_SLA_SECONDS = 24 * 3600
SLOW_RESPONSE_SECONDS = 10 * 60
# Word-start matches, and whole words for the short markers, so "download" or "api1"
# are not urgent while "escalated", "urgently" and "P1" are.
_URGENCY = re.compile(
    r"\b(?:urgent|critical|emergenc|escalat|broken|outage|blocker)"
    r"|\b(?:asap|down|p0|p1|sev1|sev2)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class HealthFactor:
    signal: str
    impact: int
    detail: str
    evidence: tuple[Evidence, ...] = ()  # what was said, for the phrase signals

    def as_dict(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"signal": self.signal, "impact": self.impact}
        shown["detail"] = self.detail
        if self.evidence:
            shown["evidence"] = [e.as_dict() for e in self.evidence]
        return shown


@dataclass(frozen=True, slots=True)
class HealthReport:
    score: int
    state: str
    factors: tuple[HealthFactor, ...]

    def top_factors(self, n: int = 3) -> tuple[HealthFactor, ...]:
        """The ``n`` factors with the largest absolute impact (ties keep signal order)."""
        return tuple(sorted(self.factors, key=lambda f: -abs(f.impact))[:n])


def health_state(score: int) -> str:
    if score >= 70:
        return HEALTHY
    return WATCH if score >= 40 else AT_RISK


def compute_health(data: SupportData, now: datetime) -> HealthReport:
    """Score and factors, in the fixed signal order (a subject with no history: 100)."""
    said = phrase_evidence(data.episodes, now)
    factors = [
        f
        for f in (
            _unresolved(data),
            _repeated(data),
            _escalations(data),
            _idle_open(data, now),
            _recent_resolutions(data, now),
            _resolution_rate(data),
            _resolution_breaches(data, now),
            _slow_first_response(data, now),
            *(_phrase_factor(signal, said.get(signal.name, [])) for signal in PHRASE_SIGNALS),
        )
        if f is not None
    ]
    score = max(0, min(100, 100 + sum(f.impact for f in factors)))
    return HealthReport(score, health_state(score), tuple(factors))


def is_urgent(text: str) -> bool:
    return _URGENCY.search(text) is not None


def _unresolved(data: SupportData) -> HealthFactor | None:
    n = sum(1 for r in data.resolutions if r.status == OPEN)
    return (
        HealthFactor("unresolved_issues", -min(15 * n, 45), f"{n} open session(s)") if n else None
    )


def _phrase_factor(signal: PhraseSignal, evidence: list[Evidence]) -> HealthFactor | None:
    if not evidence:
        return None
    impact = max(signal.cap, signal.per_episode * len(evidence))
    return HealthFactor(signal.name, impact, describe(evidence), tuple(evidence[-MAX_EVIDENCE:]))


def _repeated(data: SupportData) -> HealthFactor | None:
    grouped = by_session(data.episodes)
    open_ids = {r.session_id for r in data.resolutions if r.status == OPEN}
    resolved_ids = {r.session_id for r in data.resolutions if r.status == RESOLVED}
    current = keywords(_texts(grouped, open_ids))
    prior = keywords(_texts(grouped, resolved_ids))
    if not current or not prior:
        return None
    overlap = len(current & prior) / min(len(current), len(prior))
    if overlap < REPEAT_OVERLAP:
        return None
    return HealthFactor("repeated_issues", -20, "Open issues resemble previously resolved ones")


def _escalations(data: SupportData) -> HealthFactor | None:
    n = sum(1 for e in data.episodes if is_urgent(e.content_text))
    if not n:
        return None
    return HealthFactor("escalations", -min(10 * n, 20), f"{n} episode(s) with urgency markers")


def _idle_open(data: SupportData, now: datetime) -> HealthFactor | None:
    grouped = by_session(data.episodes)
    for resolution in data.resolutions:
        episodes = grouped.get(resolution.session_id)
        if resolution.status != OPEN or not episodes:
            continue
        idle = (now - max(e.occurred_at for e in episodes)).days
        if idle >= IDLE_DAYS:
            detail = f"Session {resolution.session_id} idle for {idle} days"
            return HealthFactor("idle_open_issue", -15, detail)
    return None


def _recent_resolutions(data: SupportData, now: datetime) -> HealthFactor | None:
    n = sum(
        1
        for r in data.resolutions
        if r.status == RESOLVED and r.resolved_at and (now - r.resolved_at).days <= RECENT_DAYS
    )
    detail = f"{n} session(s) resolved in last {RECENT_DAYS} days"
    return HealthFactor("recent_resolution", 10, detail) if n else None


def _resolution_rate(data: SupportData) -> HealthFactor | None:
    total = len(data.resolutions)
    resolved = sum(1 for r in data.resolutions if r.status == RESOLVED)
    if total < 2 or resolved / total < 0.8:
        return None
    detail = f"{round(100 * resolved / total)}% sessions resolved ({resolved}/{total})"
    return HealthFactor("high_resolution_rate", 10, detail)


def _resolution_breaches(data: SupportData, now: datetime) -> HealthFactor | None:
    n = sum(
        1
        for m in _resolution_metrics(data, now)
        if m.status == RESOLVED
        and m.resolution_seconds is not None
        and m.resolution_seconds > RESOLUTION_SLA_SECONDS
    )
    if not n:
        return None
    detail = f"{n} session(s) exceeded 24h resolution SLA"
    return HealthFactor("sla_resolution_breaches", -min(10 * n, 20), detail)


def _slow_first_response(data: SupportData, now: datetime) -> HealthFactor | None:
    samples = [
        m.first_response_seconds
        for m in _resolution_metrics(data, now)
        if m.first_response_seconds is not None
    ]
    if not samples or sum(samples) / len(samples) <= SLOW_RESPONSE_SECONDS:
        return None
    detail = f"Avg first response {sum(samples) / len(samples) / 60:.1f} min (threshold: 10 min)"
    return HealthFactor("slow_first_response", -5, detail)


def _resolution_metrics(data: SupportData, now: datetime) -> list[SessionSla]:
    """SLA metrics of every session that has a resolution and episodes."""
    grouped = by_session(data.episodes)
    return [
        session_sla(r.session_id, grouped[r.session_id], r, now)
        for r in data.resolutions
        if r.session_id in grouped
    ]


def _texts(grouped: dict[str, list[SupportEpisode]], session_ids: set[str]) -> Iterable[str]:
    return [e.content_text for sid in session_ids for e in grouped.get(sid, [])]
