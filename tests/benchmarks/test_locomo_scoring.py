"""The LoCoMo bench scores the context *text*: answer containment, evidence shown, and
the cited-ids side column; and its baselines pack whole turns into the exact budget."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from bench import common
from bench.quality import locomo, metrics
from bench.quality.locomo_data import Conversation, Question, Turn

TURN = "I went to the LGBTQ support group yesterday and it was so powerful."


def context(text: str) -> metrics.Context:
    return metrics.Context.of(text)


def test_answer_needs_every_content_word() -> None:
    text = context("Caroline: I signed up for a pottery class and a painting workshop.")
    assert metrics.answer_contained("pottery class", text)
    assert metrics.answer_contained("The pottery class", text)  # "the" is no content word
    assert not metrics.answer_contained("pottery and sculpture", text)
    assert not metrics.answer_contained("", text)
    assert not metrics.answer_contained("the", text)


def test_words_match_whole_words_not_substrings() -> None:
    assert not metrics.answer_contained("art", context("Caroline: I love painting and artists."))


def test_a_full_date_matches_the_same_day_written_another_way() -> None:
    for written in ("### 7 May 2023", "on May 7, 2023", "2023-05-07", "the 7th May, 2023"):
        assert metrics.answer_contained("7 May 2023", context(written)), written
    assert not metrics.answer_contained("7 May 2023", context("### 8 May 2023"))
    # A date is matched as a day; its words need not appear separately, others must.
    assert metrics.answer_contained("The week before 2023-05-07", context("week before 7 May 2023"))
    assert not metrics.answer_contained("The week before 7 May 2023", context("7 May 2023"))


def test_a_month_answer_needs_the_month_word() -> None:
    assert metrics.answer_contained("July 2023", context("### 3 July 2023\n- going"))
    assert not metrics.answer_contained("July 2023", context("### 3 Jul 2023\n- going"))


def test_dates_reads_the_three_forms_and_rejects_impossible_days() -> None:
    assert metrics.dates("8 May, 2023; June 1st 2024; 2022-12-31") == {
        "2023-05-08",
        "2024-06-01",
        "2022-12-31",
    }
    assert metrics.dates("2023-13-40") == set()


def test_evidence_is_shown_only_when_most_of_its_trigrams_are_there() -> None:
    whole = context(f"## Task\nWhen?\n- Caroline: {TURN}\n")
    gist = context("- Caroline: I went to the LGBTQ support group yesterday …")
    assert metrics.evidence_shown([TURN], whole) == 1.0
    assert metrics.evidence_shown([TURN], gist) == 0.0
    assert metrics.evidence_shown([TURN, "Something else entirely, not shown."], whole) == 0.5
    # 80%: one changed word in a 14-word turn removes 3 of 12 trigrams.
    edited = TURN.replace("powerful", "strong").replace("LGBTQ", "local")
    assert metrics.coverage(TURN, metrics.trigrams(edited)) < metrics.SHOWN_SHARE


def test_short_turns_count_as_one_gram() -> None:
    # As in the shared scorer: the gram of a turn under three words is compared whole.
    assert metrics.trigrams("Yes!") == {("yes",)}
    assert metrics.evidence_shown(["Yes!"], context("Yes.")) == 1.0
    assert metrics.evidence_shown(["Yes!"], context("- Mel: yes! sure")) == 0.0


def test_id_recall_is_the_share_of_evidence_cited() -> None:
    assert metrics.id_recall(["D1:1", "D1:2"], ["D1:2", "D9:9"]) == 0.5


def _conversation() -> Conversation:
    when = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    turns = tuple(
        Turn(f"D1:{i}", speaker, text, when, 1)
        for i, (speaker, text) in enumerate(
            [("Caroline", TURN), ("Melanie", "That is great news, Caroline! " * 3)], start=1
        )
    )
    question = Question("When did Caroline go to the group?", 2, ("D1:1",), "7 May 2023")
    return Conversation("t", ("Caroline", "Melanie"), turns, (question,))


def test_score_text_scores_only_the_text_not_the_citation() -> None:
    conversation = _conversation()
    turns = {t.dia_id: t for t in conversation.turns}
    question = conversation.questions[0]
    gist = "## Task\nx\n- Caroline: I went"
    cited_but_hidden = locomo.score_text(gist, question, turns, ["D1:1"])
    assert cited_but_hidden == {"answer": 0.0, "shown": 0.0, "ids": 1.0}
    shown = locomo.score_text(f"### 8 May 2023\n- Caroline: {TURN}", question, turns, [])
    assert shown == {"answer": 0.0, "shown": 1.0, "ids": 0.0}  # "yesterday" ≠ 7 May


def test_baselines_pack_whole_dated_turns_within_the_exact_budget() -> None:
    conversation = _conversation()
    lines = [locomo.baseline_line(t) for t in conversation.turns]
    assert lines[0] == f"- [08 May 2023] Caroline: {TURN}"
    header = "## Task\nWhen did Caroline go to the group?\n"
    costs = locomo.line_costs(lines, common.count_tokens)
    assert costs == [common.count_tokens(f"{line}\n") for line in lines]
    for budget in (1, 30, 60, 200):
        text, taken = locomo.packed_text(header, lines, costs, [1, 0], budget, common.count_tokens)
        assert common.count_tokens(text) <= budget or not taken
        assert text == header + "".join(f"{lines[i]}\n" for i in taken)
    text, taken = locomo.packed_text(header, lines, costs, [1, 0], 200, common.count_tokens)
    assert taken == [1, 0]
    _, stopped = locomo.packed_text(
        header, lines, costs, [1, 0], 40, common.count_tokens, stop_at_first_miss=True
    )
    assert stopped == []


def test_generic_roles_keep_the_name_in_the_text_only() -> None:
    conversation = _conversation()
    first, second = (locomo.episode(conversation, i, "generic") for i in (0, 1))
    assert first["payload"]["messages"] == [{"role": "user", "content": f"Caroline: {TURN}"}]
    assert second["payload"]["messages"][0]["role"] == "assistant"
    named = locomo.episode(conversation, 0)
    assert named["payload"]["messages"] == [{"role": "Caroline", "content": TURN}]


@pytest.mark.parametrize("status", [500, 502, 422])
def test_any_error_status_fails_the_run(status: int) -> None:
    request = httpx.Request("POST", "http://bench/v1/memories/compile")
    with pytest.raises(RuntimeError, match=str(status)):
        locomo.checked(httpx.Response(status, request=request, text="boom"))
    assert locomo.checked(httpx.Response(200, request=request)).status_code == 200


def test_results_are_refused_from_a_dirty_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    dirty = {"git_head": "abc1234", "server_code_dirty": "yes", "bench_code_dirty": "no"}
    monkeypatch.setattr(common, "code_info", lambda: dirty)
    with pytest.raises(common.DirtyTreeError, match="abc1234"):
        common.write_result("never-written", {})
    assert not (common.RESULTS_JSON_DIR / "never-written.json").exists()
