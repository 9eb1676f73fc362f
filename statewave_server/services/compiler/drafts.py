"""Pure data types shared by the compilers, and the one rule for "the text of a payload".

Compilers take ``EpisodeInput`` values (never ORM rows) and return ``MemoryDraft`` values,
so they stay free of database sessions and can be tested and run in a thread pool.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final, Literal

MemoryKind = Literal["profile_fact", "episode_summary", "procedure", "artifact_ref"]

PROFILE_FACT: Final = "profile_fact"
EPISODE_SUMMARY: Final = "episode_summary"
PROCEDURE: Final = "procedure"
ARTIFACT_REF: Final = "artifact_ref"

#: ``metadata["form"]`` of an episode summary that digests several turns (``digest.py``).
DIGEST_FORM: Final = "digest"

#: Message roles whose words are not the subject's own (used to keep profile facts honest).
NON_SUBJECT_ROLES: Final = frozenset(
    {"assistant", "system", "developer", "tool", "function", "agent", "bot"}
)


@dataclass(frozen=True, slots=True)
class EpisodeInput:
    """What a compiler needs to know about one episode."""

    id: uuid.UUID
    payload: Mapping[str, Any]
    created_at: datetime
    source: str = ""
    type: str = ""
    occurred_at: datetime | None = None
    session_id: str | None = None
    #: The payload text (see ``episode_text``), rendered once: every compiler step reads it.
    text: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", episode_text(self.payload))

    @property
    def time(self) -> datetime:
        """When it happened: ``occurred_at`` if the caller knows it, else ingestion time."""
        return self.occurred_at or self.created_at


@dataclass(frozen=True, slots=True)
class MemoryDraft:
    """A memory a compiler proposes; the caller assigns ids, tenant and subject and stores it."""

    kind: MemoryKind
    content: str
    summary: str
    confidence: float
    valid_from: datetime
    source_episode_ids: tuple[uuid.UUID, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CompileResult:
    """Drafts plus the episodes that could not be compiled.

    The caller must leave ``failed_episode_ids`` uncompiled (no ``last_compiled_at``) so a
    later compile retries them instead of losing them silently.
    """

    drafts: tuple[MemoryDraft, ...]
    failed_episode_ids: tuple[uuid.UUID, ...] = ()


def episode_text(payload: Mapping[str, Any]) -> str:
    """The text of an episode payload, as used by compilers, search and context.

    Rule (the reference's, made total so odd payloads never raise):

    1. ``messages`` (a list): each item rendered on its own line — a mapping as
       ``"<role>: <content>"`` (just the content when it has no role; ``text`` when it has
       no ``content``), a plain string as
       itself; other items and empty contents are skipped. OpenAI-style content parts
       (``[{"type": "text", "text": ...}]``) contribute their texts.
    2. otherwise the first non-empty of ``text``, ``content``, ``message`` (stringified).
    3. otherwise ``""`` (the episode yields no memories).
    """
    return _render(payload, subject_only=False)


def subject_text(payload: Mapping[str, Any]) -> str:
    """Like ``episode_text`` but without messages written by assistants, agents or tools.

    Why: in a support conversation "Hi, I'm Sam from support" is the agent talking; it
    must not become a profile fact about the customer.
    """
    return _render(payload, subject_only=True)


def _render(payload: Mapping[str, Any], *, subject_only: bool) -> str:
    messages = payload.get("messages")
    if isinstance(messages, list):
        rendered = "\n".join(_render_messages(messages, subject_only=subject_only))
        if rendered:
            return rendered
    for key in ("text", "content", "message"):
        value = _as_text(payload.get(key))
        if value:
            return value
    return ""


def _render_messages(messages: Sequence[Any], *, subject_only: bool) -> Iterable[str]:
    for message in messages:
        if isinstance(message, str):
            if message.strip():
                yield message
            continue
        if not isinstance(message, Mapping):
            continue
        role = _as_text(message.get("role"))
        if subject_only and role.strip().lower() in NON_SUBJECT_ROLES:
            continue
        content = _as_text(message.get("content")) or _as_text(message.get("text"))
        if not content.strip():
            continue
        yield f"{role}: {content}" if role else content


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = [_part_text(part) for part in value]
        return "\n".join(part for part in parts if part)
    return str(value)


def _part_text(part: Any) -> str:
    if isinstance(part, Mapping):
        text = part.get("text")
        return text if isinstance(text, str) else ""
    return part if isinstance(part, str) else str(part)


def merge_duplicates(drafts: Iterable[MemoryDraft]) -> list[MemoryDraft]:
    """Collapse drafts of the same kind whose content differs only in case or spacing.

    The first occurrence wins (earliest ``valid_from`` in episode order); later duplicates
    only add their source episodes, so provenance is kept and one compile never stores the
    same fact twice.
    """
    merged: dict[tuple[str, str], MemoryDraft] = {}
    for draft in drafts:
        key = (draft.kind, " ".join(draft.content.casefold().split()))
        first = merged.get(key)
        if first is None:
            merged[key] = draft
            continue
        extra = tuple(i for i in draft.source_episode_ids if i not in first.source_episode_ids)
        if extra:
            merged[key] = replace(first, source_episode_ids=first.source_episode_ids + extra)
    return list(merged.values())
