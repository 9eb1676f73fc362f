"""Each piece of a compile's text reaches the embedding model once; digests reuse their turns."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from statewave_server.services.compiler import compile_episodes
from statewave_server.services.compiler.drafts import EPISODE_SUMMARY, PROFILE_FACT, MemoryDraft
from statewave_server.services.draft_vectors import (
    centroid,
    embed_draft_groups,
    embed_drafts,
    is_digest,
)
from statewave_server.services.embeddings import TextVectorCache
from statewave_server.services.embeddings.hashing import HashEmbeddingProvider
from tests.services.test_compiler_digest import T0, turn


class RecordingProvider(HashEmbeddingProvider):
    """The real hash provider, remembering every text it was asked to embed."""

    def __init__(self) -> None:
        super().__init__(dimensions=32)
        self.seen: list[str] = []

    async def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        self.seen.extend(texts)
        return await super().embed_texts(texts)


CONVERSATION = [
    ("Gina", "I lost my job as a banker last week, so I started my own dance studio."),
    ("Jon", "Wow, a dance studio! Where is it going to be located downtown?"),
    ("Gina", "I found a great spot near the river with wooden floors and big mirrors."),
    ("Jon", "My name is Jon. I live in Lisbon and I teach contemporary dance classes."),
    ("Gina", "We should plan a joint workshop for the festival next spring in Lisbon."),
    ("Jon", "Yes! The festival organisers asked me for two dancers from my studio."),
]


async def test_digests_take_the_centroid_of_their_turns_and_are_not_embedded() -> None:
    drafts = compile_episodes(turn(s, t, i) for i, (s, t) in enumerate(CONVERSATION))
    digests = [d for d in drafts if is_digest(d)]
    assert digests, "the conversation should produce digests"
    provider = RecordingProvider()

    result = await embed_drafts(provider, drafts)

    assert not {d.content for d in digests} & set(provider.seen)
    assert result.texts_embedded == len(provider.seen) == len(set(provider.seen))
    by_content = {d.content: v for d, v in zip(drafts, result.vectors, strict=True)}
    summaries = {
        d.source_episode_ids[0]: d for d in drafts if d.kind == EPISODE_SUMMARY and not is_digest(d)
    }
    for digest in digests:
        turns = [by_content[summaries[i].content] for i in digest.source_episode_ids]
        assert by_content[digest.content] == centroid(turns)
        assert math.isclose(math.hypot(*by_content[digest.content]), 1.0)


async def test_the_same_text_is_embedded_once_and_shared() -> None:
    fact = MemoryDraft(PROFILE_FACT, "I live in Lisbon", "I live in Lisbon", 0.6, T0, ())
    provider = RecordingProvider()

    result = await embed_drafts(provider, [fact, fact, fact])

    assert provider.seen == ["I live in Lisbon"]
    assert result.texts_embedded == 1
    assert result.vectors[0] == result.vectors[1] == result.vectors[2]


async def test_a_digest_whose_turns_are_not_in_the_compile_is_embedded_itself() -> None:
    drafts = compile_episodes(turn(s, t, i) for i, (s, t) in enumerate(CONVERSATION))
    digest = next(d for d in drafts if is_digest(d))
    provider = RecordingProvider()

    result = await embed_drafts(provider, [digest])

    assert provider.seen == [digest.content]
    assert result.vectors == await HashEmbeddingProvider(32).embed_texts([digest.content])


def test_centroid_is_the_unit_mean_direction() -> None:
    assert centroid([[1.0, 0.0], [0.0, 1.0]]) == [1 / math.sqrt(2), 1 / math.sqrt(2)]


async def test_a_text_stored_lately_is_not_embedded_again() -> None:
    """A fact another subject stated a moment ago costs a lookup, not an inference."""
    cache = TextVectorCache(max_entries=16)
    provider = RecordingProvider()
    fact = MemoryDraft(PROFILE_FACT, "We're on the Pro plan", "We're on the Pro plan", 0.6, T0, ())
    other = MemoryDraft(PROFILE_FACT, "I work at Globex", "I work at Globex", 0.6, T0, ())

    first = await embed_drafts(provider, [fact], cache)
    second = await embed_drafts(provider, [other, fact], cache)

    assert provider.seen == ["We're on the Pro plan", "I work at Globex"]
    assert (first.texts_embedded, second.texts_embedded) == (1, 1)
    # Kept at the precision memories are stored at.
    assert second.vectors[1] == [float(np.float32(x)) for x in first.vectors[0]]


async def test_groups_count_only_what_the_model_computed() -> None:
    cache = TextVectorCache(max_entries=16)
    provider = RecordingProvider()
    shared = MemoryDraft(PROFILE_FACT, "I live in Lisbon", "I live in Lisbon", 0.6, T0, ())
    fresh = MemoryDraft(PROFILE_FACT, "I live in Porto", "I live in Porto", 0.6, T0, ())
    await embed_drafts(provider, [shared], cache)

    counts = await embed_draft_groups(provider, [[shared], [fresh, shared], [fresh]], cache)

    assert [c.texts_embedded for c in counts] == [0, 1, 0]
    assert provider.seen == ["I live in Lisbon", "I live in Porto"]


def test_the_cache_keeps_the_most_recently_used_texts_and_separates_models() -> None:
    cache = TextVectorCache(max_entries=2)
    cache.put("m", "a", [1.0, 0.0])
    cache.put("m", "b", [0.0, 1.0])
    assert cache.get("m", "a") == [1.0, 0.0]  # "a" is now the most recent
    cache.put("m", "c", [0.6, 0.8])
    assert (cache.get("m", "b"), len(cache)) == (None, 2)
    assert cache.get("m", "a") is not None and cache.get("m", "c") is not None
    assert cache.get("other-model", "a") is None
    with pytest.raises(ValueError):
        TextVectorCache(max_entries=0)
