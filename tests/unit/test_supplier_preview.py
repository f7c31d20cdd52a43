"""`node preview` (issue #16): the organisation's own part, computed locally, each warning with the record
that raised it, what clears it and the figure once supplied."""
import json

import pytest
from typer.testing import CliRunner

from tanji.cli import app
from tanji.methodology import profiles, slots
from tanji.methodology.footprint import own
from tanji.methodology.loader import load_factor_set, load_node_data, parse_node_data
from tanji.supplier.preview import preview
from tests.harness.data import factors_doc, node_doc, product_doc, write_dir
from tests.harness.paths import EXAMPLE_CHAIN

runner = CliRunner()
FACTORS = EXAMPLE_CHAIN / "factors.json"
CELL_MAKER = EXAMPLE_CHAIN / "cell-works.json"
CELL = "CELL-NMC811-137AH"


def _own_total(doc: dict, product: str, method: str = "miit-2025") -> float:
    fs = load_factor_set(FACTORS)
    nd = parse_node_data(json.dumps(doc).encode(), "x.json", fs).model
    return slots.total(own(nd.product(product), nd.organisation.id, nd.organisation.country, fs.by_id,
                           profiles.get(method)).vector)


def _cell_preview(method: str = "miit-2025"):
    fs = load_factor_set(FACTORS)
    pv = preview(load_node_data(CELL_MAKER, fs).model, fs, method, str(CELL_MAKER))
    return next(p for p in pv.products if p.id == CELL)


def test_the_cell_makers_preview_shows_its_fallback_and_the_figure_once_certificates_are_supplied():
    cell = _cell_preview()
    doc = json.loads(CELL_MAKER.read_text(encoding="utf-8"))
    assert cell.own_kgco2e == _own_total(doc, CELL)
    [warning] = cell.warnings
    assert warning.record == "activities[1]" and "above the certified amount" in warning.message
    assert "certified_amount" in warning.supply
    # the same file with certificates for all 3 kWh: the figure the preview announced
    record = doc["products"][1]["activities"][1]
    record["certified_amount"], record["certified_unit"] = record["amount"], record["unit"]
    supplied = _own_total(doc, CELL)
    assert warning.own_if_supplied == pytest.approx(supplied, rel=1e-12)
    assert supplied < cell.own_kgco2e


def test_the_preview_splits_own_p_by_stage_and_kind_with_its_share_and_dqr():
    fs = load_factor_set(FACTORS)
    nd = load_node_data(CELL_MAKER, fs).model
    vec = own(nd.product(CELL), "cell-works", "CN", fs.by_id, profiles.get("miit-2025")).vector
    cell = _cell_preview()
    assert [cell.stages_kgco2e[s] for s in slots.STAGES] == vec[:4].tolist()
    assert sum(cell.kinds_kgco2e.values()) == pytest.approx(cell.own_kgco2e, rel=1e-12)
    assert set(cell.kinds_kgco2e) == {"electricity", "fuel", "material", "transport", "direct"}
    assert cell.primary_data_share == vec[slots.PRIMARY] / cell.own_kgco2e
    assert cell.dqr == vec[slots.DQR_WEIGHTED] / cell.own_kgco2e
    assert len(cell.activities) == 13


def test_suppliers_inputs_are_quantities_with_their_fallback_factors():
    by_id = load_factor_set(FACTORS).by_id
    cathode = next(i for i in _cell_preview().inputs if i.supplier == "cathode-works")
    assert (cathode.quantity, cathode.unit, cathode.fallback_factor) == (690.0, "g", "material.nmc811_cam_avg")
    assert cathode.fallback_kgco2e == pytest.approx(0.690 * by_id["material.nmc811_cam_avg"].value, rel=1e-12)


def test_under_the_eu_method_a_certificate_cannot_clear_the_warning():
    cell = _cell_preview("eu-2023-1542")
    assert [w.record for w in cell.warnings] == ["activities[0]", "activities[1]"]
    assert all(w.supply is None and w.own_if_supplied is None and "eu-2023-1542" in w.note for w in cell.warnings)


def test_a_direct_connection_without_evidence_names_the_evidence_and_its_figure(tmp_path):
    direct = {"kind": "electricity", "amount": 10.0, "unit": "kWh", "model": "direct", "source": "hydro",
              "region": "east"}
    d = write_dir(tmp_path / "d", factors_doc(), node_doc("hydro-co", [product_doc("P", activities=[direct])]))
    res = runner.invoke(app, ["node", "preview", str(d / "hydro-co.json"), "--factors", str(d / "factors.json"),
                              "--json"])
    assert res.exit_code == 0, res.output
    [product] = json.loads(res.stdout)["products"]
    [warning] = product["warnings"]
    assert warning["record"] == "activities[0]" and warning["supply"].startswith("evidence")
    assert product["own_kgco2e"] == pytest.approx(10 * 0.6) and warning["own_if_supplied"] == pytest.approx(10 * 0.02)


def test_preview_text_json_and_html(tmp_path):
    args = ["node", "preview", str(CELL_MAKER), "--factors", str(FACTORS)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "activities[1]: 1 kWh above the certified amount" in res.stdout
    assert "own emissions once supplied: 14.007 kgCO2e" in res.stdout
    assert "cathode-works/CAM-NMC811-SC: 690 g; fallback material.nmc811_cam_avg" in res.stdout
    res = runner.invoke(app, [*args, "--json"])
    doc = json.loads(res.stdout)
    assert doc["schema"] == "tanji.supplier-preview/1" and doc["method"] == "miit-2025"
    page = tmp_path / "preview.html"
    res = runner.invoke(app, [*args, "--html", str(page)])
    assert res.exit_code == 0 and page.exists()
    html = page.read_text(encoding="utf-8")
    assert "14.603" in html and "14.007" in html and "activities[1]" in html and "<script" not in html


def test_preview_of_a_bad_file_lists_its_problems_and_writes_no_page(tmp_path):
    d = write_dir(tmp_path / "d", factors_doc(), node_doc("x", [product_doc("P", activities=[
        {"kind": "fuel", "factor": "fuel.unknown", "amount": 1.0, "unit": "m3"}])]))
    page = tmp_path / "p.html"
    res = runner.invoke(app, ["node", "preview", str(d / "x.json"), "--factors", str(d / "factors.json"),
                              "--html", str(page)])
    assert res.exit_code == 2 and "products[0].activities[0].factor" in res.stderr and not page.exists()


def test_import_ends_with_the_same_short_summary(tmp_path):
    res = runner.invoke(app, ["node", "import", "--state", str(tmp_path / "st"), "--data", str(CELL_MAKER),
                              "--factors", str(FACTORS)])
    assert res.exit_code == 0, res.output
    check = runner.invoke(app, ["node", "check", str(CELL_MAKER), "--factors", str(FACTORS)])
    summary = check.stdout.split("\n", 1)[1]
    assert summary.strip() and summary in res.stdout
    assert "! activities[1]: 1 kWh above the certified amount, regional grid used" in res.stdout


def test_the_method_defaults_to_the_one_the_declaration_names(tmp_path):
    from tests.harness.data import EU
    cert = {"kind": "electricity", "amount": 10.0, "unit": "kWh", "model": "green_certificate", "source": "wind",
            "evidence": "GEC-1", "certified_amount": 10.0, "certified_unit": "kWh"}
    d = write_dir(tmp_path / "d", factors_doc(), node_doc("packs", [product_doc(
        "PACK", unit="piece", declaration=EU, activities=[cert])]))
    args = ["node", "preview", str(d / "packs.json"), "--factors", str(d / "factors.json"), "--json"]
    eu = json.loads(runner.invoke(app, args).stdout)
    assert eu["method"] == "eu-2023-1542" and len(eu["products"][0]["warnings"]) == 1   # certificate not accepted
    miit = json.loads(runner.invoke(app, [*args, "--method", "miit-2025"]).stdout)
    assert miit["method"] == "miit-2025" and miit["products"][0]["warnings"] == []
