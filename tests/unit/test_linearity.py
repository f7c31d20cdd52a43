"""Property tests: the footprint is linear in the quantities, and additive in the inputs."""
import copy
import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tanji.methodology import slots
from tanji.methodology.graph import build_graph, evaluate
from tanji.methodology.loader import DataDir, parse_factor_set, parse_node_data
from tests.harness.data import MIIT, factors_doc, node_doc, product_doc

FACTORS = parse_factor_set(json.dumps(factors_doc()).encode(), "factors.json")
amounts = st.floats(min_value=0, max_value=1e4, allow_nan=False, allow_infinity=False)

activity = st.one_of(
    st.builds(lambda a: {"kind": "fuel", "factor": "fuel.natural_gas", "amount": a, "unit": "m3"}, amounts),
    st.builds(lambda a, src: {"kind": "material", "factor": "material.steel", "amount": a, "unit": "kg",
                              "data_source": src}, amounts, st.sampled_from(["primary", "secondary"])),
    st.builds(lambda a: {"kind": "material", "factor": "material.nickel", "amount": a, "unit": "g"}, amounts),
    st.builds(lambda m, d, stage: {"kind": "transport", "mode": "truck", "mass": m, "mass_unit": "kg",
                                   "distance": d, "distance_unit": "km", "stage": stage},
              amounts, amounts, st.sampled_from(slots.STAGES)),
    st.builds(lambda a: {"kind": "direct", "amount": a, "unit": "kgCO2e", "data_source": "secondary"}, amounts),
    st.builds(lambda a: {"kind": "electricity", "amount": a, "unit": "kWh", "model": "regional_grid",
                         "region": "east"}, amounts),
    st.builds(lambda a, dqr: {"kind": "electricity", "amount": a, "unit": "MWh", "model": "direct",
                              "source": "hydro", "evidence": "PPA", "dqr": dqr}, amounts, st.floats(1, 5)),
    st.builds(lambda a, c: {"kind": "electricity", "amount": a, "unit": "kWh", "model": "green_certificate",
                            "source": "wind", "evidence": "GEC", "certified_amount": c, "certified_unit": "kWh"},
              amounts, amounts),
)
activities = st.lists(activity, max_size=8)
scale = st.floats(min_value=1e-3, max_value=1e3)


def footprint(target_doc: dict, *suppliers: dict) -> np.ndarray:
    nodes = {}
    for doc in (target_doc, *suppliers):
        loaded = parse_node_data(json.dumps(doc).encode(), f"{doc['organisation']['id']}.json", FACTORS)
        nodes[loaded.org] = loaded
    graph = build_graph(DataDir(FACTORS, nodes), (target_doc["organisation"]["id"], target_doc["products"][0]["id"]))
    return evaluate(graph).total


def scaled(acts: list[dict], k: float) -> list[dict]:
    out = copy.deepcopy(acts)
    for a in out:
        for key in ("amount", "certified_amount", "mass"):
            if key in a:
                a[key] *= k
    return out


@settings(max_examples=60, deadline=None)
# a quantity is 0 or at least 1e-9: a subnormal one (5e-324) scaled by k < 1 underflows to 0, and a zero
# quantity names no supplier (its warnings then rightly vanish from the count)
@given(activities, activities, scale, st.one_of(st.just(0.0), st.floats(1e-9, 100)))
def test_scaling_every_quantity_scales_the_footprint(acts, supplier_acts, k, q):
    supplier = node_doc("sup", [product_doc("S", activities=supplier_acts)])
    base = node_doc("buyer", [product_doc("P", declaration=MIIT, activities=acts,
                                          inputs=[{"supplier": "sup", "product": "S", "quantity": q, "unit": "kg"}])])
    more = [{"supplier": "sup", "product": "S", "quantity": q * k, "unit": "kg"}]
    big = node_doc("buyer", [product_doc("P", declaration=MIIT, activities=scaled(acts, k), inputs=more)])
    f1, fk = footprint(base, supplier), footprint(big, supplier)
    w = slots.WEIGHTED.astype(bool)
    np.testing.assert_allclose(fk[w], k * f1[w], rtol=1e-9, atol=1e-9)
    assert fk[slots.WARNINGS] == f1[slots.WARNINGS]  # warnings count records, not amounts


@settings(max_examples=60, deadline=None)
@given(activities, activities, st.floats(0, 1000))
def test_adding_an_input_adds_its_footprint(acts, supplier_acts, q):
    supplier = node_doc("sup", [product_doc("S", unit="kg", declaration=MIIT, activities=supplier_acts)])
    without = node_doc("buyer", [product_doc("P", declaration=MIIT, activities=acts)])
    with_input = node_doc("buyer", [product_doc("P", declaration=MIIT, activities=acts, inputs=[
        {"supplier": "sup", "product": "S", "quantity": q, "unit": "t"}])])
    f_p, f_s = footprint(without), footprint(supplier)
    f_both = footprint(with_input, supplier)
    w = slots.WEIGHTED.astype(bool)
    np.testing.assert_allclose(f_both[w], f_p[w] + q * 1000 * f_s[w], rtol=1e-9, atol=1e-6)
    # each product reached adds its warnings once; a zero quantity names no supplier, so reaches none
    assert f_both[slots.WARNINGS] == f_p[slots.WARNINGS] + (f_s[slots.WARNINGS] if q > 0 else 0)
