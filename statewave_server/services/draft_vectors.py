"""Vectors for one compile's drafts, computing each piece of text once.

The embedding model is the compile's ceiling (``bench/compile.py``), so the model sees
only text it has not seen in this compile, nor lately (``TextVectorCache``: a fact many
customers state, a reply like "Thanks!"):

* drafts with the same text (a fact repeated in its own summary, a paraphrase the LLM
  compiler gave twice) share one vector;
* a digest joins gists of turns whose summaries are embedded anyway; its vector is the
  renormalised mean of theirs (the centroid of the stretch it stands for) instead of a
  second, longer inference over the same words.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from statewave_server.services.compiler import MemoryDraft
from statewave_server.services.compiler.drafts import DIGEST_FORM, EPISODE_SUMMARY
from statewave_server.services.embeddings import EmbeddingProvider, TextVectorCache


@dataclass(frozen=True)
class DraftVectors:
    """One vector per draft (in draft order) and how many texts the model embedded."""

    vectors: list[list[float]]
    texts_embedded: int


def is_digest(draft: MemoryDraft) -> bool:
    return draft.metadata.get("form") == DIGEST_FORM


async def embed_drafts(
    embedder: EmbeddingProvider,
    drafts: Sequence[MemoryDraft],
    cache: TextVectorCache | None = None,
) -> DraftVectors:
    """Vectors for ``drafts``; digests made of embedded turns cost no inference."""
    (vectors,) = await embed_draft_groups(embedder, [drafts], cache)
    return vectors


async def embed_draft_groups(
    embedder: EmbeddingProvider,
    groups: Sequence[Sequence[MemoryDraft]],
    cache: TextVectorCache | None = None,
) -> list[DraftVectors]:
    """Vectors for several compiles' drafts (one per subject) with one model call for all
    their texts, so the embedder batches across subjects; texts in ``cache`` (stored as
    memories lately) are not embedded again. Each group's ``texts_embedded`` counts the
    texts the model computed for it, the first group to need a text paying for it."""
    derived = [_derived(drafts) for drafts in groups]
    needed = [
        list(dict.fromkeys(d.content for d, skip in zip(drafts, flags, strict=True) if not skip))
        for drafts, flags in zip(groups, derived, strict=True)
    ]
    unique = list(dict.fromkeys(text for texts in needed for text in texts))
    by_text = await _vectors(embedder, unique, cache)
    paid = {text for text in unique if text not in by_text.computed}
    results = []
    for drafts, flags, texts in zip(groups, derived, needed, strict=True):
        by_turn = {
            draft.source_episode_ids[0]: by_text.vectors[draft.content] for draft in _turns(drafts)
        }
        vectors = [
            centroid([by_turn[i] for i in d.source_episode_ids])
            if skip
            else by_text.vectors[d.content]
            for d, skip in zip(drafts, flags, strict=True)
        ]
        results.append(DraftVectors(vectors, len(set(texts) - paid)))
        paid.update(texts)
    return results


@dataclass(frozen=True)
class _TextVectors:
    vectors: dict[str, list[float]]
    computed: frozenset[str]  # the texts the model embedded (the rest came from the cache)


async def _vectors(
    embedder: EmbeddingProvider, texts: Sequence[str], cache: TextVectorCache | None
) -> _TextVectors:
    """Each text's vector: from ``cache`` when there, else from one model call (and then
    remembered)."""
    vectors: dict[str, list[float]] = {}
    if cache is not None:
        for text in texts:
            if (cached := cache.get(embedder.model, text)) is not None:
                vectors[text] = cached
    missing = [text for text in texts if text not in vectors]
    if missing:
        for text, vector in zip(missing, await embedder.embed_texts(missing), strict=True):
            vectors[text] = vector
            if cache is not None:
                cache.put(embedder.model, text, vector)
    return _TextVectors(vectors, frozenset(missing))


def _turns(drafts: Sequence[MemoryDraft]) -> list[MemoryDraft]:
    """The per-turn summaries, whose vectors a digest over those turns averages."""
    return [
        d for d in drafts if d.kind == EPISODE_SUMMARY and not is_digest(d) and d.source_episode_ids
    ]


def _derived(drafts: Sequence[MemoryDraft]) -> list[bool]:
    """Per draft: a digest whose turns are all in this compile (its vector is their mean)."""
    turns = {d.source_episode_ids[0]: d for d in _turns(drafts)}
    return [is_digest(d) and _all_turns_present(d, turns) for d in drafts]


def _all_turns_present(digest: MemoryDraft, turns: dict[uuid.UUID, MemoryDraft]) -> bool:
    return bool(digest.source_episode_ids) and all(i in turns for i in digest.source_episode_ids)


def centroid(vectors: Sequence[Sequence[float]]) -> list[float]:
    """The unit-length mean direction of ``vectors`` (unit vectors of one model)."""
    total = np.asarray(vectors, dtype=np.float64).sum(axis=0)
    norm = float(np.linalg.norm(total))
    unit: list[float] = (total / norm if norm else total).tolist()
    return unit
