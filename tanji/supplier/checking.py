"""Validate a node-data file (JSON or workbook) without a node: every problem, not only the first.

The rules are the loader's (`tanji.methodology.loader`): the format's models, then the factor
set (unknown ids, units, the plant country's national average). When the file breaks a model
rule, the products that are valid on their own are still checked against the factor set, so
one pass lists what a supplier has to fix. A workbook's problems name sheet, row and column.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tanji.errors import DataError, DataErrors, TanjiError
from tanji.methodology.formats.base import errors_from_validation
from tanji.methodology.formats.nodedata import NODE_DATA_SCHEMA, NodeData, Organisation, Product
from tanji.methodology.jsonio import parse_json_bytes
from tanji.methodology.loader import LoadedFactorSet, LoadedNodeData, check_against_factors, parse_node_data
from tanji.supplier.reading import Located, read_workbook
from tanji.supplier.template import placeholders

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
#: spreadsheets openpyxl cannot read: named, rather than read as broken JSON
OTHER_SPREADSHEETS = (".xls", ".ods", ".csv", ".numbers", ".et")


def is_workbook(path: Path) -> bool:
    return path.suffix.lower() in WORKBOOK_SUFFIXES


@dataclass
class Checked:
    """A file's problems (empty: valid), and when valid the exact JSON bytes and the loaded data."""

    file: str
    problems: list[DataError] = field(default_factory=list)
    json_bytes: bytes | None = None
    loaded: LoadedNodeData | None = None
    located: Located | None = None

    def translate(self, exc: TanjiError) -> TanjiError:
        """A later refusal of this file (plausibility ceilings at import) named at the workbook's cells."""
        if self.located is None:
            return exc
        if isinstance(exc, DataError):
            return self.located.translate(exc)
        if isinstance(exc, DataErrors):
            return DataErrors([self.located.translate(e) for e in exc.errors])
        return exc

    def raise_problems(self) -> None:
        if len(self.problems) == 1:
            raise self.problems[0]
        if self.problems:
            raise DataErrors(self.problems)


def workbook_json(located: Located) -> bytes:
    """The JSON file a workbook stands for (UTF-8, two-space indent, as the examples are written)."""
    return (json.dumps(located.doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _errors(exc: TanjiError) -> list[DataError]:
    if isinstance(exc, DataErrors):
        return list(exc.errors)
    if isinstance(exc, DataError):
        return [exc]
    raise exc


_PRODUCT_INDEX = re.compile(r"^products\[(\d+)\]")


def _under(path: str, reported: set[str]) -> bool:
    """Whether `path` is a reported path or lies inside one (its problem is already told)."""
    return any(path == r or path.startswith(r + ".") or path.startswith(r + "[") for r in reported)


def _salvage(doc: dict[str, Any], factors: LoadedFactorSet, file: str) -> list[DataError]:
    """Factor-set problems of the products that are valid on their own, in a file that is not."""
    try:
        org = Organisation.model_validate(doc.get("organisation"))
    except ValidationError:
        return []
    raw = doc.get("products")
    good: list[tuple[int, Product]] = []
    for i, item in enumerate(raw if isinstance(raw, list) else []):
        try:
            good.append((i, Product.model_validate(item)))
        except ValidationError:
            continue
    if not good:
        return []
    partial = NodeData.model_construct(schema_=NODE_DATA_SCHEMA, organisation=org, products=[p for _, p in good])
    try:
        check_against_factors(partial, factors, file)
    except TanjiError as exc:
        found = []
        for err in _errors(exc):
            path = _PRODUCT_INDEX.sub(lambda m: f"products[{good[int(m.group(1))][0]}]", err.path)
            found.append(DataError(file, path, err.message))
        return found
    return []


_CELL = re.compile(r"^sheet '(.*)' row (\d+)(?: column ([A-Z]+))?")


def _cell_order(titles: list[str]) -> Callable[[DataError], tuple[int, int, int, str]]:
    """Problems of a workbook in reading order: sheet, row, column (the workbook's own first)."""
    def key(err: DataError) -> tuple[int, int, int, str]:
        m = _CELL.match(err.path)
        if m is None:
            return (-1, 0, 0, "")
        letters = m.group(3) or ""
        sheet = titles.index(m.group(1)) if m.group(1) in titles else len(titles)
        return (sheet, int(m.group(2)), len(letters), letters)
    return key


def check_document(doc: Any, file: str, factors: LoadedFactorSet | None,
                   reported: list[tuple[str | None, DataError]] | None = None) -> list[DataError]:
    """Every problem of a parsed node-data document, as (JSON-path-named) DataErrors.

    `reported` are problems already found (a workbook's cells): a rule broken at or inside
    one of their paths is not told twice. Without a factor set only the format's own rules are checked."""
    problems = [err for _, err in reported or []]
    told = {p for p, _ in reported or [] if p is not None}
    for path in placeholders(doc):
        if not _under(path, told):
            problems.append(DataError(file, path, "placeholder not filled: put the value in, or remove the record"))
            told.add(path)
    if not isinstance(doc, dict) or doc.get("schema") != NODE_DATA_SCHEMA:
        found = doc.get("schema") if isinstance(doc, dict) else None
        return [*problems, DataError(file, "schema", f"expected {NODE_DATA_SCHEMA!r}, found {found!r}")]
    try:
        nd = NodeData.model_validate(doc)
    except ValidationError as exc:
        problems += [e for e in errors_from_validation(exc, file).errors if not _under(e.path, told)]
        if factors is not None:
            problems += [e for e in _salvage(doc, factors, file) if not _under(e.path, told)]
        return problems
    if factors is None:
        return problems
    try:
        check_against_factors(nd, factors, file)
    except TanjiError as exc:
        problems += [e for e in _errors(exc) if not _under(e.path, told)]
    return problems


def check_file(path: Path, factors: LoadedFactorSet | None) -> Checked:
    """Check a node-data file or workbook against `factors` (None: the format's rules only);
    nothing is written anywhere."""
    file = str(path)
    out = Checked(file)
    if path.suffix.lower() in OTHER_SPREADSHEETS:
        out.problems = [DataError(file, "(document)", f"a {path.suffix} file cannot be read: save it as an Excel "
                                                      ".xlsx workbook (the layout of `tanji node template`)")]
        return out
    if is_workbook(path):
        try:
            located = read_workbook(path)
        except DataError as exc:
            out.problems = [exc]
            return out
        out.located = located
        found = check_document(located.doc, file, factors, located.problems)
        own = {id(p) for _, p in located.problems}
        out.problems = sorted((e if id(e) in own else located.translate(e) for e in found),
                              key=_cell_order(located.sheet_titles))
        data = workbook_json(located) if not out.problems else b""
    else:
        try:
            data = path.read_bytes()
            doc = parse_json_bytes(data, file)
        except OSError as exc:
            out.problems = [DataError(file, "(document)", f"cannot read: {exc.strerror}")]
            return out
        except DataError as exc:
            out.problems = [exc]
            return out
        out.problems = check_document(doc, file, factors)
    if not out.problems:
        out.json_bytes = data
        if factors is not None:
            out.loaded = parse_node_data(data, file, factors)
    return out
