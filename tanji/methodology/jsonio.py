"""Strict JSON reading: UTF-8, no NaN/Infinity literals, no duplicate keys.

Python's json module accepts `NaN` and silently keeps the last of duplicate keys;
FORMATS.md forbids both, so a file is parsed here before any model sees it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tanji.errors import DataError


class _StrictJSONError(ValueError):
    pass


def _no_constants(token: str) -> Any:
    raise _StrictJSONError(f"{token} is not a JSON number (numbers must be finite)")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _StrictJSONError(f"duplicate key {key!r} in one object")
        out[key] = value
    return out


def parse_json_bytes(data: bytes, file: str) -> Any:
    """Parse `data` strictly; every failure is a DataError naming `file`."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(file, "(document)", f"not UTF-8: {exc}") from None
    try:
        return json.loads(text, parse_constant=_no_constants, object_pairs_hook=_no_duplicates)
    except _StrictJSONError as exc:
        raise DataError(file, "(document)", str(exc)) from None
    except json.JSONDecodeError as exc:
        raise DataError(file, f"(line {exc.lineno}, column {exc.colno})", f"invalid JSON: {exc.msg}") from None
    except RecursionError:  # arrays/objects nested thousands deep: no tanji file is
        raise DataError(file, "(document)", "invalid JSON: arrays or objects nested too deeply") from None


def read_json(path: Path) -> tuple[Any, bytes]:
    """Read and strictly parse a JSON file; returns (document, exact bytes)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(str(path), "(document)", f"cannot read: {exc.strerror}") from None
    return parse_json_bytes(data, str(path)), data
