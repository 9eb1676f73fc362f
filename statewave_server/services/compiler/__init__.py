"""Compilers turn episodes into memory drafts; pure domain logic, no database, no HTTP.

The compile service loads episodes, calls ``make_compiler(...).compile(episodes)``, stores
the drafts, marks every episode *except* ``failed_episode_ids`` compiled, then applies
``find_supersessions`` to the subject's memories of one tenant.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from statewave_server.services.compiler.conflicts import (
    MemoryRecord,
    Supersession,
    find_supersessions,
)
from statewave_server.services.compiler.drafts import (
    CompileResult,
    EpisodeInput,
    MemoryDraft,
    MemoryKind,
    episode_text,
    subject_text,
)
from statewave_server.services.compiler.heuristic import HeuristicCompiler, compile_episodes
from statewave_server.services.compiler.llm import LLMCompiler
from statewave_server.services.llm import LLMClient

COMPILER_TYPES = ("heuristic", "llm")


class Compiler(Protocol):
    """What the compile service needs from a compiler."""

    @property
    def name(self) -> str: ...

    async def compile(self, episodes: Sequence[EpisodeInput]) -> CompileResult: ...


def make_compiler(
    compiler_type: str, *, llm_client: LLMClient | None = None, llm_max_concurrency: int = 4
) -> Compiler:
    """The compiler for ``STATEWAVE_COMPILER_TYPE``; unknown types fail loudly (ValueError)."""
    kind = compiler_type.strip().lower()
    if kind == "heuristic":
        return HeuristicCompiler()
    if kind == "llm":
        if llm_client is None:
            raise ValueError("compiler type 'llm' needs an LLM client (STATEWAVE_LITELLM_*)")
        return LLMCompiler(llm_client, max_concurrent_batches=llm_max_concurrency)
    raise ValueError(f"unknown compiler type {compiler_type!r}; expected one of {COMPILER_TYPES}")


__all__ = [
    "COMPILER_TYPES",
    "CompileResult",
    "Compiler",
    "EpisodeInput",
    "HeuristicCompiler",
    "LLMCompiler",
    "MemoryDraft",
    "MemoryKind",
    "MemoryRecord",
    "Supersession",
    "compile_episodes",
    "episode_text",
    "find_supersessions",
    "make_compiler",
    "subject_text",
]
