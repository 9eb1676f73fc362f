"""The in-memory subject index (pure): cosine and BM25 rankings, substring matches, and
applying changes without a rebuild."""

from __future__ import annotations

import struct
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from statewave_server.db.index_rows import IndexRow, parse_tsquery_terms
from statewave_server.services.memory_index import SubjectIndex
from statewave_server.services.memory_index.lexicon import parse_tsvector

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def packed(vector: Sequence[float]) -> bytes:
    """pgvector's binary send format."""
    return struct.pack(f">HH{len(vector)}f", len(vector), 0, *vector)


def row(
    lexemes: str = "",
    *,
    content: str = "",
    vector: Sequence[float] | None = None,
    kind: str = "episode_summary",
    minutes: int = 0,
) -> IndexRow:
    return IndexRow(
        uuid.uuid4(),
        kind,
        T0 + timedelta(minutes=minutes),
        content,
        lexemes,
        packed(vector) if vector is not None else None,
    )


def test_tsvector_and_tsquery_text_forms_parse() -> None:
    terms = parse_tsvector("'apaint':4 'paint':2,5 'sunris':3A")
    assert terms.counts == {"apaint": 1, "paint": 2, "sunris": 1} and terms.length == 4
    quoted = parse_tsvector("'o''brien':1 'new york':2,3")
    assert quoted.counts == {"o'brien": 1, "new york": 2} and quoted.length == 3
    assert parse_tsvector("").counts == {}
    assert parse_tsquery_terms("'paint' | 'sunris' | 'paint'") == ("paint", "sunris")


def test_nearest_is_cosine_over_one_width_skipping_rows_without_vectors() -> None:
    east, north, none, zero = (
        row(vector=[1.0, 0.0]),
        row(vector=[0.0, 3.0]),
        row(),
        row(vector=[0.0, 0.0]),
    )
    index = SubjectIndex.from_rows([east, north, none, zero])
    hits = index.nearest([0.2, 1.0], limit=5)
    assert [h.id for h in hits] == [north.id, east.id]
    assert hits[0].score > 0.9 and 0.1 < hits[1].score < 0.3
    assert index.nearest([1.0, 0.0, 0.0], limit=5) == []  # another model's width
    assert [h.id for h in index.nearest([1.0, 0.0], limit=1)] == [east.id]


def test_kind_filter_applies_to_every_ranking() -> None:
    fact = row("'tea':1", content="Likes tea", vector=[1.0, 0.0], kind="profile_fact")
    summary = row("'tea':1", content="Tea time", vector=[1.0, 0.1])
    index = SubjectIndex.from_rows([fact, summary])
    assert [h.id for h in index.nearest([1.0, 0.0], limit=5, kind="profile_fact")] == [fact.id]
    assert [h.id for h in index.lexical(["tea"], limit=5, kind="profile_fact")] == [fact.id]
    assert index.containing("TEA", limit=5, kind="episode_summary", exclude=[]) == [summary.id]


def test_bm25_prefers_the_rare_word_and_the_shorter_document() -> None:
    common = [row("'paint':1 'carolin':2") for _ in range(5)]
    rare = row("'sunris':1 'paint':2")
    index = SubjectIndex.from_rows([*common, rare])
    assert index.lexical(["paint", "sunris"], limit=1)[0].id == rare.id
    long = row("'hike':1 " + " ".join(f"'w{i}':{i + 2}" for i in range(30)))
    short = row("'hike':1")
    index = SubjectIndex.from_rows([long, short])
    assert [h.id for h in index.lexical(["hike"], limit=5)] == [short.id, long.id]
    assert index.lexical([], limit=5) == [] and index.lexical(["absent"], limit=5) == []


def test_substring_matches_are_case_insensitive_newest_first() -> None:
    old = row(content="Order ORD-1234 shipped", minutes=1)
    new = row(content="Refund for ord-1234 issued", minutes=2)
    other = row(content="Nothing here", minutes=3)
    index = SubjectIndex.from_rows([old, new, other])
    assert index.containing("Ord-12", limit=5, exclude=[]) == [new.id, old.id]
    assert index.containing("ord-12", limit=5, exclude=[new.id]) == [old.id]
    assert index.containing("ord-12", limit=0, exclude=[]) == []


def test_newest_of_a_kind_come_newest_first() -> None:
    rows = [row(minutes=m, kind=k) for m, k in [(1, "procedure"), (3, "fact"), (2, "procedure")]]
    index = SubjectIndex.from_rows(rows)
    assert index.newest("procedure", limit=5) == [rows[2].id, rows[0].id]
    assert index.newest("procedure", limit=1) == [rows[2].id]
    gone = index.changed({rows[2].id}, [])
    assert gone is not None and gone.newest("procedure", limit=5) == [rows[0].id]


def test_changes_mask_old_rows_and_append_new_ones() -> None:
    rows = [row(f"'w{i}':1 'tea':2", vector=[1.0, i / 10]) for i in range(10)]
    index = SubjectIndex.from_rows(rows)
    replaced = row("'coffe':1", vector=[0.0, 1.0])
    gone = rows[0].id
    changed = index.changed({gone, rows[1].id}, [rows[1], replaced])
    assert changed is not None and len(changed) == 10 and len(index) == 10
    assert gone not in {h.id for h in changed.lexical(["tea"], limit=20)}
    assert len(changed.lexical(["tea"], limit=20)) == 9
    assert changed.nearest([0.0, 1.0], limit=1)[0].id == replaced.id
    assert changed.lexical(["coffe"], limit=5)[0].id == replaced.id
    assert index.lexical(["coffe"], limit=5) == []  # the old index is untouched


def test_many_changes_compact_to_the_same_answers() -> None:
    rows = [row(f"'tea':{i + 1}", vector=[1.0, i / 10]) for i in range(10)]
    index = SubjectIndex.from_rows(rows)
    compacted = index.changed({r.id for r in rows[:5]}, [])
    assert compacted is not None and len(compacted.alive) == 5  # masked rows dropped
    assert {h.id for h in compacted.nearest([1.0, 0.0], limit=20)} == {r.id for r in rows[5:]}


def test_a_vector_of_another_width_asks_for_a_rebuild() -> None:
    index = SubjectIndex.from_rows([row(vector=[1.0, 0.0])])
    assert index.changed(set(), [row(vector=[1.0, 0.0, 0.0])]) is None
    empty = SubjectIndex.from_rows([])
    assert empty.changed(set(), [row(vector=[1.0])]) is None
    assert empty.nearest([1.0], limit=3) == [] and empty.lexical(["x"], limit=3) == []
