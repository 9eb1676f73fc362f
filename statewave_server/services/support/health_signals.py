"""Health signals from what the customer said: a small, fixed list of phrase patterns.

A customer with an open ticket who writes "we will cancel" is not healthy whatever the
ticket counts say. Each signal below is a handful of English phrases matched on the
customer's own words only (messages whose role, or episodes whose source, is a customer
one: an agent's "sorry you are frustrated" is not the customer's frustration), in episodes
of the last :data:`SIGNAL_DAYS` days. Deterministic and offline: regular expressions, no
model. Each factor names the newest phrase it matched, when, and in which session, and
carries every match as evidence.

The signals, their impact per matching episode and its cap (the phrases are
:data:`PHRASE_SIGNALS`, below):

* ``churn_threat`` −35 (−50): cancelling, not renewing, switching away, asking a refund;
* ``escalation_request`` −15 (−30): asking for a manager, to escalate, a formal complaint;
* ``frustration`` −10 (−20): frustrated, unacceptable, angry, fed up, disappointed…;
* ``repeat_contact`` −10 (−20): "third time", "already reported", "keeps happening"…;
* ``still_unresolved`` −10 (−20): "still not fixed", "still waiting", "no one got back"…
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from statewave_server.services.support.records import CUSTOMER_SOURCES, SupportEpisode

SIGNAL_DAYS = 30
QUOTE_CHARS = 60
MAX_EVIDENCE = 10  # kept per signal (the newest); the detail still counts every match


@dataclass(frozen=True, slots=True)
class PhraseSignal:
    name: str
    per_episode: int
    cap: int
    pattern: re.Pattern[str]


def _phrases(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")", re.IGNORECASE)


PHRASE_SIGNALS: tuple[PhraseSignal, ...] = (
    PhraseSignal(
        "churn_threat",
        -35,
        -50,
        _phrases(
            r"cancel+(?:ing)? (?:our|my|the|this) (?:account|subscription|plan|contract|service)",
            r"(?:we|i)(?:'ll| will| are going to|'re going to| am going to|'m going to) cancel",
            r"cancel+ation",
            r"(?:not|won't|will not) (?:be )?renew",
            r"switch(?:ing)? to (?:a competitor|another (?:provider|vendor|tool|service))",
            r"(?:take|taking) our business elsewhere",
            r"terminat(?:e|ing) (?:our|the) contract",
            r"(?:want|demand|need) a refund",
        ),
    ),
    PhraseSignal(
        "escalation_request",
        -15,
        -30,
        _phrases(
            r"(?:speak|talk) (?:to|with) (?:a |your |the )?(?:manager|supervisor|someone senior)",
            r"escalate (?:this|it|my|our)",
            r"(?:file|make|lodge) a (?:formal )?complaint",
        ),
    ),
    PhraseSignal(
        "frustration",
        -10,
        -20,
        _phrases(
            r"frustrat",
            r"unacceptable",
            r"ridiculous",
            r"angry",
            r"furious",
            r"fed up",
            r"sick of",
            r"disappoint",
            r"terrible (?:service|support|experience)",
            r"(?:a )?waste of (?:my |our )?time",
        ),
    ),
    PhraseSignal(
        "repeat_contact",
        -10,
        -20,
        _phrases(
            r"(?:second|third|fourth|fifth|\d+(?:st|nd|rd|th)) time",
            r"already (?:told|reported|explained|asked|contacted)",
            r"as i (?:said|mentioned) (?:before|earlier)",
            r"keeps? (?:happening|failing|breaking)",
            r"again and again",
        ),
    ),
    PhraseSignal(
        "still_unresolved",
        -10,
        -20,
        _phrases(
            r"still (?:not|isn't|is not|hasn't been|has not been) (?:fixed|resolved|working)",
            r"still waiting",
            r"no one (?:has )?(?:got|gotten) back",
            r"(?:haven't|have not) heard back",
            r"no (?:response|reply|update) (?:yet|so far)",
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class Evidence:
    """One matched phrase: what was said, when, where."""

    episode_id: uuid.UUID
    session_id: str | None
    occurred_at: datetime
    quote: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "episode_id": str(self.episode_id),
            "session_id": self.session_id,
            "occurred_at": self.occurred_at.astimezone(UTC).isoformat(),
            "quote": self.quote,
        }


def customer_lines(episode: SupportEpisode) -> Iterator[str]:
    """The customer's own words in ``episode`` (messages with a customer role; a payload
    without messages counts when the episode's source is a customer one)."""
    messages = episode.payload.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if not isinstance(message, Mapping):
                continue
            role = message.get("role", episode.source)
            content = message.get("content")
            if role in CUSTOMER_SOURCES and isinstance(content, str):
                yield content
    elif episode.source in CUSTOMER_SOURCES:
        yield episode.content_text


def _quote(text: str, match: re.Match[str]) -> str:
    """The matched phrase with a little context either side, on one line."""
    start = max(0, match.start() - 15)
    end = min(len(text), match.end() + QUOTE_CHARS - (match.end() - match.start()))
    snippet = " ".join(text[start:end].split())
    return ("…" if start else "") + snippet + ("…" if end < len(text) else "")


def phrase_evidence(
    episodes: tuple[SupportEpisode, ...], now: datetime
) -> dict[str, list[Evidence]]:
    """Per signal name, one piece of evidence per matching episode, oldest first."""
    since = now - timedelta(days=SIGNAL_DAYS)
    found: dict[str, list[Evidence]] = {}
    for episode in episodes:
        if episode.occurred_at < since:
            continue
        lines = list(customer_lines(episode))
        for signal in PHRASE_SIGNALS:
            for line in lines:
                match = signal.pattern.search(line)
                if match is not None:
                    quote = _quote(line, match)
                    found.setdefault(signal.name, []).append(
                        Evidence(episode.id, episode.session_id, episode.occurred_at, quote)
                    )
                    break
    return found


def describe(evidence: list[Evidence]) -> str:
    """'said "…we will cancel…" on 2026-12-03, session s-12' for the newest match."""
    newest = evidence[-1]
    where = f", session {newest.session_id}" if newest.session_id else ""
    when = newest.occurred_at.astimezone(UTC).strftime("%Y-%m-%d")
    more = f" (+{len(evidence) - 1} more)" if len(evidence) > 1 else ""
    return f'said "{newest.quote}" on {when}{where}{more}'
