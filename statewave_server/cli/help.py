"""``--help`` that reads right: a flag takes no value, so it shows no type.

Typer's Rich help prints ``<bool>`` after every flag (``--json <bool>``), which reads as if
the flag wanted ``--json true``; options that take a value keep their ``<str>``/``<int>``.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperOption

_typed = TyperOption.display_type_rich


def _flag_aware_type(self: TyperOption, ctx: Any) -> str | None:  # Typer's vendored Context
    return None if self.is_flag else _typed(self, ctx)


def hide_flag_types() -> None:
    """Install the flag-aware type column (idempotent: the original is kept above)."""
    method: Any = _flag_aware_type
    setattr(TyperOption, "display_type_rich", method)  # noqa: B010  # a Typer method, by name
