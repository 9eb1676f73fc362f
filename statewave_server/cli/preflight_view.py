"""``statewave preflight``'s text report, coloured: each check's mark and name by its status,
and the go/no-go verdict (Rich colours only at a terminal, never with ``NO_COLOR``)."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from statewave_server.ops.preflight import ICONS, PreflightReport, render_text

_STYLES = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def styled_text(report: PreflightReport) -> Text:
    """:func:`render_text`, styled; the verdict is what follows its last blank line."""
    text = Text(render_text(report))
    for check in report.checks:
        text.highlight_words([f"{ICONS[check.status]} {check.name}:"], _STYLES[check.status])
    verdict_at = text.plain.rindex("\n\n") + 2
    text.stylize("bold green" if report.go else "bold red", verdict_at)
    return text


def print_report(report: PreflightReport) -> None:
    Console(highlight=False, soft_wrap=True).print(styled_text(report))
