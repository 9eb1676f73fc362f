"""The ``llm`` compiler: a chat model extracts typed memories from batches of episodes.

Episodes are sent in order-preserving batches (≤ 6000 characters of text, each text cut to
4000) with at most ``STATEWAVE_LLM_MAX_CONCURRENCY`` (default 4) calls in flight across every
compile of the process: concurrent compiles fill the provider's slots instead of each
opening its own four, so the provider's rate limit sees a bounded number of requests. A
batch whose call fails (timeout, provider error, unusable JSON) is reported in
``CompileResult.failed_episode_ids`` so the caller leaves those episodes uncompiled for a
retry — unlike the reference, nothing is lost. Individual bad items in a good reply are
skipped; they never fail the compile.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import structlog

from statewave_server.services.compiler.drafts import (
    CompileResult,
    EpisodeInput,
    MemoryDraft,
    merge_duplicates,
)
from statewave_server.services.compiler.parsing import parse_items
from statewave_server.services.llm import LLMClient, LLMError

log = structlog.get_logger("statewave.compiler.llm")

MAX_TEXT_CHARS: Final = 4000
MAX_BATCH_CHARS: Final = 6000
MAX_CONCURRENT_BATCHES: Final = 4
TEMPERATURE: Final = 0.1

SYSTEM_PROMPT: Final = """\
You are the memory extraction engine of Statewave, a memory service for AI agents.
You receive numbered episodes: conversations, support interactions, documentation
sections or other content about one subject. Extract durable memories from them.

Memory kinds:
- "profile_fact": a concrete statement about the subject or the system it describes that \
stays true beyond this moment (who they are, where they work, their plan, their setup, \
their preferences, how the product behaves). Not a transient value.
- "episode_summary": a concise summary of what happened in the episode, or of what the \
section explains.
- "procedure": a step-by-step process or instruction.

Return a JSON object {"memories": [...]} where every memory has:
"kind", "content" (the memory as a self-contained statement), "summary" (one sentence, at \
most 200 characters), "confidence" (a number from 0 to 1) and "episode_index" (the \
0-based number of the episode it comes from).

Rules:
- Extract every distinct fact; do not merge unrelated facts into one memory.
- Never invent anything that the episodes do not say.
- Do not turn values inside code blocks, JSON examples, sample API responses or \
curl/shell snippets (placeholder ids, sample values) into profile facts; do extract the \
prose around them. For a section that is mostly code or examples, return one \
episode_summary saying what it is about.
- Skip episodes with nothing worth remembering.
- Output only the JSON object, without Markdown fences or commentary."""


@dataclass(frozen=True, slots=True)
class _Batch:
    episodes: tuple[EpisodeInput, ...]
    texts: tuple[str, ...]


def make_batches(
    episodes: Sequence[EpisodeInput],
    *,
    max_text_chars: int = MAX_TEXT_CHARS,
    max_batch_chars: int = MAX_BATCH_CHARS,
) -> list[_Batch]:
    """Greedy, in order: episodes with text, cut to ``max_text_chars``, ≤ ``max_batch_chars``."""
    batches: list[_Batch] = []
    current: list[tuple[EpisodeInput, str]] = []
    size = 0
    for episode in episodes:
        text = episode.text.strip()[:max_text_chars]
        if not text:
            continue
        if current and size + len(text) > max_batch_chars:
            batches.append(_to_batch(current))
            current, size = [], 0
        current.append((episode, text))
        size += len(text)
    if current:
        batches.append(_to_batch(current))
    return batches


def _to_batch(items: list[tuple[EpisodeInput, str]]) -> _Batch:
    return _Batch(episodes=tuple(e for e, _ in items), texts=tuple(t for _, t in items))


def render_user_message(texts: Sequence[str]) -> str:
    """The user turn: the instruction plus each episode under a ``--- Episode i ---`` header."""
    body = "\n\n".join(f"--- Episode {i} ---\n{text}" for i, text in enumerate(texts))
    return (
        f"Extract memories from these {len(texts)} episode(s). Return a JSON object with a "
        f'single key "memories" holding the array of memories.\n\n{body}'
    )


class LLMCompiler:
    """The ``llm`` compiler type; needs an ``LLMClient`` (see ``services/llm.py``)."""

    name: Final = "llm"

    def __init__(
        self,
        client: LLMClient,
        *,
        model: str | None = None,
        max_concurrent_batches: int = MAX_CONCURRENT_BATCHES,
        batch_timeout_seconds: float | None = None,
        max_text_chars: int = MAX_TEXT_CHARS,
        max_batch_chars: int = MAX_BATCH_CHARS,
    ) -> None:
        self._client = client
        self._model = model or client.model
        self._gate = asyncio.Semaphore(max(1, max_concurrent_batches))
        self._timeout = batch_timeout_seconds
        self._max_text_chars = max_text_chars
        self._max_batch_chars = max_batch_chars

    async def compile(self, episodes: Sequence[EpisodeInput]) -> CompileResult:
        """Drafts from every batch that succeeded; episodes of failed batches listed apart."""
        batches = make_batches(
            episodes, max_text_chars=self._max_text_chars, max_batch_chars=self._max_batch_chars
        )

        async def run(batch: _Batch) -> list[MemoryDraft] | None:
            async with self._gate:
                return await self._compile_batch(batch)

        outcomes = await asyncio.gather(*(run(batch) for batch in batches))
        drafts: list[MemoryDraft] = []
        failed: list[uuid.UUID] = []
        for batch, outcome in zip(batches, outcomes, strict=True):
            if outcome is None:
                failed.extend(e.id for e in batch.episodes)
            else:
                drafts.extend(outcome)
        return CompileResult(
            drafts=tuple(merge_duplicates(drafts)), failed_episode_ids=tuple(failed)
        )

    async def _compile_batch(self, batch: _Batch) -> list[MemoryDraft] | None:
        """The batch's drafts, or ``None`` when the call failed (logged, retried later)."""
        messages = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": render_user_message(batch.texts)},
        ]
        try:
            reply: Any = await self._client.complete_json(
                messages,
                model=self._model,
                temperature=TEMPERATURE,
                max_tokens=min(3000, 500 * len(batch.episodes)),
                timeout_seconds=self._timeout,
            )
            return parse_items(reply, batch.episodes, model=self._model)
        except LLMError as exc:
            log.warning(
                "llm_batch_failed",
                episodes=len(batch.episodes),
                error=type(exc).__name__,
                detail=str(exc)[:200],
            )
            return None
