"""Supplier workbooks (issue #16): the template's layout round-trips the examples, and a malformed
workbook is refused whole with the sheet, row and column named."""
import json

import openpyxl
import pytest
from openpyxl.utils import get_column_letter
from typer.testing import CliRunner

from tanji.cli import app
from tanji.node.store import NodeStore
from tanji.supplier.layout import SHEETS, match
from tanji.supplier.writing import workbook_bytes
from tests.harness.paths import EXAMPLE_CHAIN

runner = CliRunner()
FACTORS = EXAMPLE_CHAIN / "factors.json"
NODE_FILES = sorted(p for p in EXAMPLE_CHAIN.glob("*.json") if p.name != "factors.json")


def _doc(name: str) -> dict:
    return json.loads((EXAMPLE_CHAIN / name).read_text(encoding="utf-8"))


def _flat(record: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        elif not isinstance(value, list):
            out[f"{prefix}{key}"] = value
    return out


def fill(template, doc: dict, out) -> None:
    """What a supplier does with the template: replace its rows by its own, adding a column for a field
    the template lacks (a declaration, an x- note), typed into the cells under the headers."""
    wb = openpyxl.load_workbook(template)
    owners = {"activities": "product", "inputs": "product"}
    for sheet in SHEETS:
        ws = next(ws for ws in wb.worksheets if match(ws.title, [(sheet.name, sheet.zh)]) == sheet.name)
        names = [(c.name, c.zh) for c in sheet.columns]
        headers = {}
        for idx in range(1, ws.max_column + 1):
            text = str(ws.cell(row=1, column=idx).value)
            headers[text if text.startswith("x-") else match(text, names)] = idx
        ws.delete_rows(2, ws.max_row)
        if sheet.name == "organisation":
            rows = [_flat(doc["organisation"])]
        elif sheet.name == "products":
            rows = [_flat(p) for p in doc["products"]]
        else:
            rows = [{owners[sheet.name]: p["id"],
                     **{("supplier_product" if k == "product" else k): v for k, v in _flat(r).items()}}
                    for p in doc["products"] for r in p.get(sheet.name, [])]
        for r, row in enumerate(rows, start=2):
            for key, value in row.items():
                if key not in headers:
                    headers[key] = ws.max_column + 1
                    ws.cell(row=1, column=headers[key], value=key)
                ws.cell(row=r, column=headers[key], value=value)
    wb.save(out)


@pytest.mark.parametrize("example", ["cell-works.json", "pack-assembler.json"])
@pytest.mark.parametrize("lang", ["both", "zh", "en"])
def test_template_filled_with_an_example_converts_to_that_example(tmp_path, example, lang):
    """template --out x.xlsx → fill → convert gives a file equal to the JSON one, in any header language."""
    template = tmp_path / "t.xlsx"
    res = runner.invoke(app, ["node", "template", "--org", "cell-works", "--out", str(template), "--lang", lang])
    assert res.exit_code == 0, res.output
    fill(template, _doc(example), tmp_path / "filled.xlsx")
    res = runner.invoke(app, ["node", "convert", str(tmp_path / "filled.xlsx"), "--out", str(tmp_path / "x.json"),
                              "--factors", str(FACTORS)])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "x.json").read_text(encoding="utf-8")) == _doc(example)


def test_the_template_offers_drop_downs_for_units_models_kinds_and_stages(tmp_path):
    template = tmp_path / "t.xlsx"
    assert runner.invoke(app, ["node", "template", "--org", "acme", "--out", str(template)]).exit_code == 0
    ws = next(ws for ws in openpyxl.load_workbook(template).worksheets if "activities" in ws.title)
    names = [(col.name, col.zh) for col in SHEETS[2].columns]
    header = {match(str(c.value), names): get_column_letter(i) for i, c in enumerate(ws[1], start=1)}
    lists = {str(dv.sqref).split(":")[0]: dv.formula1 for dv in ws.data_validations.dataValidation
             if dv.type == "list"}
    assert "kWh" in lists[f"{header['unit']}2"] and "tkm" in lists[f"{header['unit']}2"]
    assert lists[f"{header['model']}2"] == '"direct,green_certificate,regional_grid,national_average"'
    assert "transport" in lists[f"{header['kind']}2"] and "raw_material" in lists[f"{header['stage']}2"]


@pytest.mark.parametrize("path", NODE_FILES, ids=lambda p: p.stem)
def test_every_example_round_trips_json_to_workbook_to_json(tmp_path, path):
    res = runner.invoke(app, ["node", "convert", str(path), "--out", str(tmp_path / "x.xlsx")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["node", "convert", str(tmp_path / "x.xlsx"), "--out", str(tmp_path / "x.json")])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "x.json").read_text(encoding="utf-8")) == json.loads(path.read_text("utf-8"))


def _workbook(tmp_path, edit, lang="en"):
    """The cell maker's workbook, edited by `edit(sheets)` (sheet name -> worksheet)."""
    path = tmp_path / "in.xlsx"
    path.write_bytes(workbook_bytes(_doc("cell-works.json"), lang))
    wb = openpyxl.load_workbook(path)
    edit({ws.title: ws for ws in wb.worksheets})
    wb.save(path)
    return path


def _column(ws, name):
    return next(get_column_letter(i) for i, c in enumerate(ws[1], start=1) if c.value == name)


def _set(sheet, name, row, value):
    def edit(sheets):
        ws = sheets[sheet]
        ws[f"{_column(ws, name)}{row}"] = value
    return edit


def _drop_column(name):
    def edit(sheets):
        ws = sheets["activities"]
        ws.delete_cols(ws[f"{_column(ws, name)}1"].column)
    return edit


def _merge(sheets):
    sheets["activities"].merge_cells("N9:O9")


# rows of the cell maker's activities sheet: 2-7 the module's six records, 8-20 the cell's thirteen
MALFORMED = [
    ("wrong unit", _set("activities", "unit", 3, "kgs"), "sheet 'activities' row 3 column F (unit)", "kgs"),
    ("unknown model", _set("activities", "model", 9, "solar_roof"), "sheet 'activities' row 9 column K (model)",
     "solar_roof"),
    ("text in a number cell", _set("activities", "amount", 8, "6,5"), "sheet 'activities' row 8 column E (amount)",
     "expected a number"),
    ("missing evidence column", _drop_column("evidence"), "sheet 'activities' row 1", "'evidence'"),
    ("merged cell", _merge, "sheet 'activities' row 9 column N", "merged cells N9:O9"),
    ("unknown product", _set("activities", "product", 4, "CELL-X"), "sheet 'activities' row 4 column A (product)",
     "CELL-X"),
    ("formula without a value", _set("inputs", "quantity", 3, "=2*345"), "sheet 'inputs' row 3 column D (quantity)",
     "formula"),
    ("unknown column", _set("products", "note", 1, "remarks"), "sheet 'products' row 1 column E", "remarks"),
    ("unknown factor", _set("activities", "factor", 12, "material.unobtainium"),
     "sheet 'activities' row 12 column C (factor)", "material.unobtainium"),
]


@pytest.mark.parametrize("case,edit,where,what", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_workbook_is_refused_whole_naming_sheet_row_and_column(tmp_path, case, edit, where, what):
    book = _workbook(tmp_path, edit)
    out = tmp_path / "out.json"
    res = runner.invoke(app, ["node", "convert", str(book), "--out", str(out), "--factors", str(FACTORS)])
    assert res.exit_code == 2
    assert f"{book}: {where}" in res.stderr and what in res.stderr
    assert not out.exists()
    res = runner.invoke(app, ["node", "import", "--state", str(tmp_path / "st"), "--data", str(book),
                              "--factors", str(FACTORS)])
    assert res.exit_code == 2 and f"{book}: {where}" in res.stderr
    assert NodeStore(tmp_path / "st" / "node.db").latest_data() is None   # nothing stored


def test_chinese_headers_are_named_as_written(tmp_path):
    book = _workbook(tmp_path, lambda sheets: None, lang="zh")
    wb = openpyxl.load_workbook(book)
    ws = wb["活动数据"]
    ws["F3"] = "公斤"
    wb.save(book)
    res = runner.invoke(app, ["node", "check", str(book), "--factors", str(FACTORS)])
    assert res.exit_code == 2 and f"{book}: sheet '活动数据' row 3 column F (unit)" in res.output


def test_a_workbook_imports_directly_and_stores_the_json_it_stands_for(tmp_path):
    book = _workbook(tmp_path, lambda sheets: None)
    res = runner.invoke(app, ["node", "import", "--state", str(tmp_path / "st"), "--data", str(book),
                              "--factors", str(FACTORS)])
    assert res.exit_code == 0, res.output
    latest = NodeStore(tmp_path / "st" / "node.db").latest_data()
    assert latest is not None and json.loads(latest.content) == _doc("cell-works.json")
    assert "CELL-NMC811-137AH: own 14.603 kgCO2e per piece" in res.stdout


def test_template_and_convert_never_replace_a_file_unasked(tmp_path):
    out = tmp_path / "mine.json"
    out.write_text("filled figures")
    res = runner.invoke(app, ["node", "template", "--org", "acme", "--out", str(out)])
    assert res.exit_code == 2 and out.read_text() == "filled figures"
    res = runner.invoke(app, ["node", "template", "--org", "acme", "--out", str(out), "--force"])
    assert res.exit_code == 0 and json.loads(out.read_text())["organisation"]["id"] == "acme"
    for bad in (["--org", "Not An Id", "--out", str(tmp_path / "a.json")],
                ["--org", "acme", "--out", str(tmp_path / "a.csv")]):
        assert runner.invoke(app, ["node", "template", *bad]).exit_code == 2
    assert not (tmp_path / "a.json").exists()


def test_a_ceiling_of_the_nodes_policy_is_named_at_the_workbooks_cell(tmp_path):
    book = _workbook(tmp_path, lambda sheets: None)
    (tmp_path / "st").mkdir()
    (tmp_path / "st" / "policy.toml").write_text("[ceilings]\nkWh = 5\n")   # the module's 6 kWh is above it
    res = runner.invoke(app, ["node", "import", "--state", str(tmp_path / "st"), "--data", str(book),
                              "--factors", str(FACTORS)])
    assert res.exit_code == 2 and f"{book}: sheet 'activities' row 2 column E (amount)" in res.stderr
    assert "policy.toml" in res.stderr
    assert NodeStore(tmp_path / "st" / "node.db").latest_data() is None


def test_an_old_excel_file_is_named_not_read_as_json(tmp_path):
    old = tmp_path / "data.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    res = runner.invoke(app, ["node", "check", str(old), "--factors", str(FACTORS)])
    assert res.exit_code == 2 and f"{old}: (document): a .xls file cannot be read" in res.stdout


def test_dates_and_times_are_text_in_an_x_column_and_refused_in_a_number_cell(tmp_path):
    from datetime import date, time

    def edit(sheets):
        ws = sheets["inputs"]
        ws.cell(row=1, column=ws.max_column + 1, value="x-ordered")
        ws.cell(row=2, column=ws.max_column, value=date(2025, 3, 1))
        ws.cell(row=3, column=ws.max_column, value=time(7, 30))
    book = _workbook(tmp_path, edit)
    out = tmp_path / "x.json"
    assert runner.invoke(app, ["node", "convert", str(book), "--out", str(out)]).exit_code == 0
    inputs = [i for p in json.loads(out.read_text(encoding="utf-8"))["products"] for i in p.get("inputs", [])]
    assert [i.get("x-ordered") for i in inputs[:2]] == ["2025-03-01", "07:30:00"]
    book = _workbook(tmp_path, _set("inputs", "quantity", 3, date(2025, 3, 1)))
    res = runner.invoke(app, ["node", "convert", str(book), "--out", str(out), "--force"])
    assert res.exit_code == 2 and f"{book}: sheet 'inputs' row 3 column D (quantity)" in res.stderr
