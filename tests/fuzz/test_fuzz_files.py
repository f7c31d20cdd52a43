"""Fuzzing the node-data and factor-set loaders with mutated valid files from examples/nmc811-pack.

A file is accepted or refused with the project's own error (`DataError` / `DataErrors`), each
naming the file and a JSON path, with a readable message — never a KeyError, TypeError,
RecursionError … And a file that is accepted can be computed: its own footprint is a finite
number under every method profile (the loader computes it, so a loaded file cannot fail later).
"""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tanji.errors import DataError, DataErrors
from tanji.methodology import profiles
from tanji.methodology.footprint import own
from tanji.methodology.formats.base import MAX_MESSAGE_CHARS
from tanji.methodology.loader import parse_factor_set, parse_node_data
from tanji.node import plausibility
from tests.harness.fuzzing import FAST, SLOW, byte_mutations
from tests.harness.paths import EXAMPLES

PACK = EXAMPLES / "nmc811-pack"
FACTORS_BYTES = (PACK / "factors.json").read_bytes()
FACTORS = parse_factor_set(FACTORS_BYTES, "factors.json")
NODE_FILES = sorted(p.name for p in PACK.glob("*.json") if p.name != "factors.json")
DOCS = {name: json.loads((PACK / name).read_text()) for name in NODE_FILES}
FACTORS_DOC = json.loads(FACTORS_BYTES)
CEILINGS = {"kWh": 2000.0, "kg": 50.0, "tkm": 100.0}
#: strings the formats give meaning to: units, kinds, models, stages, ids, methods
WORDS = ["kWh", "MWh", "kg", "t", "g", "m3", "L", "tkm", "km", "piece", "kgCO2e", "electricity", "fuel", "material",
         "transport", "direct", "regional_grid", "national_average", "direct", "green_certificate", "raw_material",
         "manufacturing", "distribution", "end_of_life", "primary", "secondary", "miit-2025", "eu-2023-1542", "CN",
         "DE", "ZZ", "x-note", "extensions", "schema", "tanji.node-data/1", "tanji.factor-set/1", "coordinator",
         "cell-works", "CELL", "electricity.grid.national", "fuel.natural_gas", "../x", "", "é中",
         # FORMATS 1.1: declarations, and the national average of a plant outside CN
         "ID", "FR", "electricity.grid.national.ID", "declaration", "model", "chemistry", "plant", "reference_period",
         "from", "to", "2025-01-01", "2025-13-01", "mass_kg", "cycle_count", "cycle_test_report", "vehicle_category",
         "M1", "L", "N3", "other", "warranty_years", "full_equivalent_cycles_per_year", "cycles_justification",
         "service_years"]

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10, 10), st.integers(),
    st.sampled_from([0, -0.0, 1e308, -1e308, 5e-324, 2**53 + 1, 10**400]),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(WORDS), st.text(max_size=20))
json_values = st.recursive(
    json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                          st.dictionaries(st.sampled_from(WORDS) | st.text(max_size=8), inner,
                                                          max_size=3)), max_leaves=6)


def _paths(doc, path=()):
    yield path
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, path + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, path + (i,))


def _parent(doc, path):
    for p in path[:-1]:
        doc = doc[p]
    return doc


@st.composite
def mutated_json(draw, base: dict) -> bytes:
    """`base` with one to four structural edits, serialised; sometimes also byte-edited."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(doc) if p]
        path = draw(st.sampled_from(paths))
        parent = _parent(doc, path)
        action = draw(st.sampled_from(["replace", "replace", "delete", "add-key", "duplicate"]))
        key = path[-1]
        if action == "replace":
            parent[key] = draw(json_values)
        elif action == "delete":
            del parent[key]
        elif action == "add-key" and isinstance(parent, dict):
            parent[draw(st.sampled_from(WORDS) | st.text(max_size=8))] = draw(json_values)
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
    text = json.dumps(doc, ensure_ascii=draw(st.booleans())).encode()
    if draw(st.integers(0, 9)) == 0:
        text = draw(byte_mutations(text))
    return text


def check_refusal(exc: Exception, file: str) -> None:
    errors = exc.errors if isinstance(exc, DataErrors) else [exc]
    assert errors
    for e in errors:
        assert isinstance(e, DataError)
        assert e.file == file and e.path and e.message
        assert len(e.message) <= MAX_MESSAGE_CHARS + 200, e.message[:200]


def load_node(data: bytes, file: str = "suppliers/cell-works.json") -> None:
    """As `tanji node import` does: the loader, then the operator's ceilings (a node may set none)."""
    try:
        nd = parse_node_data(data, file, FACTORS)
    except (DataError, DataErrors) as exc:
        check_refusal(exc, file)
        return
    for product in nd.model.products:  # accepted: computable under every method, ceilings or not
        for profile in profiles.PROFILES.values():
            vec = own(product, nd.org, nd.model.organisation.country, FACTORS.by_id, profile).vector
            assert np.all(np.isfinite(vec)), (product.id, profile.name, vec)
    try:
        plausibility.check(nd.model, CEILINGS, file)
    except (DataError, DataErrors) as exc:
        check_refusal(exc, file)


def load_factors(data: bytes, file: str = "data/factors.json") -> None:
    try:
        fs = parse_factor_set(data, file)
    except (DataError, DataErrors) as exc:
        check_refusal(exc, file)
        return
    for name in NODE_FILES[:3]:  # a factor set that loads can be used by (or refuse) real node files
        try:
            parse_node_data((PACK / name).read_bytes(), name, fs)
        except (DataError, DataErrors) as exc:
            check_refusal(exc, name)


node_inputs = st.sampled_from(NODE_FILES).flatmap(lambda name: mutated_json(DOCS[name]))
factor_inputs = mutated_json(FACTORS_DOC)

DEEP = b"[" * 100_000 + b"]" * 100_000


def _huge_amount() -> bytes:
    doc = copy.deepcopy(DOCS["cell-works.json"])
    doc["products"][0]["activities"][1]["amount"] = 1e308  # finite, but × its factor is not
    return json.dumps(doc).encode()


def _pack_declaration(**fields) -> bytes:
    doc = copy.deepcopy(DOCS["pack-assembler.json"])
    doc["products"][0]["declaration"].update(fields)
    return json.dumps(doc).encode()


def _outside_china(country: str) -> bytes:
    doc = copy.deepcopy(DOCS["cell-works.json"])
    doc["organisation"]["country"] = country
    return json.dumps(doc).encode()


@FAST
@given(node_inputs)
@example(_pack_declaration(cycle_count=10**400))  # an int no float holds: refused, not an OverflowError
@example(_pack_declaration(rated_energy_kwh=1e308, cycle_count=10**300))  # lifetime energy overflows to inf
@example(_pack_declaration(cycle_count=2200.0))   # a whole number written as a float: accepted
@example(_outside_china("FR"))                    # no French average in the set: refused, never China's
@example(DEEP)                                    # found: RecursionError from json.loads
@example(b'{"schema": "tanji.node-data/1", "organisation": ' * 3000 + b"1" + b"}" * 3000)
@example(_huge_amount())                          # found: accepted, though its footprint overflowed to inf
@example(b'{"schema": {"x": ' + b"9" * 600 + b'}}')  # found: the refusal quoted a 600-digit schema
def test_fuzz_node_data_loader(data):
    load_node(data)


@pytest.mark.slow
@SLOW
@given(node_inputs)
def test_fuzz_node_data_loader_long(data):
    load_node(data)


@FAST
@given(factor_inputs)
@example(DEEP)
def test_fuzz_factor_set_loader(data):
    load_factors(data)


@pytest.mark.slow
@SLOW
@given(factor_inputs)
def test_fuzz_factor_set_loader_long(data):
    load_factors(data)


def test_a_megabyte_value_gives_a_readable_refusal():
    """Found: a refusal quoted the whole offending value (a 1 MB message)."""
    doc = copy.deepcopy(DOCS["cell-works.json"])
    doc["products"][0]["activities"][0]["amount"] = "9" * 1_000_000
    with pytest.raises(DataErrors) as info:
        parse_node_data(json.dumps(doc).encode(), "cell-works.json", FACTORS)
    (err,) = info.value.errors
    assert err.path == "products[0].activities[0].amount" and len(err.message) <= MAX_MESSAGE_CHARS
