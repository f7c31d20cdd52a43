"""Product footprints (FORMATS 1.1 §2): any product without a declaration is a target, cradle to gate per
declared unit under the method its requester names; the result kind, its null per-kWh figures, the
request's 0 kWh, and the refusals of what does not fit."""
import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from tanji.cli import app
from tanji.cli.requester import spec_for
from tanji.errors import CalculationError, TanjiError
from tanji.methodology import slots
from tanji.methodology.footprint import own
from tanji.methodology.formats.result import (
    FactorSetRef,
    Result,
    build_result,
    committed_declaration,
    released_lifetime,
)
from tanji.methodology.graph import build_graph, reference_result
from tanji.methodology.loader import load_data_dir
from tanji.methodology.profiles import PROFILES
from tests.harness.data import MIIT, factors_doc, node_doc, product_doc, write_dir
from tests.harness.paths import EXAMPLE_CHAIN, EXAMPLE_TARGET

runner = CliRunner()
CAM = ("cathode-works", "CAM-NMC811-SC")


def test_reference_of_a_supplier_product_is_a_product_footprint():
    res = runner.invoke(app, ["reference", str(EXAMPLE_CHAIN), "--product", "/".join(CAM)])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["product"] == "cathode-works/CAM-NMC811-SC" and doc["declared_unit"] == "kg"
    assert doc["method"] == "miit-2025" and doc["method_version"] == PROFILES["miit-2025"].version
    assert doc["declaration"] is None
    assert doc["lifetime_energy_kwh"] is None and doc["per_kwh_kgco2e"] is None
    assert doc["stages_per_kwh_kgco2e"] is None
    assert doc["total_kgco2e"] > 0 and math.isclose(sum(doc["stages_kgco2e"].values()), doc["total_kgco2e"])
    assert 0 < doc["primary_data_share"] <= 1 and 1 <= doc["dqr"] <= 5
    assert Result.model_validate(doc).is_product_footprint


def test_the_footprint_is_own_plus_the_suppliers_footprints_times_quantities():
    """F(p) = own(p) + Σ q_i · F(input_i), slot by slot: the supplier's footprint composes from its
    suppliers' product footprints (and so does its primary data and DQR-weighted sum)."""
    data = load_data_dir(EXAMPLE_CHAIN)
    product = data.nodes[CAM[0]].model.product(CAM[1])
    profile = PROFILES["miit-2025"]
    expected = own(product, CAM[0], "CN", data.factors.by_id, profile).vector[:slots.WARNINGS].copy()
    for inp in product.inputs:
        child = reference_result(data, (inp.supplier, inp.product))
        assert child.primary_data_share is not None and child.dqr is not None
        vec = np.zeros(slots.WARNINGS)
        for stage, slot in slots.STAGE_SLOT.items():
            vec[slot] = child.stages_kgco2e[stage]
        vec[slots.PRIMARY] = child.primary_data_share * child.total_kgco2e
        vec[slots.DQR_WEIGHTED] = child.dqr * child.total_kgco2e
        expected += inp.quantity * vec  # both inputs are stated in kg, the suppliers' unit
    got = reference_result(data, CAM)
    assert got.primary_data_share is not None and got.dqr is not None
    assert math.isclose(got.total_kgco2e, slots.total(expected), rel_tol=1e-12)
    assert math.isclose(got.primary_data_share, expected[slots.PRIMARY] / slots.total(expected), rel_tol=1e-12)
    assert math.isclose(got.dqr, expected[slots.DQR_WEIGHTED] / slots.total(expected), rel_tol=1e-12)


def test_the_method_named_applies_to_the_whole_chain():
    data = load_data_dir(EXAMPLE_CHAIN)
    miit = reference_result(data, CAM)
    eu = reference_result(data, CAM, method="eu-2023-1542")
    assert (eu.method, eu.method_version) == ("eu-2023-1542", PROFILES["eu-2023-1542"].version)
    assert build_graph(data, CAM, method="eu-2023-1542").profile.name == "eu-2023-1542"
    # the EU profile computes regional-grid records with the national average, with a warning each
    assert eu.total_kgco2e != miit.total_kgco2e and eu.warnings_count > miit.warnings_count
    assert eu.calculation != miit.calculation  # the reference id covers the method named


def test_the_declared_result_is_unchanged_and_a_declaration_keeps_its_method():
    data = load_data_dir(EXAMPLE_CHAIN)
    declared = reference_result(data, EXAMPLE_TARGET)
    assert not declared.is_product_footprint and declared.lifetime_energy_kwh is not None
    same = reference_result(data, EXAMPLE_TARGET, method=declared.method)
    assert same.model_dump(exclude={"created"}) == declared.model_dump(exclude={"created"})
    other = "eu-2023-1542" if declared.method != "eu-2023-1542" else "miit-2025"
    with pytest.raises(CalculationError, match=f"declares method '{declared.method}'"):
        build_graph(data, EXAMPLE_TARGET, method=other)


def test_cli_refuses_an_unknown_method_or_another_method_for_a_declaration():
    res = runner.invoke(app, ["reference", str(EXAMPLE_CHAIN), "--product", "/".join(CAM), "--method", "nope"])
    assert res.exit_code == 2 and "'nope'" in res.stderr and "--method" in res.stderr
    res = runner.invoke(app, ["reference", str(EXAMPLE_CHAIN), "--product", "/".join(EXAMPLE_TARGET),
                              "--method", "eu-2023-1542"])
    assert res.exit_code == 2 and "declares method" in res.stderr


def test_a_leaf_product_footprint_is_its_own_footprint(tmp_path):
    d = write_dir(tmp_path / "data", factors_doc(), node_doc("a", [
        product_doc("A", unit="piece", declaration=MIIT, activities=[{"kind": "direct", "amount": 1.0,
                                                                       "unit": "kgCO2e"}]),
        product_doc("B", unit="t", activities=[{"kind": "fuel", "factor": "fuel.natural_gas", "amount": 3.0,
                                                 "unit": "m3"}])]))
    result = reference_result(load_data_dir(d), ("a", "B"))
    assert result.total_kgco2e == 6.0 and result.declared_unit == "t" and result.primary_data_share == 1.0
    assert result.dqr == 1.5 and result.is_product_footprint


def test_build_result_of_a_product_footprint_rounds_relative_to_the_total():
    vec = slots.zeros()
    vec[slots.STAGE_SLOT["raw_material"]] = 10.0
    vec[slots.STAGE_SLOT["end_of_life"]] = 3e-9  # decryption noise around a zero stage
    vec[slots.PRIMARY], vec[slots.DQR_WEIGHTED] = 4.0, 20.0
    result = build_result(calculation="c", product="a/B", profile=PROFILES["miit-2025"],
                          factor_set=FactorSetRef(id="f", sha256="0" * 64), total=vec, lifetime_energy_kwh=None,
                          precision=1e-7, fallbacks=[], warnings=[], declared_unit="kg")
    assert result.per_kwh_kgco2e is None and result.stages_per_kwh_kgco2e is None
    assert result.lifetime_energy_kwh is None and result.declaration is None
    assert result.stages_kgco2e["end_of_life"] == 0.0 and math.isclose(result.total_kgco2e, 10.0, rel_tol=1e-7)
    assert result.primary_data_share == 0.4 and result.dqr == 2.0


@pytest.mark.parametrize("lifetime,text,expected", [
    (0.0, "", None),                      # a product footprint
    (168750.0, "", 168750.0),             # a declaration from a requester older than FORMATS 1.1
])
def test_released_lifetime(lifetime, text, expected):
    assert released_lifetime(lifetime, text) == expected


@pytest.mark.parametrize("lifetime,text", [(0.0, '{"method": "miit-2025"}'), (-1.0, ""), (math.nan, ""),
                                           (math.inf, "")])
def test_released_lifetime_refuses_what_is_neither_kind(lifetime, text):
    with pytest.raises(ValueError):
        released_lifetime(lifetime, text)
    if lifetime == 0.0:
        with pytest.raises(ValueError, match="product footprint"):
            committed_declaration(text, "miit-2025", lifetime)


def test_committed_declaration_of_a_product_footprint_is_none():
    assert committed_declaration("", "miit-2025", 0.0) is None


def test_the_request_of_a_product_footprint_states_0_kwh_and_no_declaration(tmp_path):
    data = load_data_dir(EXAMPLE_CHAIN)
    node = data.nodes[CAM[0]].model
    spec = spec_for(CAM[0], node, data.factors, CAM[1], state=tmp_path, depth_bound=3, key_holder="keyholder",
                    deadline_seconds=60, method="eu-2023-1542")
    assert (spec.lifetime_energy_kwh, spec.declaration_json, spec.declared_unit) == (0.0, "", "kg")
    assert (spec.method, spec.method_version) == ("eu-2023-1542", PROFILES["eu-2023-1542"].version)
    assert spec_for(CAM[0], node, data.factors, CAM[1], state=tmp_path, depth_bound=3, key_holder="keyholder",
                    deadline_seconds=60).method == "miit-2025"
    with pytest.raises(TanjiError, match="'nope'"):
        spec_for(CAM[0], node, data.factors, CAM[1], state=tmp_path, depth_bound=3, key_holder="keyholder",
                 deadline_seconds=60, method="nope")
    pack = data.nodes[EXAMPLE_TARGET[0]].model
    declared = spec_for(EXAMPLE_TARGET[0], pack, data.factors, EXAMPLE_TARGET[1], state=tmp_path, depth_bound=3,
                        key_holder="keyholder", deadline_seconds=60)
    assert declared.lifetime_energy_kwh > 0 and json.loads(declared.declaration_json)["method"] == declared.method


def test_the_coordinator_accepts_a_product_footprint_and_refuses_what_is_neither(world):
    """A request's product is a declaration (positive lifetime energy) or a product footprint (0 kWh and
    no declaration); the coordinator refuses anything else at start (decision 0013)."""
    from tanji.v1 import common_pb2 as cpb
    from tests.harness import envelopes as E

    def start(cid: str, lifetime: float, declaration: str = ""):
        req = E.calculation("a", ["A"], lifetime_energy_kwh=lifetime)
        req.products[0].declaration_json = declaration
        return world.c.start(E.seal(req, world.keys["a"], sender="a", cid=cid, binding=E.requested()))[0]

    assert start("calc-0000000000000001", 0.0).status == cpb.PUSH_STATUS_ACCEPTED
    for n, (lifetime, declaration) in enumerate([(0.0, '{"method": "miit-2025"}'), (-5.0, ""), (math.nan, "")]):
        out = start(f"calc-000000000000001{n}", lifetime, declaration)
        assert out.status == cpb.PUSH_STATUS_REFUSED and out.code == cpb.REFUSAL_CODE_MALFORMED
        assert out.message.startswith("products[0]: ")
