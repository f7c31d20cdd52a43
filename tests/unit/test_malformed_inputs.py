"""A file that breaks a rule is refused whole, naming the file, the JSON path and what is wrong."""
import copy
import json

import pytest

from tanji.errors import DataError, DataErrors
from tanji.methodology.formats.nodedata import Declaration
from tanji.methodology.loader import parse_factor_set, parse_node_data
from tests.harness.data import MIIT, factors_doc, node_doc, product_doc

FACTORS = parse_factor_set(json.dumps(factors_doc()).encode(), "factors.json")


def valid_node() -> dict:
    return node_doc("cell-co", [
        product_doc("CELL", unit="piece", stage="manufacturing", declaration=copy.deepcopy(MIIT), activities=[
            {"kind": "electricity", "amount": 5.0, "unit": "kWh", "model": "regional_grid", "region": "east"},
            {"kind": "fuel", "factor": "fuel.natural_gas", "amount": 0.2, "unit": "m3"},
            {"kind": "material", "factor": "material.steel", "amount": 0.1, "unit": "kg"},
            {"kind": "transport", "mode": "truck", "mass": 1, "mass_unit": "kg", "distance": 10, "distance_unit": "km"},
            {"kind": "direct", "amount": 0.01, "unit": "kgCO2e"},
        ], inputs=[{"supplier": "cam-co", "product": "CAM", "quantity": 0.4, "unit": "kg",
                    "fallback_factor": "material.steel"}]),
        product_doc("MODULE", unit="piece", stage="manufacturing"),
    ])


def refuse_node(doc) -> list[DataError]:
    data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    with pytest.raises((DataError, DataErrors)) as info:
        parse_node_data(data, "suppliers/cell-co.json", FACTORS)
    return every_error(info.value)


def every_error(exc: BaseException) -> list[DataError]:
    """The rule breaks a refused file names: one DataError, or each of a DataErrors."""
    if isinstance(exc, DataErrors):
        return exc.errors
    assert isinstance(exc, DataError), exc
    return [exc]


def declaration_of(doc: dict) -> Declaration:
    declaration = parse_node_data(json.dumps(doc).encode(), "cell-co.json", FACTORS).model.products[0].declaration
    assert declaration is not None
    return declaration


def test_the_valid_document_is_accepted():
    loaded = parse_node_data(json.dumps(valid_node()).encode(), "cell-co.json", FACTORS)
    assert loaded.org == "cell-co" and len(loaded.sha256) == 64


def act(doc, i):
    return doc["products"][0]["activities"][i]


def decl(doc) -> dict:
    return doc["products"][0]["declaration"]


def as_eu(doc, **fields) -> None:
    """Rewrite the declaration for eu-2023-1542 (category M1: 60 cycles a year), then apply `fields`
    (None removes one)."""
    d = decl(doc)
    for name in ("rated_energy_kwh", "cycle_count", "energy_per_cycle_fraction", "cycle_test_report"):
        d.pop(name)
    d.update(method="eu-2023-1542", usable_energy_kwh=72.0, vehicle_category="M1", warranty_years=8)
    for name, value in fields.items():
        if value is None:
            d.pop(name)
        else:
            d[name] = value


CASES = [
    ("unknown field (typo)", lambda d: act(d, 0).update(data_sorce="primary"),
     "products[0].activities[0].data_sorce", "unknown field 'data_sorce'"),
    ("bad organisation id", lambda d: d["organisation"].update(id="Cell Co"),
     "organisation.id", "not an organisation id"),
    ("reserved organisation id", lambda d: d["organisation"].update(id="coordinator"),
     "organisation.id", "reserved id"),
    ("product id with a slash", lambda d: d["products"][0].update(id="CELL/1"),
     "products[0].id", "not a valid id"),
    ("string where a number belongs", lambda d: act(d, 0).update(amount="5.0"),
     "products[0].activities[0].amount", "valid number"),
    ("boolean where a number belongs", lambda d: act(d, 1).update(amount=True),
     "products[0].activities[1].amount", "valid number"),
    ("negative amount", lambda d: act(d, 2).update(amount=-1.0),
     "products[0].activities[2].amount", "greater than or equal to 0"),
    ("unknown unit", lambda d: act(d, 2).update(unit="lb"),
     "products[0].activities[2].unit", "unknown unit 'lb'"),
    ("unknown factor id", lambda d: act(d, 2).update(factor="material.unobtainium"),
     "products[0].activities[2].factor", "unknown factor id 'material.unobtainium'"),
    ("unit of the wrong dimension for the factor", lambda d: act(d, 2).update(unit="kWh"),
     "products[0].activities[2].unit", "factor 'material.steel' is per 'kg'"),
    ("electricity in a mass unit", lambda d: act(d, 0).update(unit="kg"),
     "products[0].activities[0].unit", "unit of mass, expected energy"),
    ("regional grid without region", lambda d: act(d, 0).pop("region"),
     "products[0].activities[0].region", "required for electricity model 'regional_grid'"),
    ("unknown electricity model", lambda d: act(d, 0).update(model="nuclear_magic"),
     "products[0].activities[0].model", "Input should be"),
    ("unknown activity kind", lambda d: act(d, 1).update(kind="teleport"),
     "products[0].activities[1].kind", "does not match any of the expected tags"),
    ("unknown stage", lambda d: d["products"][0].update(stage="use_phase"),
     "products[0].stage", "Input should be"),
    ("dqr out of range", lambda d: act(d, 4).update(dqr=7),
     "products[0].activities[4].dqr", "less than or equal to 5"),
    ("declaration field of another method", lambda d: d["products"][0]["declaration"].update(warranty_years=8),
     "products[0].declaration.warranty_years", "not a field of method 'miit-2025'"),
    ("declaration missing a required field", lambda d: d["products"][0]["declaration"].pop("energy_per_cycle_fraction"),
     "products[0].declaration.energy_per_cycle_fraction", "required by method 'miit-2025'"),
    ("unknown method", lambda d: d["products"][0]["declaration"].update(method="iso-14067"),
     "products[0].declaration.method", "Input should be"),
    # FORMATS 1.1 §2: what every declaration names
    ("declaration without model", lambda d: decl(d).pop("model"), "products[0].declaration.model", "Field required"),
    ("declaration with a blank model", lambda d: decl(d).update(model="  "),
     "products[0].declaration.model", "should match pattern"),
    ("declaration without chemistry", lambda d: decl(d).pop("chemistry"),
     "products[0].declaration.chemistry", "Field required"),
    ("declaration without plant", lambda d: decl(d).pop("plant"), "products[0].declaration.plant", "Field required"),
    ("plant without name", lambda d: decl(d)["plant"].pop("name"),
     "products[0].declaration.plant.name", "Field required"),
    ("plant country not ISO 3166", lambda d: decl(d)["plant"].update(country="Hungary"),
     "products[0].declaration.plant.country", "not an ISO 3166-1 alpha-2"),
    ("declaration without reference period", lambda d: decl(d).pop("reference_period"),
     "products[0].declaration.reference_period", "Field required"),
    ("reference period without its start", lambda d: decl(d)["reference_period"].pop("from"),
     "products[0].declaration.reference_period.from", "Field required"),
    ("reference period date not ISO", lambda d: decl(d)["reference_period"].update(to="31.12.2025"),
     "products[0].declaration.reference_period.to", "not an ISO 8601 date"),
    ("reference period date that does not exist", lambda d: decl(d)["reference_period"].update(to="2025-02-30"),
     "products[0].declaration.reference_period.to", "not an ISO 8601 date"),
    ("reference period ending before it begins", lambda d: decl(d)["reference_period"].update(to="2024-12-31"),
     "products[0].declaration.reference_period.to", "ends (2024-12-31) before it begins (2025-01-01)"),
    ("mass of zero", lambda d: decl(d).update(mass_kg=0), "products[0].declaration.mass_kg", "greater than 0"),
    # miit-2025: the cycle test report and a whole cycle count
    ("miit without cycle test report", lambda d: decl(d).pop("cycle_test_report"),
     "products[0].declaration.cycle_test_report", "required by method 'miit-2025'"),
    ("miit cycle count not a whole number", lambda d: decl(d).update(cycle_count=2000.5),
     "products[0].declaration.cycle_count", "must be a whole number"),
    ("miit cycle count as a string", lambda d: decl(d).update(cycle_count="2000"),
     "products[0].declaration.cycle_count", "valid integer"),
    # eu-2023-1542: the functional unit follows the vehicle category and the warranty years
    ("eu without vehicle category", lambda d: as_eu(d, vehicle_category=None),
     "products[0].declaration.vehicle_category", "required by method 'eu-2023-1542'"),
    ("eu without warranty years", lambda d: as_eu(d, warranty_years=None),
     "products[0].declaration.warranty_years", "required by method 'eu-2023-1542'"),
    ("eu unknown vehicle category", lambda d: as_eu(d, vehicle_category="SUV"),
     "products[0].declaration.vehicle_category", "Input should be"),
    ("eu cycles per year for a listed category", lambda d: as_eu(d, full_equivalent_cycles_per_year=100),
     "products[0].declaration.full_equivalent_cycles_per_year",
     "only for vehicle_category 'other': category 'M1' has 60 full-equivalent cycles per year"),
    ("eu category other without its cycles", lambda d: as_eu(d, vehicle_category="other", cycles_justification="fleet"),
     "products[0].declaration.full_equivalent_cycles_per_year", "required for vehicle_category 'other'"),
    ("eu category other without justification",
     lambda d: as_eu(d, vehicle_category="other", full_equivalent_cycles_per_year=120),
     "products[0].declaration.cycles_justification", "required for vehicle_category 'other'"),
    ("eu with the 1.0 service years", lambda d: as_eu(d, warranty_years=None, service_years=8),
     "products[0].declaration.service_years", "follows 'vehicle_category' and 'warranty_years'"),
    ("eu with a miit field", lambda d: as_eu(d, cycle_count=2000),
     "products[0].declaration.cycle_count", "not a field of method 'eu-2023-1542'"),
    ("duplicate product id", lambda d: d["products"][1].update(id="CELL"),
     "products[1].id", "duplicate product id 'CELL'"),
    ("input without unit", lambda d: d["products"][0]["inputs"][0].pop("unit"),
     "products[0].inputs[0].unit", "Field required"),
    ("unknown fallback factor", lambda d: d["products"][0]["inputs"][0].update(fallback_factor="material.nope"),
     "products[0].inputs[0].fallback_factor", "unknown factor id 'material.nope'"),
    ("fallback factor of the wrong dimension", lambda d: d["products"][0]["inputs"][0].update(unit="kWh"),
     "products[0].inputs[0].unit", "is per 'kg'"),
    ("certified amount without its unit",
     lambda d: act(d, 0).update(model="green_certificate", source="wind", certified_amount=2.0),
     "products[0].activities[0].certified_unit", "go together"),
    ("transport distance in kg", lambda d: act(d, 3).update(distance_unit="kg"),
     "products[0].activities[3].distance_unit", "expected distance"),
    ("direct emissions in kWh", lambda d: act(d, 4).update(unit="kWh"),
     "products[0].activities[4].unit", "expected emissions"),
    ("country not ISO 3166", lambda d: d["organisation"].update(country="XX"),
     "organisation.country", "not an ISO 3166-1 alpha-2"),
    ("wrong schema", lambda d: d.update(schema="tanji.node-data/2"),
     "schema", "unknown schema 'tanji.node-data/2'"),
    ("missing products", lambda d: d.pop("products"), "products", "Field required"),
    ("internal name used as a field", lambda d: act(d, 4).update(extensions={}),
     "products[0].activities[4].extensions", "unknown field"),
]


@pytest.mark.parametrize("name,mutate,path,rule", CASES, ids=[c[0] for c in CASES])
def test_malformed_node_data_is_refused_naming_file_path_and_field(name, mutate, path, rule):
    """`rule`: the rule the field breaks, for the reader of the table; the refusal is asserted by
    its file and field (DataError.file, DataError.path), not by the wording of its message."""
    doc = valid_node()
    mutate(doc)
    errors = refuse_node(doc)
    hits = [e for e in errors if e.path == path]
    assert hits, f"no error at {path}; got {[str(e) for e in errors]}"
    assert hits[0].file == "suppliers/cell-co.json" and hits[0].message


def test_valid_eu_declarations_are_accepted_with_their_functional_unit():
    doc = valid_node()
    as_eu(doc)
    assert declaration_of(doc).lifetime_energy_kwh() == 72.0 * 60 * 8
    for category, cycles in (("N1", 60), ("L", 20), ("M2", 250), ("M3", 250), ("N2", 250), ("N3", 250)):
        doc = valid_node()
        as_eu(doc, vehicle_category=category)
        assert declaration_of(doc).lifetime_energy_kwh() == 72.0 * cycles * 8
    doc = valid_node()
    as_eu(doc, vehicle_category="other", full_equivalent_cycles_per_year=120, cycles_justification="bus duty cycle")
    assert declaration_of(doc).lifetime_energy_kwh() == 72.0 * 120 * 8


def test_a_whole_cycle_count_may_be_written_as_a_float():
    doc = valid_node()
    decl(doc)["cycle_count"] = 2000.0
    declaration = declaration_of(doc)
    assert declaration.cycle_count == 2000 and isinstance(declaration.cycle_count, int)


def outside_china(country: str = "FR") -> dict:
    doc = valid_node()
    doc["organisation"]["country"] = country
    return doc


def test_a_plant_outside_china_without_its_national_average_is_refused_at_import():
    """FORMATS 1.1 §2: never China's average silently applied to a plant elsewhere."""
    errors = refuse_node(outside_china("FR"))
    # one refusal for the organisation, not one more per record that would have used the average
    assert [(e.file, e.path) for e in errors] == [("suppliers/cell-co.json", "organisation.country")]
    message = errors[0].message   # it names the country, the first record, the missing factor and the factor set
    for named in ("FR", "products[0].activities[0]", "'electricity.grid.national.FR'", "'test-1'"):
        assert named in message, message


def test_a_plant_outside_china_with_its_national_average_or_without_electricity_is_accepted():
    parse_node_data(json.dumps(outside_china("DE")).encode(), "cell-co.json", FACTORS)  # the set has DE's
    doc = outside_china("FR")
    doc["products"][0]["activities"].pop(0)  # no electricity record: no national average needed
    parse_node_data(json.dumps(doc).encode(), "cell-co.json", FACTORS)


def test_china_without_any_national_average_is_refused_where_a_record_needs_it():
    factors = factors_doc()
    factors["factors"] = [f for f in factors["factors"] if f["id"] != "electricity.grid.national"]
    without = parse_factor_set(json.dumps(factors).encode(), "factors.json")
    doc = valid_node()
    act(doc, 0).update(model="national_average")
    with pytest.raises((DataError, DataErrors)) as info:
        parse_node_data(json.dumps(doc).encode(), "cn/cell-co.json", without)
    errors = every_error(info.value)
    assert [(e.file, e.path) for e in errors] == [("cn/cell-co.json", "products[0].activities[0].model")]
    assert "'electricity.grid.national.CN'" in errors[0].message and "'electricity.grid.national'" in errors[0].message


def test_tanji_reference_refuses_a_plant_outside_china_without_its_national_average(tmp_path):
    from typer.testing import CliRunner

    from tanji.cli import app
    from tests.harness.data import write_dir

    d = write_dir(tmp_path / "data", factors_doc(), outside_china("FR"))
    res = CliRunner().invoke(app, ["reference", str(d), "--product", "cell-co/CELL"])
    assert res.exit_code == 2, res.output
    message = " ".join(res.stderr.split())
    assert "cell-co.json: organisation.country: " in message and "'electricity.grid.national.FR'" in message


@pytest.mark.parametrize("raw,where", [
    (b'{"schema": "tanji.node-data/1", "organisation": {"id": "a"}, "products": [NaN]}', "(document)"),  # NaN
    (b'{"schema": "tanji.node-data/1", "schema": "x"}', "(document)"),                                  # a repeated key
    (b'{"schema": "tanji.node-data/1",', "(line 1, column 32)"),                                        # not JSON
    (b'\xff\xfe{}', "(document)"),                                                                     # not UTF-8
    (b'[1, 2]', "(document)"),                                                                          # not an object
])
def test_malformed_json_is_refused(raw, where):
    (error,) = refuse_node(raw)
    assert (error.file, error.path) == ("suppliers/cell-co.json", where) and error.message


def test_x_extensions_are_kept_and_ignored():
    doc = valid_node()
    act(doc, 0)["x-meter-id"] = "M-17"
    doc["x-erp"] = {"system": "SAP"}
    loaded = parse_node_data(json.dumps(doc).encode(), "cell-co.json", FACTORS)
    assert loaded.model.products[0].activities[0].extensions == {"x-meter-id": "M-17"}
    assert loaded.model.extensions == {"x-erp": {"system": "SAP"}}


def test_all_errors_of_a_file_are_reported_together():
    doc = valid_node()
    act(doc, 0).update(amount="1")
    act(doc, 2).update(unit="lb")
    paths = {e.path for e in refuse_node(doc)}
    assert {"products[0].activities[0].amount", "products[0].activities[2].unit"} <= paths


FACTOR_CASES = [
    ("negative factor", lambda d: d["factors"][0].update(value=-0.1), "factors[0].value", "greater than or equal to 0"),
    ("factor unit not per a unit", lambda d: d["factors"][0].update(unit="kgCO2e"), "factors[0].unit", "kgCO2e/<unit>"),
    ("factor per unknown unit", lambda d: d["factors"][0].update(unit="kgCO2e/mile"), "factors[0].unit",
     "unknown unit 'mile'"),
    ("duplicate factor id", lambda d: d["factors"][1].update(id=d["factors"][0]["id"]), "factors[1].id",
     "duplicate factor id"),
    ("year as a string", lambda d: d["factors"][0].update(year="2023"), "factors[0].year", "valid integer"),
    ("unknown family", lambda d: d["factors"][0].update(family="ghg"), "factors[0].family", "Input should be"),
    ("unknown top-level field", lambda d: d.update(publisher="x"), "publisher", "unknown field 'publisher'"),
]


@pytest.mark.parametrize("name,mutate,path,rule", FACTOR_CASES, ids=[c[0] for c in FACTOR_CASES])
def test_malformed_factor_set_is_refused(name, mutate, path, rule):
    doc = factors_doc()
    mutate(doc)
    with pytest.raises((DataError, DataErrors)) as info:
        parse_factor_set(json.dumps(doc).encode(), "factors/ref.json")
    errors = every_error(info.value)
    hit = [e for e in errors if e.path == path]
    assert hit and hit[0].file == "factors/ref.json", [str(e) for e in errors]


def test_note_is_allowed_only_on_activities_and_products():
    doc = valid_node()
    doc["products"][0]["note"] = "ok"
    act(doc, 0)["note"] = "ok"
    parse_node_data(json.dumps(doc).encode(), "cell-co.json", FACTORS)
    doc["products"][0]["inputs"][0]["note"] = "not here"
    assert [e.path for e in refuse_node(doc)] == ["products[0].inputs[0].note"]
