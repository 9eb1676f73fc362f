"""Digests: the gist of a turn, and exchange/speaker digests of a session's turns."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from statewave_server.services.compiler import EpisodeInput, compile_episodes
from statewave_server.services.compiler.digest import (
    DIGEST_TURNS,
    SEPARATOR,
    digest_drafts,
    gist,
    rarity,
)
from statewave_server.services.compiler.drafts import DIGEST_FORM, MemoryDraft

T0 = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)


def turn(speaker: str, text: str, index: int, session: str | None = "s1") -> EpisodeInput:
    return EpisodeInput(
        id=uuid.uuid4(),
        payload={"messages": [{"role": speaker, "content": text}]},
        created_at=T0,
        occurred_at=T0 + timedelta(seconds=10 * index),
        session_id=session,
    )


def digests(drafts: list[MemoryDraft]) -> list[MemoryDraft]:
    return [d for d in drafts if d.metadata.get("form") == DIGEST_FORM]


def test_gist_keeps_the_speaker_and_the_sentence_with_the_rarest_words() -> None:
    idf = rarity(["Jon: I love to dance", "Gina: dance is life", "Jon: dance dance"])
    text = "Jon: Wow, that's so cool! I love to dance every day. I bought Marley flooring today."
    assert gist(text, idf, limit=40) == "Jon: I bought Marley flooring today."


def test_gist_of_filler_is_empty_and_a_long_sentence_is_cut_at_a_word() -> None:
    assert gist("Mel: Thanks, Caroline! That's awesome!") == ""
    long = "Ann: " + " ".join(["pottery"] * 40) + "."
    cut = gist(long, limit=30)
    assert cut.startswith("Ann: pottery") and cut.endswith(" …")
    assert len(cut) <= len("Ann: ") + 30 + 2


def test_exchange_digests_cover_consecutive_turns_and_skip_filler_turns() -> None:
    lines = [
        ("Gina", "Who are the dancers in the photo you shared?"),
        ("Jon", "They are the troupe performing at the summer festival!"),
        ("Gina", "Thanks, Jon! That's awesome!"),
        ("Jon", "We rehearse in the new studio downtown every evening."),
    ]
    turns = [turn(who, text, i) for i, (who, text) in enumerate(lines)]
    exchange = [d for d in digests(digest_drafts(turns, 0.8)) if len(d.source_episode_ids) == 3]

    assert len(exchange) == 1
    digest = exchange[0]
    assert digest.source_episode_ids == (turns[0].id, turns[1].id, turns[3].id)
    parts = digest.content.split(SEPARATOR)
    assert [p.split(":")[0] for p in parts] == ["Gina", "Jon", "Jon"]
    assert "Thanks" not in digest.content
    assert digest.valid_from == turns[0].occurred_at


def test_speaker_digests_hold_one_speakers_turns_and_sessions_never_mix() -> None:
    first = [turn("Mel", f"I took the kids to the museum number {i} today.", i) for i in range(3)]
    other = [turn("Mel", "We went camping by the lake last weekend.", 9, session="s2")]
    drafts = digests(
        digest_drafts([*first, *other, turn("Ann", "My pottery class was fun.", 4)], 0.8)
    )
    speaker = [d for d in drafts if set(d.source_episode_ids) <= {t.id for t in first}]

    assert speaker and all(d.content.count("Mel:") == len(d.source_episode_ids) for d in speaker)
    assert not any(other[0].id in d.source_episode_ids for d in drafts)  # alone in its session


def test_digests_stretch_at_most_digest_turns_and_need_a_session() -> None:
    count = 2 * DIGEST_TURNS + 1
    turns = [turn("Ann", f"Detail {i} about the garden project plans.", i) for i in range(count)]
    drafts = digests(compile_episodes(turns))  # one speaker: exchange = speaker digests
    assert [len(d.source_episode_ids) for d in drafts] == [DIGEST_TURNS, DIGEST_TURNS]
    # The last turn alone is no digest: its own summary says it all.
    assert {i for d in drafts for i in d.source_episode_ids} == {t.id for t in turns[:-1]}

    loose = [turn("Ann", f"Detail {i} of the garden.", i, session=None) for i in range(4)]
    assert digests(digest_drafts(loose, 0.8)) == []


def test_compile_stores_a_stretch_found_both_ways_once() -> None:
    turns = [turn("user", f"Our export job {i} fails with a timeout error.", i) for i in range(3)]
    drafts = digests(compile_episodes(turns))
    assert len(drafts) == 1  # the exchange and the speaker's stretch are the same text
    assert drafts[0].source_episode_ids == tuple(t.id for t in turns)
