"""Every command's ``--help``: flags show no value type and every option says what it does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer
from typer.core import TyperGroup, TyperOption
from typer.testing import CliRunner

from statewave_server.cli.main import app


def _commands(group: TyperGroup, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        yield (*path, name)
        if isinstance(command, TyperGroup):
            yield from _commands(command, (*path, name))


def _command(path: tuple[str, ...]) -> Any:
    command: Any = typer.main.get_command(app)
    for name in path:
        assert isinstance(command, TyperGroup)
        command = command.commands[name]
    return command


def test_no_flag_shows_a_value_type_and_every_option_has_help() -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    paths = [(), *_commands(root)]
    assert ("migrate", "current") in paths and ("jobs", "list") in paths
    runner = CliRunner()
    for path in paths:
        shown = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
        assert shown.exit_code == 0, (path, shown.output)
        assert "<bool>" not in shown.output, path
        undocumented = [
            param.name
            for param in _command(path).params
            if isinstance(param, TyperOption) and not param.hidden and not param.help
        ]
        assert undocumented == [], path
    jobs_list = runner.invoke(app, ["jobs", "list", "--help"], env={"COLUMNS": "120"}).output
    assert "<str>" in jobs_list  # options that take a value keep their type
