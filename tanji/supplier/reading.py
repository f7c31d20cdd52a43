"""Read a supplier workbook (.xlsx) into a `tanji.node-data/1` document, remembering each field's cell.

The reader never guesses: text in a number cell, a merged range, a formula without a
computed value, an unknown or missing column are each a problem naming sheet, row and
column. Every field's JSON path is mapped to its cell, so the format's own checks
(models, factor set) are reported at the cell too (`Located.where`).
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from tanji.errors import DataError
from tanji.methodology.formats.base import clip
from tanji.methodology.formats.nodedata import NODE_DATA_SCHEMA
from tanji.supplier.layout import SHEETS, Column, Sheet, match
from tanji.supplier.template import is_placeholder


@dataclass(frozen=True)
class Cell:
    sheet: str
    row: int
    column: int | None = None
    header: str | None = None

    def __str__(self) -> str:
        where = f"sheet {self.sheet!r} row {self.row}"
        if self.column is not None:
            where += f" column {get_column_letter(self.column)}"
            if self.header:
                where += f" ({self.header})"
        return where


@dataclass
class Located:
    """A document read from a workbook: its JSON, each JSON path's cell, the problems already found."""

    file: str
    doc: dict[str, Any]
    cells: dict[str, Cell] = field(default_factory=dict)
    #: (JSON path or None, error): a problem the reader found itself
    problems: list[tuple[str | None, DataError]] = field(default_factory=list)
    #: the workbook's sheet titles in order (problems are listed in reading order)
    sheet_titles: list[str] = field(default_factory=list)

    def problem(self, path: str | None, cell: Cell | str, message: str) -> None:
        self.problems.append((path, DataError(self.file, str(cell), message)))

    def where(self, path: str) -> str:
        """The cell (or row, or sheet) of a JSON path: the longest prefix of it that a cell was read for."""
        probe = path
        while probe:
            if probe in self.cells:
                return str(self.cells[probe])
            cut = max(probe.rfind("."), probe.rfind("["))
            if cut <= 0:
                break
            probe = probe[:cut]
        return path

    def translate(self, err: DataError) -> DataError:
        return DataError(self.file, self.where(err.path), err.message)


def _put(record: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    for part in parts[:-1]:
        record = record.setdefault(part, {})
    record[parts[-1]] = value


def _text(raw: Any) -> str:
    """A cell value JSON has no type for (a date, a time, a duration) as text; spreadsheets keep a date as
    a date-time at midnight, which reads back as the date."""
    if isinstance(raw, datetime) and raw.time() == datetime.min.time():
        return raw.date().isoformat()
    return raw.isoformat() if hasattr(raw, "isoformat") else str(raw)


def _cell_value(raw: Any, formula: Any, col: Column) -> tuple[Any, str | None]:
    """The JSON value of one cell (None: blank) and, when it is wrong, why (the raw value is kept)."""
    if isinstance(formula, str) and formula.startswith("=") and raw is None:
        return None, (f"formula {clip(formula, 60)} has no computed value: open and save the workbook in a "
                      "spreadsheet program, or type the value")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, None
    if isinstance(raw, str):
        raw = raw.strip()
        if is_placeholder(raw):  # told as a placeholder by the check, whatever the column's kind
            return raw, None
    if col.kind == "number":
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            shown = raw if isinstance(raw, str) else _text(raw)
            return shown, (f"expected a number, the cell holds {type(raw).__name__} {clip(repr(shown), 60)} "
                         "(type the number itself: no unit, no quotes, no thousands separator)")
        return raw, None
    if isinstance(raw, bool):
        return str(raw), f"expected text, the cell holds the logical value {raw}"
    if isinstance(raw, datetime | date):
        day = (raw.date() if isinstance(raw, datetime) else raw).isoformat()
        if col.kind != "date":
            return day, f"expected text, the cell holds a date ({day}); format the cell as text"
        return day, None
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw)), None
    return str(raw), None


def _headers(ws: Worksheet, sheet: Sheet, out: Located) -> dict[int, Column | str]:
    """Column index -> its Column or `x-` extension name; problems for unknown, doubled or missing columns."""
    found: dict[int, Column | str] = {}
    names = [(c.name, c.zh) for c in sheet.columns]
    seen: dict[str, int] = {}
    for idx in range(1, (ws.max_column or 0) + 1):
        raw = ws.cell(row=1, column=idx).value
        if raw is None or not str(raw).strip():
            continue
        text = str(raw).strip()
        cell = Cell(ws.title, 1, idx, text)
        if text.startswith("x-"):
            found[idx] = text
            continue
        name = match(text, names)
        if name is None:
            known = ", ".join(c.name for c in sheet.columns if c.required)
            out.problem(None, cell, f"unknown column {clip(repr(text), 60)} (columns of this sheet: {known}; "
                                    "or a name starting with 'x-')")
            continue
        if name in seen:
            out.problem(None, cell, f"column {name!r} again (also column {get_column_letter(seen[name])})")
            continue
        seen[name] = idx
        found[idx] = sheet.column(name)
    for col in sheet.columns:
        if col.required and col.name not in seen:
            out.problem(None, Cell(ws.title, 1), f"no column {col.name!r} ({col.zh}): keep every column of the "
                                                 "template, blank where unused")
    return found


def _find_sheet(wb: openpyxl.Workbook, sheet: Sheet) -> Worksheet | None:
    hits = [ws for ws in wb.worksheets if match(ws.title, [(sheet.name, sheet.zh)]) == sheet.name]
    return hits[0] if len(hits) == 1 else None


def _rows(ws: Worksheet, formulas: Worksheet, sheet: Sheet, out: Located) -> list[dict[str, Any]]:
    """Every non-blank row below the header: {JSON field or owner name: (value, Cell)} plus its
    `__sheet__`, `__row__` and `__problems__` ((field, message) of cells read wrong)."""
    for merged in ws.merged_cells.ranges:
        out.problem(None, Cell(ws.title, merged.min_row, merged.min_col),
                    f"merged cells {merged.coord}: every value needs a cell of its own (unmerge them)")
    columns = _headers(ws, sheet, out)
    rows = []
    pairs = zip(ws.iter_rows(min_row=2, values_only=True), formulas.iter_rows(min_row=2, values_only=True),
                strict=True)
    for r, (raw_row, formula_row) in enumerate(pairs, start=2):
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in raw_row):
            continue
        values = dict(enumerate(raw_row, start=1))
        problems: list[tuple[str, DataError]] = []
        record: dict[str, Any] = {"__sheet__": ws.title, "__row__": r, "__problems__": problems}
        for idx, raw in values.items():
            col = columns.get(idx)
            cell = Cell(ws.title, r, idx, col.name if isinstance(col, Column) else col)
            if col is None:
                if raw is not None and str(raw).strip():
                    out.problem(None, cell, "a value under a column without a header")
                continue
            if isinstance(col, str):  # an x- column: kept as the cell holds it
                key, why = col, None
                value = raw if raw is None or isinstance(raw, str | int | float | bool) else _text(raw)
            else:
                key = col.field or "__owner__"
                value, why = _cell_value(raw, formula_row[idx - 1], col)
            if why is not None and key == "__owner__":
                out.problem(None, cell, why)  # the owner link is no field of the record
            elif why is not None:
                problems.append((key, DataError(out.file, str(cell), why)))
            record[key] = (value, cell)
        rows.append(record)
    return rows


def _assign(record: dict[str, Any], path: str, target: dict[str, Any], out: Located) -> None:
    """Move a row's values into `target`, mapping each JSON path to its cell and naming its problems."""
    out.cells[path] = Cell(record["__sheet__"], record["__row__"])
    for key, err in record["__problems__"]:
        out.problems.append((f"{path}.{key}", err))
    for key, item in record.items():
        if key.startswith("__"):
            continue
        value, cell = item
        out.cells[f"{path}.{key}"] = cell
        if value is not None:
            _put(target, key, value)


def read_workbook(path: Path) -> Located:
    """Read `path` into a node-data document; every problem is collected in `Located.problems`."""
    file = str(path)
    out = Located(file, {"schema": NODE_DATA_SCHEMA})
    try:
        wb = openpyxl.load_workbook(path, data_only=True)
        formulas_wb = openpyxl.load_workbook(path, data_only=False)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise DataError(file, "(workbook)", f"cannot read as an .xlsx workbook: {exc}") from None
    out.sheet_titles = list(wb.sheetnames)
    sheets: dict[str, list[dict[str, Any]]] = {}
    titles: dict[str, str] = {}
    for sheet in SHEETS:
        ws = _find_sheet(wb, sheet)
        if ws is None:
            out.problem(None, "(workbook)", f"no sheet {sheet.name!r} ({sheet.zh}), or more than one; "
                                            f"sheets found: {', '.join(wb.sheetnames)}")
            continue
        titles[sheet.name] = ws.title
        sheets[sheet.name] = _rows(ws, formulas_wb[ws.title], sheet, out)
    org_rows = sheets.get("organisation", [])
    for extra in org_rows[1:]:
        out.problem(None, Cell(extra["__sheet__"], extra["__row__"]),
                    "one organisation per file: only one row below the header")
    if org_rows:
        org: dict[str, Any] = {}
        _assign(org_rows[0], "organisation", org, out)
        out.doc["organisation"] = org
    elif "organisation" in titles:
        out.cells["organisation"] = Cell(titles["organisation"], 2)
    products: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for i, record in enumerate(sheets.get("products", [])):
        product: dict[str, Any] = {}
        _assign(record, f"products[{i}]", product, out)
        products.append(product)
        if isinstance(product.get("id"), str):
            index.setdefault(product["id"], i)
    out.doc["products"] = products
    if "products" in titles:
        out.cells["products"] = Cell(titles["products"], 2)
    for sheet, key in ((SHEETS[2], "activities"), (SHEETS[3], "inputs")):
        for record in sheets.get(sheet.name, []):
            owner = record.pop("__owner__", None)
            row_cell = Cell(record["__sheet__"], record["__row__"])
            owner_value, owner_cell = owner if owner is not None else (None, row_cell)
            if owner_value is None or owner_value not in index:
                known = ", ".join(index) or "none"
                what = "no product id" if owner_value is None else f"unknown product {clip(repr(owner_value), 60)}"
                out.problem(None, owner_cell, f"{what}: name one of the products sheet ({known})")
                out.problems.extend((None, err) for _, err in record["__problems__"])
                continue
            items = products[index[owner_value]].setdefault(key, [])
            target: dict[str, Any] = {}
            _assign(record, f"products[{index[owner_value]}].{key}[{len(items)}]", target, out)
            items.append(target)
    return out
