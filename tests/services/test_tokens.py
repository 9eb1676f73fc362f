"""Exact, offline cl100k_base token counting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from statewave_server.services import tokens


@pytest.mark.parametrize(
    ("text", "expected_ids"),
    [
        # Published cl100k_base encodings (OpenAI cookbook / tiktoken README).
        ("hello world", [15339, 1917]),
        ("tiktoken is great!", [83, 1609, 5963, 374, 2294, 0]),
    ],
)
def test_known_cl100k_ids(text: str, expected_ids: list[int]) -> None:
    assert tokens.encode(text) == expected_ids
    assert tokens.count_tokens(text) == len(expected_ids)


def test_is_the_cl100k_vocabulary() -> None:
    encoding = tokens.get_encoding()
    assert encoding.n_vocab == 100277  # cl100k_base: 100256 ranks + specials up to 100276
    assert encoding.eot_token == 100257


def test_counts_follow_cl100k_splitting_rules() -> None:
    assert tokens.count_tokens("") == 0
    # cl100k splits digit runs into groups of at most three, each a single token.
    assert tokens.count_tokens("1234567") == 3
    assert tokens.count_tokens("123") == 1


def test_special_token_text_is_counted_not_rejected() -> None:
    # Memory content is user text: "<|endoftext|>" must be counted as text, never raise.
    assert tokens.count_tokens("<|endoftext|>") > 1


def test_encoding_is_loaded_once() -> None:
    assert tokens.get_encoding() is tokens.get_encoding()


@pytest.mark.parametrize(
    "text",
    [
        "The quick brown fox jumps over the lazy dog. " * 5,
        "Grüße aus Lisboa — café, naïve, 日本語のテキストと絵文字 🎉🎉 mixed in.",
    ],
)
def test_truncation_gives_valid_prefixes_within_budget(text: str) -> None:
    total = tokens.count_tokens(text)
    assert tokens.truncate_to_tokens(text, total) == text
    assert tokens.truncate_to_tokens(text, total + 10) == text
    assert tokens.truncate_to_tokens(text, 0) == ""
    previous = ""
    for n in range(1, total):
        cut = tokens.truncate_to_tokens(text, n)
        assert text.startswith(cut)
        assert tokens.count_tokens(cut) <= n
        assert len(cut) >= len(previous)
        previous = cut
    # A token boundary inside ASCII text re-encodes to exactly n tokens.
    assert tokens.count_tokens(tokens.truncate_to_tokens("hello world, again", 2)) == 2


def test_truncation_rejects_negative_budget() -> None:
    with pytest.raises(ValueError):
        tokens.truncate_to_tokens("hello", -1)


def test_works_without_network_and_without_cache(tmp_path: Path) -> None:
    """A fresh process with dead proxies and an empty tiktoken cache still counts exactly."""
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    dead = "http://127.0.0.1:9"
    env = {
        **os.environ,
        "HTTP_PROXY": dead,
        "HTTPS_PROXY": dead,
        "http_proxy": dead,
        "https_proxy": dead,
        "NO_PROXY": "",
        "no_proxy": "",
        "TIKTOKEN_CACHE_DIR": str(cache),
    }
    code = (
        "from statewave_server.services.tokens import count_tokens, encode;"
        "print(count_tokens('hello world'), encode('tiktoken is great!'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2 [83, 1609, 5963, 374, 2294, 0]"
