"""Write node data as a supplier workbook (.xlsx): the template, or an existing JSON file's figures.

Each sheet carries the layout's columns with their help as header comments, drop-down
lists for units, kinds, models, stages and data sources, and number checks, so most
slips are caught while typing; the reader checks everything again.
"""
from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from tanji.errors import DataError
from tanji.supplier.layout import ACTIVITIES, ORGANISATION, PRODUCTS, SHEETS, Column, Sheet, header_text
from tanji.supplier.template import HELP

#: rows the drop-downs and number checks cover below the header
VALIDATED_ROWS = 500
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")


def _get(record: dict[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _rows(doc: dict[str, Any], sheet: Sheet) -> list[dict[str, Any]]:
    """The records of `sheet` as flat {column name or x- name: value}, owner column filled in."""
    products = doc.get("products") or []
    if sheet is ORGANISATION:
        records = [(None, doc.get("organisation") or {})]
    elif sheet is PRODUCTS:
        records = [(None, p) for p in products]
    else:
        key = "activities" if sheet is ACTIVITIES else "inputs"
        records = [(p.get("id"), r) for p in products for r in p.get(key) or []]
    out = []
    for owner, record in records:
        row: dict[str, Any] = {}
        for col in sheet.columns:
            row[col.name] = owner if col.field is None else _get(record, col.field)
        row.update({k: v for k, v in record.items() if k.startswith("x-") and k != HELP})
        out.append(row)
    return out


def _validation(col: Column, letter: str) -> DataValidation | None:
    area = f"{letter}2:{letter}{VALIDATED_ROWS + 1}"
    dv: DataValidation | None = None
    if col.choices:
        dv = DataValidation(type="list", formula1='"' + ",".join(col.choices) + '"', allow_blank=True,
                            showErrorMessage=True, errorTitle=col.name,
                            error=f"{col.name}: one of {', '.join(col.choices)}")
    elif col.name == "dqr":
        dv = DataValidation(type="decimal", operator="between", formula1="1", formula2="5", allow_blank=True,
                            showErrorMessage=True, errorTitle="dqr", error="dqr: a number from 1 (best) to 5")
    elif col.kind == "number":
        dv = DataValidation(type="decimal", operator="greaterThanOrEqual", formula1="0", allow_blank=True,
                            showErrorMessage=True, errorTitle=col.name, error=f"{col.name}: a number ≥ 0")
    if dv is not None:
        dv.add(area)
    return dv


def _sheet(ws: Worksheet, sheet: Sheet, rows: list[dict[str, Any]], lang: str, file: str) -> None:
    used_declaration = {c.name for c in sheet.columns if not c.required and any(r.get(c.name) is not None
                                                                                 for r in rows)}
    columns = [c for c in sheet.columns if c.required or c.name in used_declaration]
    extensions = sorted({k for r in rows for k in r if k.startswith("x-")})
    headers: list[tuple[str, Column | None]] = [(c.name, c) for c in columns] + [(x, None) for x in extensions]
    for idx, (name, col) in enumerate(headers, start=1):
        cell = ws.cell(row=1, column=idx, value=name if col is None else header_text(col.name, col.zh, lang))
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        letter = get_column_letter(idx)
        ws.column_dimensions[letter].width = max(12, min(40, len(str(cell.value)) + 4))
        if col is not None:
            cell.comment = Comment(f"{col.name} ({col.zh}): {col.help}", "tanji", width=320, height=120)
            dv = _validation(col, letter)
            if dv is not None:
                ws.add_data_validation(dv)
    for r, row in enumerate(rows, start=2):
        for idx, (name, _) in enumerate(headers, start=1):
            value = row.get(name)
            if isinstance(value, dict | list):
                raise DataError(file, f"sheet {ws.title!r} row {r} ({name})",
                                "a nested value cannot be put in a cell; only text and numbers can")
            ws.cell(row=r, column=idx, value=value)
    ws.freeze_panes = "A2"


def _readme(ws: Worksheet, lang: str) -> None:
    lines = [
        "tanji node data workbook — FORMATS §2 as four sheets (tanji node convert turns it into JSON)",
        "Row 1 of each sheet is its header (English, Chinese or both); one record per row below it.",
        "activities and inputs: column 'product' names the product (products sheet) the row belongs to; "
        "row order is record order.",
        "Keep every column (blank where unused); add your own columns with names starting with 'x-'.",
        "Numbers are numbers (no units or quotes in the cell); merged cells and formulas without a value are "
        "refused.",
        "Cells <…> are placeholders: fill them or delete the row.",
        "Then: tanji node check FILE.xlsx --factors FACTORS.json; tanji node preview …; tanji node import …",
        "",
    ]
    for sheet in SHEETS:
        lines.append(f"[{header_text(sheet.name, sheet.zh, lang)}] {sheet.help}")
        lines += [f"  {c.name} ({c.zh}): {c.help}" + (f" — {', '.join(c.choices)}" if c.choices else "")
                  for c in sheet.columns if c.required]
    for r, line in enumerate(lines, start=1):
        ws.cell(row=r, column=1, value=line)
    ws.column_dimensions["A"].width = 120


def workbook_bytes(doc: dict[str, Any], lang: str = "both", file: str = "(workbook)") -> bytes:
    """The workbook of node-data document `doc` (a template's placeholders written as they are)."""
    wb = Workbook()
    readme = wb.active
    assert readme is not None
    readme.title = header_text("README", "说明", lang)
    _readme(readme, lang)
    for sheet in SHEETS:
        _sheet(wb.create_sheet(header_text(sheet.name, sheet.zh, lang)), sheet, _rows(doc, sheet), lang, file)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
