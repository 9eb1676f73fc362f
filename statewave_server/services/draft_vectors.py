"""Vectors for one compile's drafts, computing each piece of text once.

The embedding model is the compile's ceiling (``bench/compile.py``), so the model sees
only text it has not seen in this compile:

* drafts with the same text (a fact repeated in its own summary, a paraphrase the LLM
  compiler gave twice) share one vector;
* a digest joins gists of turns whose summaries are embedded anyway; its vector is the
  renormalised mean of theirs (the centroid of the stretch it stands for) instead of a
  second, longer inference over the same words.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from statewave_server.services.compiler import MemoryDraft
from statewave_server.services.compiler.drafts import DIGEST_FORM, EPISODE_SUMMARY
from statewave_server.services.embeddings import EmbeddingProvider
from statewave_server.services.embeddings.base import l2_normalize


@dataclass(frozen=True)
class DraftVectors:
    """One vector per draft (in draft order) and how many texts the model embedded."""

    vectors: list[list[float]]
    texts_embedded: int


def is_digest(draft: MemoryDraft) -> bool:
    return draft.metadata.get("form") == DIGEST_FORM


async def embed_drafts(embedder: EmbeddingProvider, drafts: Sequence[MemoryDraft]) -> DraftVectors:
    """Vectors for ``drafts``; digests made of embedded turns cost no inference."""
    turn_drafts = {
        draft.source_episode_ids[0]: draft
        for draft in drafts
        if draft.kind == EPISODE_SUMMARY and not is_digest(draft) and draft.source_episode_ids
    }
    derived = [is_digest(d) and _all_turns_present(d, turn_drafts) for d in drafts]
    unique = list(
        dict.fromkeys(d.content for d, skip in zip(drafts, derived, strict=True) if not skip)
    )
    by_text = dict(zip(unique, await embedder.embed_texts(unique), strict=True))
    by_turn = {episode_id: by_text[draft.content] for episode_id, draft in turn_drafts.items()}
    vectors = [
        centroid([by_turn[i] for i in draft.source_episode_ids]) if skip else by_text[draft.content]
        for draft, skip in zip(drafts, derived, strict=True)
    ]
    return DraftVectors(vectors, len(unique))


def _all_turns_present(digest: MemoryDraft, turns: dict[uuid.UUID, MemoryDraft]) -> bool:
    return bool(digest.source_episode_ids) and all(i in turns for i in digest.source_episode_ids)


def centroid(vectors: Sequence[Sequence[float]]) -> list[float]:
    """The unit-length mean direction of ``vectors`` (unit vectors of one model)."""
    return l2_normalize([math.fsum(column) for column in zip(*vectors, strict=True)])
