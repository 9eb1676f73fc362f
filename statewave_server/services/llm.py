"""The only module that talks to an LLM provider; it does so through LiteLLM.

LiteLLM (optional extra: ``pip install 'statewave-server[llm]'``) is imported lazily, when
the first ``LLMClient`` is built, so a server without the extra starts normally and only
the ``llm`` compiler / ``litellm`` embedding provider need it. It is imported with
``LITELLM_LOCAL_MODEL_COST_MAP=True``: LiteLLM otherwise downloads a model price list at
import time (which can hang). Importing it costs a few seconds of CPU, paid once.

Model names are LiteLLM's: ``openai/gpt-4o-mini``, ``anthropic/…``, or a bare OpenAI model
name. With a custom ``api_base`` (vLLM, Ollama's OpenAI endpoint, a gateway, the test
servers) LiteLLM must be told the wire format, so a model without a known provider prefix
gets ``openai/`` in front ("gpt-test" → "openai/gpt-test"; "meta-llama/Llama-3" →
"openai/meta-llama/Llama-3"). ``api_base`` equal to ``DEFAULT_API_BASE`` counts as unset,
so that ``anthropic/…`` models are not sent to OpenAI's URL.

``api_base``/``api_key`` are passed on every call, never through process-wide settings.
Every call runs under a hard ``asyncio`` timeout that covers retries too, so a provider
can never stall a compile. Failures surface as ``LLMError`` subclasses only.

Retries: chat completions are retried here (``max_retries`` times, exponential back-off,
only for transient failures: connection errors, 408/409/429/5xx), with LiteLLM's own
``num_retries``/``max_retries`` pinned to 0 — LiteLLM's retry wrapper would also retry a
401 or 400, without back-off. Embeddings pass ``max_retries`` to the provider SDK, which
retries the same transient set (LiteLLM raises 0 to its default of 2 for embeddings; the
hard timeout still bounds the whole call).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Final

DEFAULT_API_BASE: Final = "https://api.openai.com/v1"
INSTALL_HINT: Final = "pip install 'statewave-server[llm]'"
KEYLESS_API_KEY: Final = "no-key"  # sent to a custom api_base configured without a key
_RETRY_STATUSES: Final = frozenset({408, 409, 429, 500, 502, 503, 504})
# openai.APIConnectionError, httpx.ConnectError/ReadError/…, aiohttp's ClientConnectorError
_CONNECTION_ERROR_NAMES: Final = frozenset(
    {"APIConnectionError", "ConnectError", "ReadError", "WriteError", "ClientConnectorError"}
)
_FENCE = re.compile(r"^```[A-Za-z0-9_-]*[ \t]*\n?(?P<body>.*?)\n?```\s*$", re.DOTALL)

_litellm: ModuleType | None = None
_import_lock = threading.Lock()


class LLMError(Exception):
    """Any failure to get a usable answer from the provider."""


class LLMTimeout(LLMError):
    """The call (retries included) did not finish within its hard timeout."""


class LLMResponseError(LLMError):
    """The provider answered, but not with the expected shape or valid JSON."""


class LLMProviderError(LLMError):
    """The provider refused or failed (HTTP error, connection error, …).

    ``transient`` marks failures worth retrying (connection errors, 408/409/429/5xx).
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class LLMNotInstalled(LLMError, RuntimeError):
    """LiteLLM (the optional ``llm`` extra) is not installed."""


def import_litellm() -> ModuleType:
    """The ``litellm`` module, imported once, with no network access at import time."""
    global _litellm
    if _litellm is not None:
        return _litellm
    with _import_lock:
        if _litellm is None:
            # Without this LiteLLM fetches its model-cost map from GitHub while importing.
            os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
            try:
                with warnings.catch_warnings():  # pydantic noise from LiteLLM's models
                    warnings.simplefilter("ignore")
                    module = importlib.import_module("litellm")
            except ImportError as exc:
                raise LLMNotInstalled(
                    f"LLM features need LiteLLM, which is not installed: {INSTALL_HINT}"
                ) from exc
            # No "Give Feedback / Get Help" banner on stdout for every provider error.
            setattr(module, "suppress_debug_info", True)  # noqa: B010
            _litellm = module
    return _litellm


@dataclass(frozen=True, slots=True)
class LLMConfig:
    """Connection settings; built by the caller from ``Settings.litellm_*``.

    ``model`` is a LiteLLM model name (see the module docstring for the ``openai/``
    prefix rule). ``api_base`` includes the version path (``…/v1``); None means the
    provider's default endpoint. ``max_retries`` is the retry count for transient errors.
    """

    model: str
    api_base: str | None = None
    api_key: str | None = None
    timeout_seconds: float = 60.0
    max_retries: int = 2
    temperature: float = 0.1
    retry_backoff_seconds: float = 0.5


def effective_api_base(api_base: str | None) -> str | None:
    """``api_base`` as given to LiteLLM: None for unset or OpenAI's default endpoint."""
    if not api_base or api_base.rstrip("/") == DEFAULT_API_BASE:
        return None
    return api_base


def litellm_model(model: str, api_base: str | None) -> str:
    """The model name given to LiteLLM: ``openai/`` added for a custom ``api_base``.

    A model whose first ``/`` segment is a LiteLLM provider keeps its name; with no custom
    endpoint the name is passed through untouched (LiteLLM maps bare names itself).
    """
    if effective_api_base(api_base) is None:
        return model
    head, sep, _ = model.partition("/")
    if sep and head in _provider_names():
        return model
    return f"openai/{model}"


def _provider_names() -> frozenset[str]:
    providers = getattr(import_litellm(), "provider_list", ())
    return frozenset(str(getattr(p, "value", p)) for p in providers)


class LLMClient:
    """Chat completions (and embeddings) through LiteLLM against one configured endpoint."""

    def __init__(self, config: LLMConfig) -> None:
        self.config = config
        self._litellm = import_litellm()  # fail at start-up, not on the first request

    @property
    def model(self) -> str:
        return self.config.model

    def _endpoint_kwargs(self, model: str) -> dict[str, Any]:
        api_base = effective_api_base(self.config.api_base)
        kwargs: dict[str, Any] = {"model": litellm_model(model, self.config.api_base)}
        if api_base is not None:
            kwargs["api_base"] = api_base
        if self.config.api_key:
            kwargs["api_key"] = self.config.api_key
        elif api_base is not None:
            # A keyless endpoint (local vLLM/Ollama): the OpenAI SDK insists on some key and
            # would otherwise fall back to OPENAI_API_KEY, sending a real key elsewhere.
            kwargs["api_key"] = KEYLESS_API_KEY
        return kwargs

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
        limit = self._limit(timeout_seconds)
        kwargs = self._endpoint_kwargs(model or self.config.model)
        kwargs.update(
            messages=[dict(m) for m in messages],
            temperature=self.config.temperature if temperature is None else temperature,
            timeout=limit,
            num_retries=0,  # retried below, transient errors only
            max_retries=0,
        )
        if max_tokens is not None:
            kwargs["max_tokens"] = max_tokens
        if response_format is not None:
            kwargs["response_format"] = dict(response_format)
        response = await self._bounded(self._with_retries("acompletion", kwargs), limit)
        return _first_content(response)

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
        """One embedding per text, in order (one remote call); no texts, no call.

        Parameters a model does not support (``dimensions`` for older models) are dropped;
        callers check the vector sizes they get.
        """
        if not texts:
            return []
        limit = self._limit(timeout_seconds)
        kwargs = self._endpoint_kwargs(model)
        kwargs.update(
            input=list(texts),
            timeout=limit,
            drop_params=True,
            max_retries=self.config.max_retries,  # the provider SDK's transient retries
        )
        if dimensions is not None:
            kwargs["dimensions"] = dimensions
        response = await self._bounded(self._attempt("aembedding", kwargs), limit)
        try:
            rows = sorted(_field(response, "data"), key=lambda row: int(_field(row, "index", 0)))
            vectors = [[float(x) for x in _field(row, "embedding")] for row in rows]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise LLMResponseError(f"unexpected embeddings shape: {str(response)[:200]}") from exc
        if len(vectors) != len(texts):
            raise LLMResponseError(f"asked for {len(texts)} embeddings, got {len(vectors)}")
        return vectors

    def _limit(self, timeout_seconds: float | None) -> float:
        return self.config.timeout_seconds if timeout_seconds is None else timeout_seconds

    async def _bounded(self, call: Any, limit: float) -> Any:
        """Await ``call`` under the hard deadline ``limit`` (which covers every retry)."""
        try:
            async with asyncio.timeout(limit):
                return await call
        except TimeoutError as exc:
            raise LLMTimeout(f"LLM call timed out after {limit:g}s") from exc

    async def _with_retries(self, function: str, kwargs: dict[str, Any]) -> Any:
        attempt = 0
        while True:
            try:
                return await self._attempt(function, kwargs)
            except LLMProviderError as error:
                if not error.transient or attempt >= self.config.max_retries:
                    raise
            attempt += 1
            await asyncio.sleep(self.config.retry_backoff_seconds * 2 ** (attempt - 1))

    async def _attempt(self, function: str, kwargs: dict[str, Any]) -> Any:
        """One LiteLLM call; every exception it raises becomes an ``LLMError``."""
        try:
            return await getattr(self._litellm, function)(**kwargs)
        except (asyncio.CancelledError, LLMError):
            raise
        except Exception as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: Exception) -> LLMError:
        exceptions = getattr(self._litellm, "exceptions", None)
        timeout_type = getattr(exceptions, "Timeout", None)
        if isinstance(exc, TimeoutError) or (
            isinstance(timeout_type, type) and isinstance(exc, timeout_type)
        ):
            return LLMTimeout(f"LLM call timed out: {_message(exc)}")
        if _caused_by_bad_json(exc):
            return LLMResponseError(f"LLM provider sent non-JSON: {_message(exc)}")
        connection_type = getattr(exceptions, "APIConnectionError", None)
        status = getattr(exc, "status_code", None)
        if (isinstance(connection_type, type) and isinstance(exc, connection_type)) or (
            _in_chain(exc, _is_connection_failure)
        ):
            return LLMProviderError(f"LLM request failed: {_message(exc)}", transient=True)
        if isinstance(status, int):
            return LLMProviderError(
                f"LLM provider returned HTTP {status}: {_message(exc)}",
                transient=status in _RETRY_STATUSES,
            )
        return LLMProviderError(f"LLM request failed: {type(exc).__name__}: {_message(exc)}")


def _message(exc: BaseException) -> str:
    message = getattr(exc, "message", None)
    return str(message if isinstance(message, str) and message else exc)[:300]


def _in_chain(exc: BaseException, predicate: Callable[[BaseException], bool]) -> bool:
    """Whether ``exc`` or an exception it was raised from satisfies ``predicate``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if predicate(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _caused_by_bad_json(exc: BaseException) -> bool:
    """Whether the response body could not be parsed (LiteLLM reports that as a 500)."""
    return _in_chain(exc, lambda e: isinstance(e, json.JSONDecodeError))


def _is_connection_failure(exc: BaseException) -> bool:
    """A refused/reset connection; LiteLLM reports some of these as HTTP 500."""
    if isinstance(exc, ConnectionError):
        return True
    return any(cls.__name__ in _CONNECTION_ERROR_NAMES for cls in type(exc).__mro__)


def _field(item: Any, name: str, *default: Any) -> Any:
    """``item[name]`` for dicts, ``item.name`` for LiteLLM's response objects."""
    if isinstance(item, Mapping):
        return item[name] if not default else item.get(name, default[0])
    return getattr(item, name, *default)


def _first_content(response: Any) -> str:
    try:
        message = _field(_field(response, "choices")[0], "message")
        content = _field(message, "content")
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise LLMResponseError(f"unexpected completion shape: {str(response)[:200]}") from exc
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
