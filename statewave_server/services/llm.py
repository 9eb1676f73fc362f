"""The only module that talks to an LLM provider (OpenAI-compatible HTTP, via httpx).

Why plain httpx and not LiteLLM: importing ``litellm`` takes seconds and fetches a model
price list over the network at import time, and upstream once saw it hang in production.
Every OpenAI-compatible endpoint (OpenAI, Azure-style gateways, vLLM, Ollama, LiteLLM
proxy, …) speaks ``POST {api_base}/chat/completions``, which is all we need.

Every call runs under a hard ``asyncio`` timeout that covers retries too, so a provider
can never stall a compile. Failures surface as ``LLMError`` subclasses only.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import httpx

DEFAULT_API_BASE: Final = "https://api.openai.com/v1"
_RETRY_STATUSES: Final = frozenset({408, 409, 429, 500, 502, 503, 504})
_FENCE = re.compile(r"^```[A-Za-z0-9_-]*[ \t]*\n?(?P<body>.*?)\n?```\s*$", re.DOTALL)


class LLMError(Exception):
    """Any failure to get a usable answer from the provider."""


class LLMTimeout(LLMError):
    """The call (retries included) did not finish within its hard timeout."""


class LLMResponseError(LLMError):
    """The provider answered, but not with the expected shape or valid JSON."""


class LLMProviderError(LLMError):
    """The provider refused or failed (HTTP error, connection error, …)."""


@dataclass(frozen=True, slots=True)
class LLMConfig:
    """Connection settings; built by the caller from ``Settings.litellm_*``.

    ``api_base`` includes the version path (``…/v1``). A ``provider/`` prefix on the
    model ("openai/gpt-4o-mini", LiteLLM style) is dropped on the wire.
    """

    model: str
    api_base: str = DEFAULT_API_BASE
    api_key: str | None = None
    timeout_seconds: float = 60.0
    max_retries: int = 2
    temperature: float = 0.1
    retry_backoff_seconds: float = 0.5


def wire_model(model: str) -> str:
    """The model name sent to the endpoint (LiteLLM's ``openai/`` style prefix removed)."""
    return model.split("/", 1)[1] if model.startswith("openai/") else model


class LLMClient:
    """Chat completions (and embeddings) against one OpenAI-compatible endpoint."""

    def __init__(
        self, config: LLMConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.config = config
        self._transport = transport

    @property
    def model(self) -> str:
        return self.config.model

    async def complete(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        response_format: Mapping[str, Any] | None = None,
        timeout_seconds: float | None = None,
    ) -> str:
        """The first choice's message content (``""`` when the provider returns null)."""
        body: dict[str, Any] = {
            "model": wire_model(model or self.config.model),
            "messages": [dict(m) for m in messages],
            "temperature": self.config.temperature if temperature is None else temperature,
        }
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if response_format is not None:
            body["response_format"] = dict(response_format)
        return _first_content(await self._call("/chat/completions", body, timeout_seconds))

    async def complete_json(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        timeout_seconds: float | None = None,
    ) -> Any:
        """``complete`` in JSON mode, parsed; a Markdown fence around the JSON is tolerated."""
        text = await self.complete(
            messages,
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
            response_format={"type": "json_object"},
            timeout_seconds=timeout_seconds,
        )
        return parse_json_reply(text)

    async def ping(self, timeout_seconds: float = 10.0) -> None:
        """A one-token completion: proves the key, model and endpoint work."""
        await self.complete(
            [{"role": "user", "content": "ping"}], max_tokens=1, timeout_seconds=timeout_seconds
        )

    async def embed_texts(
        self,
        texts: Sequence[str],
        *,
        model: str,
        dimensions: int | None = None,
        timeout_seconds: float | None = None,
    ) -> list[list[float]]:
        """One embedding per text, in order (``POST /embeddings``); no texts, no call."""
        if not texts:
            return []
        body: dict[str, Any] = {"model": wire_model(model), "input": list(texts)}
        if dimensions is not None:
            body["dimensions"] = dimensions
        data = await self._call("/embeddings", body, timeout_seconds)
        try:
            rows = sorted(data["data"], key=lambda row: int(row.get("index", 0)))
            vectors = [[float(x) for x in row["embedding"]] for row in rows]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise LLMResponseError(f"unexpected embeddings shape: {str(data)[:200]}") from exc
        if len(vectors) != len(texts):
            raise LLMResponseError(f"asked for {len(texts)} embeddings, got {len(vectors)}")
        return vectors

    async def _call(self, path: str, body: dict[str, Any], timeout_seconds: float | None) -> Any:
        limit = self.config.timeout_seconds if timeout_seconds is None else timeout_seconds
        try:
            async with asyncio.timeout(limit):
                return await self._post_with_retries(path, body, limit)
        except TimeoutError as exc:
            raise LLMTimeout(f"LLM call timed out after {limit:g}s") from exc

    async def _post_with_retries(self, path: str, body: dict[str, Any], limit: float) -> Any:
        url = self.config.api_base.rstrip("/") + path
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        # A client per call: no pool bound to another event loop, and LLM latency dwarfs
        # the connection set-up.
        async with httpx.AsyncClient(transport=self._transport, timeout=limit) as client:
            attempt = 0
            while True:
                try:
                    response = await client.post(url, json=body, headers=headers)
                except httpx.TimeoutException as exc:
                    raise TimeoutError from exc
                except httpx.HTTPError as exc:
                    error: LLMProviderError = LLMProviderError(f"LLM request failed: {exc!r}")
                    error.__cause__ = exc
                else:
                    if response.status_code < 400:
                        return _json_body(response)
                    error = LLMProviderError(
                        f"LLM provider returned HTTP {response.status_code}: {response.text[:200]}"
                    )
                    if response.status_code not in _RETRY_STATUSES:
                        raise error
                if attempt >= self.config.max_retries:
                    raise error
                attempt += 1
                await asyncio.sleep(self.config.retry_backoff_seconds * 2 ** (attempt - 1))


def _json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise LLMResponseError(f"LLM provider sent non-JSON: {response.text[:200]}") from exc


def _first_content(data: Any) -> str:
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise LLMResponseError(f"unexpected completion shape: {str(data)[:200]}") from exc
    if content is None:
        return ""
    if not isinstance(content, str):
        raise LLMResponseError(f"completion content is not text: {str(content)[:200]}")
    return content


def parse_json_reply(text: str) -> Any:
    """Parse a model's JSON reply, removing a surrounding ```json fence if present."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group("body").strip()
    try:
        return json.loads(stripped)
    except ValueError as exc:
        raise LLMResponseError(f"LLM reply is not valid JSON: {text[:200]}") from exc
