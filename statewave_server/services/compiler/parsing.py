"""Turning a model's JSON reply into drafts, defensively.

Models drift from the requested shape; we accept the common variants and coerce each item
on its own, so one odd item costs that item only — never the batch or the compile
(the reference aborted the whole compile on a non-numeric confidence).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Final, cast

from statewave_server.services.compiler.drafts import (
    EPISODE_SUMMARY,
    EpisodeInput,
    MemoryDraft,
    MemoryKind,
)
from statewave_server.services.llm import LLMResponseError

LLM_KINDS: Final = frozenset({"profile_fact", "episode_summary", "procedure"})
DEFAULT_CONFIDENCE: Final = 0.7
SUMMARY_CHARS: Final = 200
_LIST_KEYS: Final = ("memories", "items", "results")


def reply_items(reply: Any) -> list[Any]:
    """The list of memory items in a reply.

    Accepted: a list; an object with a list under ``memories``, ``items`` or ``results``; a
    single memory object (``kind`` and ``content``); an empty object (nothing to extract).
    Anything else is ``LLMResponseError`` — the batch is retried later, not dropped.
    """
    if isinstance(reply, list):
        return reply
    if isinstance(reply, Mapping):
        for key in _LIST_KEYS:
            value = reply.get(key)
            if isinstance(value, list):
                return value
        if "kind" in reply and "content" in reply:
            return [reply]
        if not reply:
            return []
    raise LLMResponseError(f"no memories in LLM reply: {json.dumps(reply)[:200]}")


def parse_items(reply: Any, episodes: Sequence[EpisodeInput], *, model: str) -> list[MemoryDraft]:
    """Drafts for the usable items of ``reply``, each tied to its source episode."""
    drafts = []
    for item in reply_items(reply):
        draft = _to_draft(item, episodes, model=model)
        if draft is not None:
            drafts.append(draft)
    return drafts


def _to_draft(item: Any, episodes: Sequence[EpisodeInput], *, model: str) -> MemoryDraft | None:
    if not isinstance(item, Mapping):
        return None
    episode_index = _episode_index(item.get("episode_index"), len(episodes))
    if episode_index is None:
        return None
    content = _text(item.get("content"), "\n").strip()
    if not content:
        return None
    summary = _text(item.get("summary"), " ").strip()[:SUMMARY_CHARS] or content[:SUMMARY_CHARS]
    episode = episodes[episode_index]
    kind = item.get("kind")
    return MemoryDraft(
        kind=cast(MemoryKind, kind) if kind in LLM_KINDS else EPISODE_SUMMARY,
        content=content,
        summary=summary,
        confidence=_confidence(item.get("confidence")),
        valid_from=episode.time,
        source_episode_ids=(episode.id,),
        metadata={"compiler": "llm", "model": model},
    )


def _episode_index(value: Any, count: int) -> int | None:
    """The item's episode; ``None`` (skip) when it cannot be told in a multi-episode batch.

    The reference silently credited such items to episode 0, which corrupts provenance.
    """
    if count == 1:
        return 0
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < count:
        return value
    return None


def _text(value: Any, separator: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return separator.join(_text(part, separator) for part in value if part is not None)
    if isinstance(value, Mapping):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _confidence(value: Any) -> float:
    """A number in [0, 1]; anything unusable (text, bool, NaN, missing) is the default."""
    if isinstance(value, bool):
        return DEFAULT_CONFIDENCE
    if isinstance(value, str):
        try:
            value = float(value.strip().rstrip("%")) / (100 if value.strip().endswith("%") else 1)
        except ValueError:
            return DEFAULT_CONFIDENCE
    if not isinstance(value, int | float) or math.isnan(value):
        return DEFAULT_CONFIDENCE
    return min(1.0, max(0.0, float(value)))
