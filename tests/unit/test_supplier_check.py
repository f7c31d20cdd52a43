"""`node template` (JSON) and `node check` (issue #16): the template, filled, computes the example's own(p);
check needs no node and lists every problem of a file at once."""
import copy
import json

import pytest
from typer.testing import CliRunner

from tanji.cli import app
from tanji.methodology import profiles
from tanji.methodology.footprint import own
from tanji.methodology.loader import load_factor_set, load_node_data
from tanji.node.importer import load_current
from tanji.node.store import NodeStore
from tanji.supplier.template import is_placeholder, placeholders
from tests.harness.data import electricity, factors_doc, material, node_doc, product_doc, write_dir
from tests.harness.paths import EXAMPLE_CHAIN

runner = CliRunner()
FACTORS = EXAMPLE_CHAIN / "factors.json"


def _template(tmp_path, org: str, products: int = 1) -> dict:
    out = tmp_path / "template.json"
    res = runner.invoke(app, ["node", "template", "--org", org, "--products", str(products), "--out", str(out)])
    assert res.exit_code == 0, res.output
    return json.loads(out.read_text(encoding="utf-8"))


def _fill_record(template: dict, figures: dict) -> dict:
    """Fill a template record with a record's figures: its fields replace the placeholders, a placeholder
    the record has no value for is removed; the comments (x-help) and the template's fixed values stay."""
    out = {}
    for key, value in template.items():
        if key in figures:
            out[key] = figures[key]
        elif not is_placeholder(value):
            out[key] = value
    return {**out, **{k: v for k, v in figures.items() if k not in out}}


def _pick(records: list[dict], figures: dict) -> dict:
    """The template record of the same kind (and electricity model) as `figures`."""
    return next(r for r in records if r.get("kind") == figures.get("kind")
                and (figures.get("kind") != "electricity" or r["model"] == figures["model"]))


def fill(template: dict, example: dict) -> dict:
    doc = copy.deepcopy(template)
    doc["organisation"] = _fill_record(doc["organisation"], example["organisation"])
    skeletons = doc["products"]
    doc["products"] = []
    for skeleton, product in zip(skeletons, example["products"], strict=True):
        filled = _fill_record({k: v for k, v in skeleton.items() if k not in ("activities", "inputs")},
                              {k: v for k, v in product.items() if k not in ("activities", "inputs")})
        filled["activities"] = [_fill_record(_pick(skeleton["activities"], a), a) for a in product["activities"]]
        filled["inputs"] = [_fill_record(skeleton["inputs"][0], i) for i in product.get("inputs", [])]
        doc["products"].append(filled)
    return doc


def test_the_template_has_every_kind_every_electricity_model_with_evidence_and_a_fallback(tmp_path):
    doc = _template(tmp_path, "acme", products=2)
    assert doc["organisation"]["id"] == "acme" and len(doc["products"]) == 2
    acts = doc["products"][0]["activities"]
    assert {a["kind"] for a in acts} == {"electricity", "fuel", "material", "transport", "direct"}
    models = {a["model"]: a for a in acts if a["kind"] == "electricity"}
    assert set(models) == set(profiles.ELECTRICITY_MODELS)
    assert {"evidence", "source"} <= set(models["direct"])
    assert {"evidence", "source", "certified_amount", "certified_unit"} <= set(models["green_certificate"])
    assert "fallback_factor" in doc["products"][0]["inputs"][0]
    assert all(a.get("x-help") for a in acts)   # commented


@pytest.mark.parametrize("example", ["cell-works.json", "pack-assembler.json", "cathode-works.json"])
def test_the_template_filled_with_the_examples_figures_imports_with_the_same_own_footprint(tmp_path, example):
    figures = json.loads((EXAMPLE_CHAIN / example).read_text(encoding="utf-8"))
    doc = fill(_template(tmp_path, figures["organisation"]["id"], len(figures["products"])), figures)
    assert placeholders(doc) == []
    filled = tmp_path / "filled.json"
    filled.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    res = runner.invoke(app, ["node", "import", "--state", str(tmp_path / "st"), "--data", str(filled),
                              "--factors", str(FACTORS)])
    assert res.exit_code == 0, res.output
    stored = load_current(NodeStore(tmp_path / "st" / "node.db"))
    assert stored is not None
    fs = load_factor_set(FACTORS)
    reference = load_node_data(EXAMPLE_CHAIN / example, fs).model
    mine = stored[0].model
    for profile in profiles.PROFILES.values():
        for theirs in reference.products:
            a = own(theirs, reference.organisation.id, reference.organisation.country, fs.by_id, profile)
            b = own(mine.product(theirs.id), mine.organisation.id, mine.organisation.country, fs.by_id, profile)
            assert b.vector.tolist() == a.vector.tolist() and b.warnings == a.warnings


def test_an_unfilled_template_is_refused_naming_every_placeholder(tmp_path):
    doc = _template(tmp_path, "acme")
    res = runner.invoke(app, ["node", "check", str(tmp_path / "template.json"), "--factors", str(FACTORS)])
    assert res.exit_code == 2
    listed = [line for line in res.stdout.splitlines() if "placeholder not filled" in line]
    assert len(listed) == len(placeholders(doc)) > 10
    assert f"{tmp_path / 'template.json'}: products[0].activities[2].certified_amount: " in res.stdout
    res = runner.invoke(app, ["node", "import", "--state", str(tmp_path / "st"), "--data",
                              str(tmp_path / "template.json"), "--factors", str(FACTORS)])
    assert res.exit_code == 2   # a placeholder evidence text is never imported as evidence
    assert NodeStore(tmp_path / "st" / "node.db").latest_data() is None


def _several_problems(tmp_path):
    """A plant in France (no French national average in the set) with: an unknown factor id (product A),
    a number written as text and an unknown unit (product B)."""
    return write_dir(tmp_path / "d", factors_doc(), node_doc("fr-works", [
        product_doc("A", activities=[electricity(2.0), material("material.unobtainium", 1.0, "kg")]),
        product_doc("B", activities=[{"kind": "fuel", "factor": "fuel.natural_gas", "amount": "9", "unit": "m3"},
                                     material("material.steel", 1.0, "kgs")]),
    ], country="FR"))


def test_check_lists_every_problem_of_a_file_with_several(tmp_path):
    d = _several_problems(tmp_path)
    res = runner.invoke(app, ["node", "check", str(d / "fr-works.json"), "--factors", str(d / "factors.json")])
    assert res.exit_code == 2
    named = {line.split(": ")[1] for line in res.stdout.splitlines()}
    assert named == {"organisation.country",                  # FORMATS 1.1: France's national average is missing
                     "products[0].activities[1].factor",       # unknown factor id, in the product that is valid
                     "products[1].activities[0].amount",       # "9" is text
                     "products[1].activities[1].unit"}         # 'kgs'
    assert "electricity.grid.national.FR" in res.stdout
    assert "4 problems" in res.stderr


def test_check_needs_no_node_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["node", "check", str(EXAMPLE_CHAIN / "cell-works.json"), "--factors", str(FACTORS)])
    assert res.exit_code == 0, res.output
    assert "valid" in res.stdout and "1 warning under miit-2025" in res.stdout
    assert list(tmp_path.iterdir()) == []


def test_check_of_a_plant_abroad_names_the_missing_national_factor(tmp_path):
    d = write_dir(tmp_path / "d", factors_doc(), node_doc("fr-works", [product_doc("A", activities=[
        {"kind": "electricity", "amount": 1.0, "unit": "kWh", "model": "national_average"}])], country="FR"))
    res = runner.invoke(app, ["node", "check", str(d / "fr-works.json"), "--factors", str(d / "factors.json")])
    assert res.exit_code == 2 and f"{d / 'fr-works.json'}: organisation.country: " in res.stdout
    assert "electricity.grid.national.FR" in res.stdout


def test_check_refuses_an_unknown_method_and_a_missing_file(tmp_path):
    res = runner.invoke(app, ["node", "check", str(EXAMPLE_CHAIN / "cell-works.json"), "--factors", str(FACTORS),
                              "--method", "ghg-2099"])
    assert res.exit_code == 2 and "ghg-2099" in res.stderr
    res = runner.invoke(app, ["node", "check", str(tmp_path / "none.json"), "--factors", str(FACTORS)])
    assert res.exit_code == 2 and f"{tmp_path / 'none.json'}: (document): cannot read" in res.stdout
