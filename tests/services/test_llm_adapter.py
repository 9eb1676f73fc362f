"""The LiteLLM adapter boundary: optional import, model naming, and the one-module rule."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import statewave_server
from devtools.openai_server import Reply, running_openai_server
from statewave_server.services.llm import (
    DEFAULT_API_BASE,
    LLMClient,
    LLMConfig,
    effective_api_base,
    litellm_model,
)

PACKAGE_ROOT = Path(statewave_server.__file__).resolve().parent
LLM_MODULE = PACKAGE_ROOT / "services" / "llm.py"
PROVIDER_LIBRARIES = frozenset({"litellm", "openai"})

WITHOUT_LITELLM = """
import sys
sys.modules["litellm"] = None  # makes `import litellm` raise ImportError
import statewave_server.services.llm as llm
from statewave_server.services.embeddings import (
    LiteLLMEmbeddingProvider, LiteLLMNotInstalled, build_embedding_provider,
)
from statewave_server.services.compiler import make_compiler
make_compiler("heuristic")
assert build_embedding_provider("hash") is not None
for build in (
    lambda: llm.LLMClient(llm.LLMConfig(model="gpt-4o-mini")),
    lambda: LiteLLMEmbeddingProvider(),
):
    try:
        build()
    except LiteLLMNotInstalled as exc:
        assert isinstance(exc, llm.LLMError), type(exc).__mro__
        print(exc)
    else:
        raise SystemExit("built without litellm")
"""


def test_missing_litellm_gives_a_clear_error_and_nothing_else_breaks() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_LITELLM],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PACKAGE_ROOT.parent,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2
    for line in lines:
        assert "pip install 'statewave-server[llm]'" in line


def _imported_roots(tree: ast.AST) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call):
            # importlib.import_module("litellm") / __import__("openai") with a literal name
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in {"import_module", "__import__"} and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    roots.add(first.value.split(".")[0])
    return roots


def test_only_services_llm_imports_provider_libraries() -> None:
    offenders: dict[str, set[str]] = {}
    scanned = 0
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        scanned += 1
        found = _imported_roots(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        hits = found & PROVIDER_LIBRARIES
        if hits and path != LLM_MODULE:
            offenders[str(path.relative_to(PACKAGE_ROOT))] = hits
    assert scanned > 10
    assert offenders == {}
    # The scan does see the one allowed import.
    assert "litellm" in _imported_roots(ast.parse(LLM_MODULE.read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    ("model", "api_base", "expected"),
    [
        ("gpt-4o-mini", None, "gpt-4o-mini"),
        ("gpt-4o-mini", DEFAULT_API_BASE, "gpt-4o-mini"),
        ("anthropic/claude-3-5-haiku", DEFAULT_API_BASE + "/", "anthropic/claude-3-5-haiku"),
        ("gpt-test", "http://127.0.0.1:9/v1", "openai/gpt-test"),
        ("openai/gpt-test", "http://127.0.0.1:9/v1", "openai/gpt-test"),
        ("hosted_vllm/llama", "http://127.0.0.1:9/v1", "hosted_vllm/llama"),
        ("meta-llama/Llama-3-8B", "http://127.0.0.1:9/v1", "openai/meta-llama/Llama-3-8B"),
    ],
)
def test_model_naming(model: str, api_base: str | None, expected: str) -> None:
    assert litellm_model(model, api_base) == expected


def test_default_openai_base_is_not_forced_on_other_providers() -> None:
    assert effective_api_base(None) is None
    assert effective_api_base("") is None
    assert effective_api_base(DEFAULT_API_BASE) is None
    assert effective_api_base("http://gw/v1") == "http://gw/v1"


async def test_credentials_go_per_call_not_through_the_environment() -> None:
    before = {k: v for k, v in os.environ.items() if "KEY" in k or "API_BASE" in k}
    with running_openai_server() as server:
        server.enqueue(Reply.chat("ok"))
        client = LLMClient(
            LLMConfig(model="m", api_base=server.base_url, api_key="sk-per-call", max_retries=0)
        )
        assert await client.complete([{"role": "user", "content": "hi"}]) == "ok"
        (request,) = server.requests
    assert request.headers["authorization"] == "Bearer sk-per-call"
    assert request.body["model"] == "m"
    after = {k: v for k, v in os.environ.items() if "KEY" in k or "API_BASE" in k}
    assert after == before
    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"


async def test_client_errors_are_not_retried() -> None:
    with running_openai_server() as server:
        server.enqueue(Reply.error(400, "bad request"), Reply.chat("never"))
        client = LLMClient(
            LLMConfig(model="m", api_base=server.base_url, max_retries=3, retry_backoff_seconds=0)
        )
        with pytest.raises(Exception, match="HTTP 400"):
            await client.complete([{"role": "user", "content": "hi"}])
        assert len(server.requests) == 1


async def test_keyless_endpoint_gets_a_placeholder_not_the_environment_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key")
    with running_openai_server() as server:
        server.enqueue(Reply.chat("ok"))
        client = LLMClient(LLMConfig(model="m", api_base=server.base_url, max_retries=0))
        assert await client.complete([{"role": "user", "content": "hi"}]) == "ok"
        (request,) = server.requests
    assert request.headers["authorization"] == "Bearer no-key"
