"""A file that breaks a rule is refused whole, naming the file, the JSON path and what is wrong."""
import json

import pytest

from tanji.errors import DataError, DataErrors
from tanji.methodology.loader import parse_factor_set, parse_node_data
from tests.builders import MIIT, factors_doc, node_doc, product_doc

FACTORS = parse_factor_set(json.dumps(factors_doc()).encode(), "factors.json")


def valid_node() -> dict:
    return node_doc("cell-co", [
        product_doc("CELL", unit="piece", stage="manufacturing", declaration=dict(MIIT), activities=[
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
    exc = info.value
    return exc.errors if isinstance(exc, DataErrors) else [exc]


def test_the_valid_document_is_accepted():
    loaded = parse_node_data(json.dumps(valid_node()).encode(), "cell-co.json", FACTORS)
    assert loaded.org == "cell-co" and len(loaded.sha256) == 64


def act(doc, i):
    return doc["products"][0]["activities"][i]


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
    ("declaration field of another method", lambda d: d["products"][0]["declaration"].update(service_years=8),
     "products[0].declaration.service_years", "not a field of method 'miit-2025'"),
    ("declaration missing a required field", lambda d: d["products"][0]["declaration"].pop("energy_per_cycle_fraction"),
     "products[0].declaration.energy_per_cycle_fraction", "required by method 'miit-2025'"),
    ("unknown method", lambda d: d["products"][0]["declaration"].update(method="iso-14067"),
     "products[0].declaration.method", "Input should be"),
    ("duplicate product id", lambda d: d["products"][1].update(id="CELL"),
     "products[1].id", "duplicate product id 'CELL'"),
    ("input without unit", lambda d: d["products"][0]["inputs"][0].pop("unit"),
     "products[0].inputs[0].unit", "Field required"),
    ("unknown fallback factor", lambda d: d["products"][0]["inputs"][0].update(fallback_factor="material.nope"),
     "products[0].inputs[0].fallback_factor", "unknown factor id 'material.nope'"),
    ("fallback factor of the wrong dimension", lambda d: d["products"][0]["inputs"][0].update(unit="kWh"),
     "products[0].inputs[0].unit", "is per 'kg'"),
    ("certified amount without its unit", lambda d: act(d, 0).update(model="green_certificate", source="wind", certified_amount=2.0),
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


@pytest.mark.parametrize("name,mutate,path,message", CASES, ids=[c[0] for c in CASES])
def test_malformed_node_data_is_refused_naming_file_path_and_field(name, mutate, path, message):
    doc = valid_node()
    mutate(doc)
    errors = refuse_node(doc)
    hits = [e for e in errors if e.path == path]
    assert hits, f"no error at {path}; got {[str(e) for e in errors]}"
    assert message in hits[0].message
    assert str(hits[0]).startswith(f"suppliers/cell-co.json: {path}: ")


@pytest.mark.parametrize("raw,fragment", [
    (b'{"schema": "tanji.node-data/1", "organisation": {"id": "a"}, "products": [NaN]}', "NaN is not a JSON number"),
    (b'{"schema": "tanji.node-data/1", "schema": "x"}', "duplicate key 'schema'"),
    (b'{"schema": "tanji.node-data/1",', "invalid JSON"),
    (b'\xff\xfe{}', "not UTF-8"),
    (b'[1, 2]', "a tanji file is a JSON object"),
])
def test_malformed_json_is_refused(raw, fragment):
    errors = refuse_node(raw)
    assert fragment in str(errors[0]) and str(errors[0]).startswith("suppliers/cell-co.json: ")


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
    ("factor per unknown unit", lambda d: d["factors"][0].update(unit="kgCO2e/mile"), "factors[0].unit", "unknown unit 'mile'"),
    ("duplicate factor id", lambda d: d["factors"][1].update(id=d["factors"][0]["id"]), "factors[1].id", "duplicate factor id"),
    ("year as a string", lambda d: d["factors"][0].update(year="2023"), "factors[0].year", "valid integer"),
    ("unknown family", lambda d: d["factors"][0].update(family="ghg"), "factors[0].family", "Input should be"),
    ("unknown top-level field", lambda d: d.update(publisher="x"), "publisher", "unknown field 'publisher'"),
]


@pytest.mark.parametrize("name,mutate,path,message", FACTOR_CASES, ids=[c[0] for c in FACTOR_CASES])
def test_malformed_factor_set_is_refused(name, mutate, path, message):
    doc = factors_doc()
    mutate(doc)
    with pytest.raises((DataError, DataErrors)) as info:
        parse_factor_set(json.dumps(doc).encode(), "factors/ref.json")
    errors = info.value.errors if isinstance(info.value, DataErrors) else [info.value]
    hit = [e for e in errors if e.path == path]
    assert hit and message in hit[0].message, [str(e) for e in errors]
    assert str(hit[0]).startswith(f"factors/ref.json: {path}: ")


def test_note_is_allowed_only_on_activities_and_products():
    doc = valid_node()
    doc["products"][0]["note"] = "ok"
    act(doc, 0)["note"] = "ok"
    parse_node_data(json.dumps(doc).encode(), "cell-co.json", FACTORS)
    doc["products"][0]["inputs"][0]["note"] = "not here"
    assert [e.path for e in refuse_node(doc)] == ["products[0].inputs[0].note"]
