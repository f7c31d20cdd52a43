"""PACT v3.0.3 exchange: every export validates against the specification's schema (../shared, skipped
when absent); what a result cannot state is refused by PACT field (exit 2); the official examples
import into supplier-specific factors that a plaintext reference run uses with their primary-data share
and DQR (decision 0013)."""
import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tanji.cli import app
from tanji.documents import pact
from tanji.errors import DataError
from tanji.methodology.formats.factorset import Factor
from tanji.methodology.graph import reference_result
from tanji.methodology.loader import load_data_dir
from tests.harness.data import MIIT, factors_doc, node_doc, product_doc, write_dir
from tests.harness.paths import EXAMPLE_CHAIN, EXAMPLE_TARGET, SHARED

runner = CliRunner()
PACT_DIR = SHARED / "standards" / "pact-3.0.3"
CAM = "cathode-works/CAM-NMC811-SC"
STATED = ["--fossil-carbon-content", "0", "--ipcc", "AR6"]
FOOTPRINT = ["--reference-period", "2025-01-01:2025-12-31", "--geography", "CN"]


@pytest.fixture(scope="module")
def pact_dir() -> Path:
    if not (PACT_DIR / "openapi.yaml").is_file():
        pytest.skip(f"../shared/standards/pact-3.0.3 is absent ({PACT_DIR}); these tests check against it")
    return PACT_DIR


@pytest.fixture(scope="module")
def validator(pact_dir):
    yaml = pytest.importorskip("yaml")
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    spec = yaml.safe_load((pact_dir / "openapi.yaml").read_text(encoding="utf-8"))
    assert spec["info"]["version"] == "3.0.3"
    registry = Registry().with_resource("urn:pact:openapi", Resource.from_contents(spec, DRAFT202012))
    return Draft202012Validator({"$ref": "urn:pact:openapi#/components/schemas/ProductFootprint"},
                                registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


def valid(validator, doc) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert errors == [], errors


def reference_file(tmp_path, data=EXAMPLE_CHAIN, product=CAM, name="result.json") -> Path:
    out = tmp_path / name
    res = runner.invoke(app, ["reference", str(data), "--product", product, "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def export(result: Path, out: Path, *extra: str):
    return runner.invoke(app, ["export", "pact", str(result), "--out", str(out), *extra])


def test_the_validator_refuses_what_the_schema_refuses(validator, pact_dir):
    for example in sorted(pact_dir.glob("example-*.json")):   # the official examples are valid
        valid(validator, json.loads(example.read_text()))
    broken = json.loads((pact_dir / "example-1.json").read_text())
    del broken["pcf"]["pcfExcludingBiogenicUptake"]
    assert list(validator.iter_errors(broken))


def test_a_supplier_product_footprint_exports_and_validates(tmp_path, validator):
    result = reference_file(tmp_path)
    res = export(result, tmp_path / "cam.pact.json", *STATED, *FOOTPRINT,
                 "--company-id", "urn:company:example:cathode-works", "--product-id", "urn:gtin:5695872369587")
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "cam.pact.json").read_text())
    valid(validator, doc)
    ref = json.loads(result.read_text())
    pcf = doc["pcf"]
    assert doc["specVersion"] == "3.0.3" and doc["status"] == "Active" and doc["created"] == ref["created"]
    assert doc["companyIds"] == ["urn:company:example:cathode-works"]
    assert doc["productIds"] == ["urn:gtin:5695872369587"]
    assert (pcf["declaredUnitOfMeasurement"], pcf["declaredUnitAmount"], pcf["productMassPerDeclaredUnit"]) == \
        ("kilogram", "1", "1")
    assert float(pcf["pcfExcludingBiogenicUptake"]) == ref["total_kgco2e"]
    assert float(pcf["pcfIncludingBiogenicUptake"]) == ref["total_kgco2e"] == float(pcf["fossilGhgEmissions"])
    assert math.isclose(float(pcf["primaryDataShare"]), 100 * ref["primary_data_share"], rel_tol=1e-12)
    assert "dqi" not in pcf and str(ref["dqr"])[:6] in doc["comment"]    # the one DQR, stated in words
    assert (pcf["referencePeriodStart"], pcf["referencePeriodEnd"]) == ("2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z")
    assert pcf["geographyCountry"] == "CN" and pcf["ipccCharacterizationFactors"] == ["AR6"]
    assert pcf["crossSectoralStandards"] == ["ISO14067"]
    assert pcf["secondaryEmissionFactorSources"][0]["name"] == ref["factor_set"]["id"]
    assert pcf["boundaryProcessesDescription"].startswith("Cradle to gate")
    again = tmp_path / "again.json"
    assert export(result, again, *STATED, *FOOTPRINT).exit_code == 0
    assert json.loads(again.read_text())["id"] == doc["id"]      # one result, one footprint id


@pytest.mark.parametrize("missing,field", [
    (["--ipcc", "AR6", *FOOTPRINT], "pcf.fossilCarbonContent"),
    (["--fossil-carbon-content", "0", *FOOTPRINT], "pcf.ipccCharacterizationFactors"),
    ([*STATED, "--geography", "CN"], "pcf.referencePeriodStart"),
    ([*STATED, "--reference-period", "2025-01-01:2025-12-31"], "pcf.geographyCountry"),
    ([*STATED, *FOOTPRINT, "--company-id", "cathode-works"], "companyIds"),
    ([*STATED, "--reference-period", "2025-01-01:2025-12-31", "--geography", "XX"], "pcf.geographyCountry"),
    ([*STATED, "--reference-period", "2025-12-31:2025-01-01", "--geography", "CN"], "pcf.referencePeriodEnd"),
    (["--fossil-carbon-content", "0", "--ipcc", "6", *FOOTPRINT], "pcf.ipccCharacterizationFactors"),
])
def test_what_a_result_cannot_state_is_refused_by_pact_field(tmp_path, missing, field):
    out = tmp_path / "out.json"
    res = export(reference_file(tmp_path), out, *missing)
    assert res.exit_code == 2 and f": {field}: " in res.stderr, res.output
    assert not out.exists()   # nothing half-written


def test_a_pack_declaration_with_end_of_life_is_not_a_pact_footprint(tmp_path):
    res = export(reference_file(tmp_path, product="/".join(EXAMPLE_TARGET)), tmp_path / "o.json", *STATED)
    assert res.exit_code == 2 and ": pcf.pcfExcludingBiogenicUptake: " in res.stderr and "end-of-life" in res.stderr


def small_chain(tmp_path, unit="piece", declaration=None, stage="raw_material") -> Path:
    return write_dir(tmp_path / "data", factors_doc(), node_doc("a", [product_doc(
        "A", unit=unit, declaration=declaration, stage=stage,
        activities=[{"kind": "fuel", "factor": "fuel.natural_gas", "amount": 2.0, "unit": "m3"}])]))


def test_a_declaration_exports_with_its_own_period_plant_and_mass(tmp_path, validator):
    declaration = {**MIIT, "mass_kg": 12.5, "plant": {"name": "P", "country": "DE"}}
    result = reference_file(tmp_path, small_chain(tmp_path, declaration=declaration, stage="manufacturing"), "a/A")
    res = export(result, tmp_path / "o.json", *STATED)
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "o.json").read_text())
    valid(validator, doc)
    pcf = doc["pcf"]
    assert (pcf["declaredUnitOfMeasurement"], pcf["productMassPerDeclaredUnit"]) == ("piece", "12.5")
    assert pcf["geographyCountry"] == "DE" and pcf["referencePeriodEnd"] == "2026-01-01T00:00:00Z"
    assert pcf["pcfExcludingBiogenicUptake"] == "4" and pcf["primaryDataShare"] == "100"
    assert "secondaryEmissionFactorSources" not in pcf and doc["productNameCompany"] == MIIT["model"]


@pytest.mark.parametrize("unit,extra,expected", [
    ("g", [], ("kilogram", "0.001", "0.001")),
    ("t", [], ("kilogram", "1000", "1000")),
    ("MWh", [], ("kilowatt hour", "1000", "0")),
    ("piece", ["--mass-kg", "0.85"], ("piece", "1", "0.85")),
    ("L", ["--mass-kg", "1.2"], ("liter", "1", "1.2")),
])
def test_declared_units_map_to_pact_units(tmp_path, validator, unit, extra, expected):
    res = export(reference_file(tmp_path, small_chain(tmp_path, unit), "a/A"), tmp_path / "o.json",
                 *STATED, *FOOTPRINT, "--geography", "DE-BY", *extra)
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "o.json").read_text())
    valid(validator, doc)
    pcf = doc["pcf"]
    assert (pcf["declaredUnitOfMeasurement"], pcf["declaredUnitAmount"], pcf["productMassPerDeclaredUnit"]) == expected
    assert pcf["geographyCountrySubdivision"] == "DE-BY" and "geographyCountry" not in pcf


@pytest.mark.parametrize("unit,field", [("piece", "pcf.productMassPerDeclaredUnit"),
                                        ("km", "pcf.declaredUnitOfMeasurement")])
def test_a_unit_pact_cannot_state_is_refused(tmp_path, unit, field):
    res = export(reference_file(tmp_path, small_chain(tmp_path, unit), "a/A"), tmp_path / "o.json",
                 *STATED, *FOOTPRINT)
    assert res.exit_code == 2 and f": {field}: " in res.stderr, res.output


def test_a_file_that_is_not_a_result_is_refused_naming_it(tmp_path):
    bad = tmp_path / "r.json"
    bad.write_text('{"schema": "tanji.node-data/1"}')
    res = export(bad, tmp_path / "o.json", *STATED)
    assert res.exit_code == 2 and "r.json: schema: " in res.stderr


# ---------------------------------------------------------------------------- import
def test_the_official_examples_import_as_supplier_specific_factors(pact_dir):
    for example in sorted(pact_dir.glob("example-*.json")):
        pf = json.loads(example.read_text())
        entry = pact.to_factor(pf, str(example))
        factor = Factor.model_validate(entry)
        pcf = pf["pcf"]
        assert factor.id == f"pact.{pf['id']}" and factor.supplier_specific
        assert math.isclose(factor.value, float(pcf["pcfExcludingBiogenicUptake"]) / float(pcf["declaredUnitAmount"]))
        assert factor.per_unit == pact.IMPORT_UNITS[pcf["declaredUnitOfMeasurement"]]
        assert factor.primary_data_share is not None and factor.source is not None
        assert math.isclose(factor.primary_data_share, float(pcf["primaryDataShare"]) / 100)
        assert math.isclose(factor.dqr, sum(float(v) for v in pcf["dqi"].values()) / 3)
        assert entry["x-pact"]["id"] == pf["id"] and pf["companyName"] in factor.source


def test_an_imported_example_is_used_in_a_plaintext_reference_run(tmp_path, pact_dir):
    """example-1 (0.384 kgCO2e per kg, primary-data share 12.9 %, DQRs 1.5/3.2/2.4) bought at 2 kg per unit."""
    data = write_dir(tmp_path / "data", factors_doc(), node_doc("buyer", [product_doc(
        "P", unit="piece", stage="manufacturing", declaration=MIIT,
        activities=[{"kind": "fuel", "factor": "fuel.natural_gas", "amount": 1.0, "unit": "m3"},
                    {"kind": "material", "factor": "bioethanol", "amount": 2.0, "unit": "kg",
                     "stage": "raw_material"}])]))
    factors = data / "factors.json"
    assert factors.is_file()
    res = runner.invoke(app, ["import", "pact", str(pact_dir / "example-1.json"), "--factors", str(factors),
                              "--id", "bioethanol"])
    assert res.exit_code == 0, res.output
    again = runner.invoke(app, ["import", "pact", str(pact_dir / "example-1.json"), "--factors", str(factors),
                                "--id", "bioethanol"])
    assert again.exit_code == 0   # importing the same footprint twice changes nothing
    assert sum(f["id"] == "bioethanol" for f in json.loads(factors.read_text())["factors"]) == 1
    result = reference_result(load_data_dir(data), ("buyer", "P"))
    assert result.primary_data_share is not None and result.dqr is not None
    bought = 2.0 * 0.384
    gas = 2.0  # 1 m3 × 2 kgCO2e/m3, primary, dqr 1.5
    assert math.isclose(result.total_kgco2e, gas + bought, rel_tol=1e-12)
    assert math.isclose(result.stages_kgco2e["raw_material"], bought, rel_tol=1e-12)
    assert math.isclose(result.primary_data_share, (gas + 0.129 * bought) / (gas + bought), rel_tol=1e-12)
    dqr = (1.5 + 3.2 + 2.4) / 3
    assert math.isclose(result.dqr, (gas * 1.5 + bought * dqr) / (gas + bought), rel_tol=1e-12)


def test_a_tanji_export_round_trips_into_a_factor(tmp_path):
    result = reference_file(tmp_path)
    assert export(result, tmp_path / "cam.pact.json", *STATED, *FOOTPRINT).exit_code == 0
    out = tmp_path / "new-factors.json"
    res = runner.invoke(app, ["import", "pact", str(tmp_path / "cam.pact.json"), "--factors",
                              str(EXAMPLE_CHAIN / "factors.json"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    ref = json.loads(result.read_text())
    factor = Factor.model_validate(json.loads(out.read_text())["factors"][-1])
    assert factor.unit == "kgCO2e/kg" and math.isclose(factor.value, ref["total_kgco2e"], rel_tol=1e-15)
    assert factor.primary_data_share is not None
    assert math.isclose(factor.primary_data_share, ref["primary_data_share"], rel_tol=1e-12)
    assert factor.dqr == 3.0 and factor.year == 2025 and factor.geography == "CN"   # no dqi: the default


def mutated(pact_dir, path: str, value) -> dict:
    pf = json.loads((pact_dir / "example-1.json").read_text())
    node = pf
    *parents, last = path.split(".")
    for part in parents:
        node = node[part]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return pf


@pytest.mark.parametrize("path,value", [
    ("status", "Deprecated"),
    ("pcf.declaredUnitOfMeasurement", "square meter"),
    ("pcf.pcfExcludingBiogenicUptake", "-0.5"),
    ("pcf.pcfExcludingBiogenicUptake", None),
    ("pcf.pcfExcludingBiogenicUptake", 0.384),
    ("pcf.declaredUnitAmount", "0"),
    ("pcf.primaryDataShare", "129"),
    ("pcf.dqi.temporalDQR", "7"),
    ("pcf.referencePeriodEnd", "next year"),
])
def test_a_footprint_that_cannot_be_a_factor_is_refused_by_field(tmp_path, pact_dir, path, value):
    src = tmp_path / "pf.json"
    src.write_text(json.dumps(mutated(pact_dir, path, value)))
    factors = tmp_path / "factors.json"
    factors.write_text(json.dumps(factors_doc()))
    before = factors.read_text()
    res = runner.invoke(app, ["import", "pact", str(src), "--factors", str(factors)])
    assert res.exit_code == 2 and f"pf.json: {path}: " in res.stderr, res.output
    assert factors.read_text() == before   # nothing written


def test_an_id_already_in_the_set_with_other_content_is_refused(tmp_path, pact_dir):
    factors = tmp_path / "factors.json"
    factors.write_text(json.dumps(factors_doc()))
    res = runner.invoke(app, ["import", "pact", str(pact_dir / "example-1.json"), "--factors", str(factors),
                              "--id", "fuel.diesel"])
    assert res.exit_code == 2 and "factors.json: factors[" in res.stderr and "'fuel.diesel'" in res.stderr
    res = runner.invoke(app, ["import", "pact", str(pact_dir / "example-1.json"), str(pact_dir / "example-2.json"),
                              "--factors", str(factors), "--id", "x"])
    assert res.exit_code == 2 and "--id" in res.stderr


def test_several_footprints_in_one_response_import_together(tmp_path, pact_dir):
    listing = tmp_path / "response.json"
    listing.write_text(json.dumps({"data": [json.loads((pact_dir / f"example-{i}.json").read_text())
                                            for i in (1, 2)]}))
    factors = tmp_path / "factors.json"
    factors.write_text(json.dumps(factors_doc()))
    res = runner.invoke(app, ["import", "pact", str(listing), "--factors", str(factors)])
    assert res.exit_code == 0, res.output
    added = [f for f in json.loads(factors.read_text())["factors"] if f.get("supplier_specific")]
    assert [f["unit"] for f in added] == ["kgCO2e/kg", "kgCO2e/L"]


def test_a_primary_data_share_belongs_to_a_supplier_specific_factor_only():
    with pytest.raises(Exception, match="supplier_specific"):
        Factor.model_validate({"id": "f", "value": 1.0, "unit": "kgCO2e/kg", "primary_data_share": 0.5})
    with pytest.raises(DataError):
        pact.to_factor(["not", "an", "object"], "x.json")
