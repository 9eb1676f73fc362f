"""Loading the LoCoMo conversations used by the memory-quality bench.

The data (``../shared/bench/locomo/``) is a subset of LoCoMo ("Evaluating Very Long-Term
Conversational Memory of LLM Agents", ACL 2024, github.com/snap-research/locomo),
licensed CC BY-NC 4.0 by its authors: evaluation only; keep this notice in anything
derived from it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "bench" / "locomo"
ADVERSARIAL = 5
CATEGORY_NAMES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
_SESSION = re.compile(r"session_(\d+)")


@dataclass(frozen=True)
class Turn:
    dia_id: str
    speaker: str
    text: str
    occurred_at: datetime
    session: int

    @property
    def line(self) -> str:
        """How the turn reads as one piece of context (and as the episode's text)."""
        return f"{self.speaker}: {self.text}"


@dataclass(frozen=True)
class Question:
    question: str
    category: int
    evidence: tuple[str, ...]
    answer: str = ""


@dataclass(frozen=True)
class Conversation:
    name: str
    speakers: tuple[str, str]
    turns: tuple[Turn, ...]
    questions: tuple[Question, ...]


def parse_session_date(text: str) -> datetime:
    """``"1:56 pm on 8 May, 2023"`` → an aware UTC datetime."""
    return datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)


def turn_text(raw: dict[str, object]) -> str:
    """The spoken text, plus the caption of a shared photo (as LoCoMo's own baselines do)."""
    text = str(raw.get("text") or "").strip()
    caption = raw.get("blip_caption")
    if caption:
        text = f"{text} [shares a photo: {caption}]".strip()
    return text


def _evidence(raw: object, known: set[str]) -> tuple[str, ...]:
    """Evidence ids as listed, split on ``;`` (one entry lists two), unknown ids dropped."""
    items = raw if isinstance(raw, list) else []
    ids = [part.strip() for item in items for part in str(item).split(";")]
    return tuple(dict.fromkeys(i for i in ids if i in known))


def load_conversation(path: Path) -> Conversation:
    data = json.loads(path.read_text())
    sessions = sorted((int(m.group(1)), key) for key in data if (m := _SESSION.fullmatch(key)))
    turns: list[Turn] = []
    for number, key in sessions:
        start = parse_session_date(data[f"{key}_date_time"])
        for index, raw in enumerate(data[key]):
            turns.append(
                Turn(
                    dia_id=str(raw["dia_id"]),
                    speaker=str(raw["speaker"]),
                    text=turn_text(raw),
                    # Turns of one session keep their order a few seconds apart.
                    occurred_at=start + timedelta(seconds=10 * index),
                    session=number,
                )
            )
    known = {t.dia_id for t in turns}
    questions = []
    for qa in data["qa"]:
        category = int(qa["category"])
        evidence = _evidence(qa.get("evidence"), known)
        if category == ADVERSARIAL or not evidence:
            continue
        answer = str(qa.get("answer", ""))
        questions.append(Question(str(qa["question"]), category, evidence, answer))
    return Conversation(
        name=path.stem,
        speakers=(str(data["speaker_a"]), str(data["speaker_b"])),
        turns=tuple(turns),
        questions=tuple(questions),
    )


def load_all(data_dir: Path = DEFAULT_DATA_DIR) -> list[Conversation]:
    return [load_conversation(p) for p in sorted(data_dir.glob("*.json"))]
