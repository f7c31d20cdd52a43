"""Errors a user can cause, each naming where it happened.

A `DataError` names the file, the JSON path of the record and what is wrong, so a
supplier's IT team can fix the exact field; a `CalculationError` names the
organisation/product where a calculation cannot proceed.
"""
from __future__ import annotations


def format_path(loc: tuple[str | int, ...] | list[str | int]) -> str:
    """Render a location tuple as a JSON path: ('products', 2, 'unit') -> products[2].unit."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(document)"


class TanjiError(Exception):
    """Base of every error tanji reports to a user (exit code 2 on the CLI)."""


class DataError(TanjiError):
    """A file breaks a rule of FORMATS.md; the whole file is refused."""

    def __init__(self, file: str, path: str, message: str):
        self.file = str(file)
        self.path = path
        self.message = message
        super().__init__(f"{self.file}: {path}: {message}")


class DataErrors(TanjiError):
    """Several rule breaks found in one file (all reported, the file refused whole)."""

    def __init__(self, errors: list[DataError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class CalculationError(TanjiError):
    """The supply graph cannot be calculated (cycle, unknown supplier, unit mismatch …)."""
