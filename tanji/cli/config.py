"""`--config FILE`: TOML defaults for any command's options, e.g. `[node.serve] org = "cell-co"`.

A table names a command group or a command, a key one of its options (by its parameter name, as
Click's default_map reads it). A key that names nothing is refused by its dotted name — a typo
would otherwise be ignored and the default silently used.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from tanji.errors import TanjiError


def load(path: Path, root: Any) -> dict[str, Any]:
    """The defaults in `path`, every key checked against the commands under `root`."""
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TanjiError(f"{path}: cannot read the configuration: {exc}") from None
    _check(path, table, root, [])
    return table


def _check(path: Path, table: dict[str, Any], command: Any, where: list[str]) -> None:
    subcommands = getattr(command, "commands", {})  # a group's (Typer's own Click)
    options = {p.name for p in command.params if p.name}
    for key, value in table.items():
        name = ".".join([*where, key])
        if key in subcommands:
            if not isinstance(value, dict):
                raise TanjiError(f"{path}: {name} is a command: give it a table of its options")
            _check(path, value, subcommands[key], [*where, key])
        elif key not in options:
            known = sorted(subcommands) + sorted(o for o in options if o)
            raise TanjiError(f"{path}: unknown key {name!r} (known here: {', '.join(known) or 'none'})")
