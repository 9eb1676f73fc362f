"""Tool arguments: the ``/v1`` wire models (same limits), plus what a model needs to read.

Each model forbids unknown keys (a misspelt ``sesion_id`` is an error, not silently
dropped) and carries a description per property in its JSON schema, so a model calling the
tool knows what to send. MCP-only bounds keep results small: context and handoff budgets
and list sizes are capped below the REST API's.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from statewave_server.api.schemas.common import MAX_OFFSET, NO_NUL, SubjectId
from statewave_server.api.schemas.context import ContextRequest
from statewave_server.api.schemas.episodes import CreateEpisode
from statewave_server.api.schemas.support import CreateResolution, HandoffRequest

MAX_CONTEXT_TOKENS = 8000
DEFAULT_CONTEXT_TOKENS = 1500
MAX_HANDOFF_TOKENS = 4000
DEFAULT_HANDOFF_TOKENS = 1000
MAX_SEARCH_RESULTS = 20
MAX_TIMELINE_ITEMS = 50

_SUBJECT = (
    "Who or what the memory is about: a user, customer, account or repository id "
    "(1-256 characters). Use the same id every time for the same subject."
)
_SESSION = "Conversation, ticket or run this belongs to (1-256 characters)."


def described(descriptions: dict[str, str]) -> ConfigDict:
    """Model config that forbids unknown keys and sets each named property's description."""

    def apply(schema: dict[str, Any]) -> None:
        properties = schema.get("properties", {})
        for name, text in descriptions.items():
            properties[name]["description"] = text

    return ConfigDict(extra="forbid", json_schema_extra=apply)


class RecordEpisode(CreateEpisode):
    model_config = described(
        {
            "subject_id": _SUBJECT,
            "source": "Who produced it: 'user', 'assistant', 'tool', 'system' or your own label.",
            "type": "What it is: 'message', 'tool_call', 'ticket', 'note'...",
            "payload": (
                'The content. For conversation turns use {"messages": [{"role": "user", '
                '"content": "..."}]}; otherwise {"text": "..."}. Any JSON object is kept.'
            ),
            "metadata": "Optional JSON object stored alongside (tags, channel...).",
            "provenance": "Optional JSON object saying where this came from (ids, URLs).",
            "session_id": _SESSION + " Needed for resolutions, handoffs and session context.",
            "occurred_at": (
                "When it happened (ISO 8601 with a timezone, e.g. 2025-01-31T09:30:00Z); "
                "default: now."
            ),
            "idempotency_key": (
                "Optional key unique per subject; recording the same episode again with "
                "it stores nothing new and returns the stored one (safe retries); other "
                "content under a used key is an idempotency_conflict error."
            ),
        }
    )


class RecordEpisodes(BaseModel):
    model_config = described(
        {"episodes": "1-100 episodes, each as for record_episode; stored all or nothing."}
    )

    episodes: list[RecordEpisode] = Field(min_length=1, max_length=100)


class SubjectArgs(BaseModel):
    model_config = described({"subject_id": _SUBJECT})

    subject_id: SubjectId


class ContextArgs(ContextRequest):
    model_config = described(
        {
            "subject_id": _SUBJECT,
            "task": (
                "What you are about to do or answer, in plain words (1-4000 characters); "
                "memories are ranked by relevance to it."
            ),
            "max_tokens": (
                f"Token budget of the assembled context (1-{MAX_CONTEXT_TOKENS}, "
                f"default {DEFAULT_CONTEXT_TOKENS})."
            ),
            "session_id": "Optional current session: its recent turns are preferred.",
        }
    )

    max_tokens: int = Field(default=DEFAULT_CONTEXT_TOKENS, ge=1, le=MAX_CONTEXT_TOKENS)


class SearchArgs(BaseModel):
    model_config = described(
        {
            "subject_id": _SUBJECT,
            "query": (
                "Words to look for (up to 4000 characters). Omit to list the newest memories."
            ),
            "semantic": ("true (default): rank by meaning and words together; false: words only."),
            "kind": (
                "Only this kind: profile_fact (facts about the subject), episode_summary, "
                "procedure, artifact_ref."
            ),
            "limit": f"How many memories at most (1-{MAX_SEARCH_RESULTS}, default 10).",
        }
    )

    subject_id: SubjectId
    query: Annotated[str, StringConstraints(max_length=4000, pattern=NO_NUL)] | None = None
    semantic: bool = True
    kind: Literal["profile_fact", "episode_summary", "procedure", "artifact_ref"] | None = None
    limit: int = Field(default=10, ge=1, le=MAX_SEARCH_RESULTS)


class TimelineArgs(BaseModel):
    model_config = described(
        {
            "subject_id": _SUBJECT,
            "limit": (
                f"Episodes and memories per page, each (1-{MAX_TIMELINE_ITEMS}, default 20)."
            ),
            "offset": "How many of the newest (or oldest) to skip: for paging.",
            "newest_first": "true (default): the latest page; false: from the beginning.",
        }
    )

    subject_id: SubjectId
    limit: int = Field(default=20, ge=1, le=MAX_TIMELINE_ITEMS)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)
    newest_first: bool = True


class ResolutionArgs(CreateResolution):
    model_config = described(
        {
            "subject_id": _SUBJECT,
            "session_id": "The session (ticket, conversation) whose outcome this records.",
            "status": "open, resolved or unresolved (default open).",
            "resolution_summary": "What fixed it or why it stays open (up to 2000 characters).",
            "metadata": "Optional JSON object stored with the resolution.",
        }
    )


class HandoffArgs(HandoffRequest):
    model_config = described(
        {
            "subject_id": _SUBJECT,
            "session_id": "The session being handed over.",
            "reason": "Why: escalation, shift_change, transfer... (default escalation).",
            "max_tokens": (
                f"Token budget of the brief (1-{MAX_HANDOFF_TOKENS}, "
                f"default {DEFAULT_HANDOFF_TOKENS})."
            ),
        }
    )

    max_tokens: int = Field(default=DEFAULT_HANDOFF_TOKENS, ge=1, le=MAX_HANDOFF_TOKENS)
