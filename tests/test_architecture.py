"""The rules of the rooms (``ARCHITECTURE.md``), checked on every module's imports.

Every ``statewave_server`` module is parsed with :mod:`ast` (module-level, function-level
and ``TYPE_CHECKING`` imports alike, and ``importlib.import_module("…")`` with a literal
name), its imports are resolved to the deepest module they name, and each edge is held
against the table below. A failure names the edge and the rule it breaks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "statewave_server"
TOP = "<package>"  # ``statewave_server/__init__.py`` itself (``__version__``)
# Modules every room may use: configuration values, the error tree, clocks, log setup.
KERNEL = ("errors", "times", "logging", "telemetry", TOP)


@dataclass(frozen=True)
class Rule:
    """Modules in ``rooms`` (minus ``exempt``) must not import ``forbidden`` rooms (``""``
    is the whole package) other than ``allowed``, nor the third-party ``libraries``."""

    why: str
    rooms: tuple[str, ...]
    forbidden: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()
    exempt: tuple[str, ...] = ()
    libraries: tuple[str, ...] = ()


FACES = ("api", "console", "mcp", "cli", "app")
# Session plumbing and row types, no queries: the engine, the read-replica session factory,
# the ORM classes and the episode view rows.
ROW_TYPES = ("db.engine", "db.read_routing", "db.models", "db.episode_views")

RULES = (
    Rule(
        "app.py is the composition root: only cli/serve.py (and server/app.py) import it",
        rooms=("",),
        exempt=("app", "cli.serve"),
        forbidden=("app",),
    ),
    Rule(
        "api/ is the JSON face: services do the work, no queries, no other face",
        rooms=("api",),
        forbidden=("console", "mcp", "cli", "worker", "app", "db"),
        allowed=(*ROW_TYPES, "db.rate_limits"),  # the edge limiter's own counter table
    ),
    Rule(
        "console/ is the HTML face: services only, plus the faces' shared kit in api/",
        rooms=("console",),
        forbidden=("api", "mcp", "cli", "worker", "app", "db"),
        allowed=("api.deps", "api.asgi", "api.schemas", *ROW_TYPES),
    ),
    Rule(
        "mcp/ is the MCP face: services only, plus the faces' shared kit in api/",
        rooms=("mcp",),
        forbidden=("api", "console", "cli", "worker", "app", "db"),
        allowed=("api.deps", "api.errors", "api.schemas", *ROW_TYPES),
    ),
    Rule(
        "cli/ prints what services, ops and workers return; no HTTP face, no queries",
        rooms=("cli",),
        forbidden=("api", "console", "db"),
        allowed=("api.schemas", "db.engine", "db.migrate", "db.models", "db.urls"),
    ),
    Rule(
        "worker/ runs jobs through services and its own queues' SQL",
        rooms=("worker",),
        forbidden=(*FACES, "db"),
        allowed=(
            *("db.jobs", "db.outbox", "db.engine", "db.models"),
            "db.webhook_attempts",  # the outbox's attempt log, written with each outcome
            "db.listen_connection",  # the LISTEN connection that wakes idle workers
        ),
    ),
    Rule(
        "services/ are units of work: no faces, no workers, no HTTP framework, no printing",
        rooms=("services",),
        forbidden=(*FACES, "worker"),
        libraries=("fastapi", "starlette", "rich", "typer"),
    ),
    Rule(
        "services use ops/ only for the readiness check and the migration state (dashboard)",
        rooms=("services",),
        forbidden=("ops",),
        allowed=("ops.readiness", "ops.migrations"),
    ),
    Rule(
        "services read settings only where the runtime is composed (and the dashboard, "
        "which hands them to the readiness check)",
        rooms=("services",),
        exempt=("services.runtime", "services.events", "services.admin.dashboard"),
        forbidden=("settings",),
    ),
    Rule(
        "the compiler and context engines are pure: no database, no settings, no I/O",
        rooms=("services.compiler", "services.context", "services.assembly"),
        forbidden=("",),
        allowed=("services.compiler", "services.context", "services.assembly", "services.llm"),
        libraries=("sqlalchemy", "asyncpg"),
    ),
    Rule(
        "provider adapters are built from explicit options by services/runtime.py",
        rooms=("services.embeddings", "services.llm", "services.tokens"),
        forbidden=("",),
        allowed=("services.embeddings", "services.llm", "errors", "data", TOP),
        libraries=("sqlalchemy",),
    ),
    Rule(
        "ops/ is runbook machinery over the database, below every face and service",
        rooms=("ops",),
        forbidden=("",),
        allowed=("ops", "db", "settings", *KERNEL),
    ),
    Rule(
        "db/ is the bottom room: tables, repositories, SQL",
        rooms=("db",),
        forbidden=("",),
        allowed=("db", "settings", *KERNEL),
    ),
    Rule(
        "db/ reads settings only to build the engine",
        rooms=("db",),
        exempt=("db.engine",),
        forbidden=("settings",),
    ),
)

# Third-party libraries pinned to the one room that wraps them.
PINS = {
    "litellm": ("services.llm",),
    "onnxruntime": ("services.embeddings.local",),
    "tokenizers": ("services.embeddings.local",),
    "tiktoken": ("services.tokens",),
    "jinja2": ("console",),
    "rich": ("cli",),
    "typer": ("cli",),
}


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT / PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or TOP


@cache
def _modules() -> dict[str, Path]:
    return {_name(path): path for path in sorted((ROOT / PACKAGE).rglob("*.py"))}


def _internal(dotted: str) -> str | None:
    """``statewave_server.x.y.Z`` → the deepest module it names (``x.y``), else None."""
    if dotted == PACKAGE:
        return TOP
    if not dotted.startswith(PACKAGE + "."):
        return None
    parts = dotted[len(PACKAGE) + 1 :].split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in _modules():
            return ".".join(parts[:end])
    return TOP  # a name defined in the package's ``__init__`` (``__version__``)


def _imported(module: str) -> Iterator[str]:
    """Every name ``module`` imports, as written (absolute, dotted)."""
    path = _modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = [PACKAGE, *package.split(".")] if package and package != TOP else [PACKAGE]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if called in {"import_module", "__import__"} and isinstance(first, ast.Constant):
                yield str(first.value)


@cache
def _edges(module: str) -> tuple[frozenset[str], frozenset[str]]:
    """(internal modules, third-party top-level names) that ``module`` imports."""
    internal: set[str] = set()
    external: set[str] = set()
    for name in _imported(module):
        target = _internal(name)
        if target is None:
            external.add(name.split(".")[0])
        elif target != module:
            internal.add(target)
    # ``from statewave_server.x import y`` yields both ``x`` and ``x.y``; keep the deepest.
    shallow = {t for t in internal if any(o.startswith(t + ".") for o in internal)}
    return frozenset(internal - shallow), frozenset(external)


def _within(module: str, room: str) -> bool:
    return room == "" or module == room or module.startswith(room + ".")


def _any(module: str, rooms: tuple[str, ...]) -> bool:
    return any(_within(module, room) for room in rooms)


def _breaks(rule: Rule) -> list[str]:
    found = []
    for module in _modules():
        if not _any(module, rule.rooms) or _any(module, rule.exempt) or module == TOP:
            continue
        internal, external = _edges(module)
        for target in sorted(internal):
            if _any(target, rule.forbidden) and not _any(target, rule.allowed):
                found.append(f"{module} -> {target}")
        found += [f"{module} -> {lib} (library)" for lib in sorted(external & set(rule.libraries))]
    return found


def test_every_room_keeps_its_rules() -> None:
    broken = [f"{edge}   [{rule.why}]" for rule in RULES for edge in _breaks(rule)]
    assert not broken, "forbidden imports:\n" + "\n".join(broken)


def test_third_party_libraries_stay_in_their_rooms() -> None:
    broken = sorted(
        f"{module} -> {library}   [only {', '.join(PINS[library])} may import {library}]"
        for module in _modules()
        for library in _edges(module)[1] & PINS.keys()
        if not _any(module, PINS[library])
    )
    assert not broken, "misplaced libraries:\n" + "\n".join(broken)


# What services may take from SQLAlchemy: session types and its error classes, nothing that
# builds a statement (queries are db/'s, one owner per table's SQL).
SERVICE_SQLALCHEMY = ("sqlalchemy.ext.asyncio", "sqlalchemy.exc")


def test_services_build_no_sql() -> None:
    broken = sorted(
        f"{module} -> {name}"
        for module in _modules()
        if _within(module, "services")
        for name in _imported(module)
        if _within(name, "sqlalchemy") and not _any(name, SERVICE_SQLALCHEMY)
    )
    assert not broken, "services importing query builders:\n" + "\n".join(broken)


def test_the_walker_sees_real_edges() -> None:
    """Guards the test itself: known imports of every kind are found and resolved."""
    assert len(_modules()) > 150
    internal, external = _edges("app")
    assert {"console.gate", "api.security", "worker.runner", "settings"} <= internal
    assert "fastapi" in external
    assert "litellm" in _edges("services.llm")[1]
    assert "db.jobs" in _edges("services.admin.dashboard")[0]  # ``from db import jobs``
    assert "sqlalchemy.ext.asyncio.AsyncSession" in _imported("services.events")
    assert "sqlalchemy.select" in _imported("db.jobs")
    broken = _breaks(Rule("probe", rooms=("console",), forbidden=("api",)))
    assert "console.gate -> api.asgi" in broken


def _roots_imported_under(directory: str) -> dict[str, set[str]]:
    """Top-level names imported by each ``.py`` file under ``directory`` (relative path)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / directory).rglob("*.py")):
        roots = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                roots.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                roots.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = roots
    return found


def test_harness_and_benchmarks_stand_on_devtools_not_on_tests() -> None:
    """``bench/`` and ``devtools/`` never import ``tests/``; the package imports none of
    ``tests/``, ``devtools/``, ``bench/`` (none of them ships in the wheel)."""
    broken = [
        f"{path} -> {root}"
        for directory, banned in (
            ("bench", {"tests"}),
            ("devtools", {"tests", "bench"}),
            (PACKAGE, {"tests", "devtools", "bench"}),
        )
        for path, roots in _roots_imported_under(directory).items()
        for root in sorted(roots & banned)
    ]
    assert not broken, "\n".join(broken)
    assert "devtools" in _roots_imported_under("bench")["bench/common.py"]


def test_the_server_shim_only_re_exports_the_app() -> None:
    shim = (ROOT / "server" / "app.py").read_text(encoding="utf-8")
    code = [line for line in shim.splitlines() if line.strip() and not line.startswith("#")]
    assert code[-1] == "from statewave_server.app import app as app"
