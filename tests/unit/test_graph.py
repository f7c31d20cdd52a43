"""The supply graph: DAG reuse, cycles, unknown suppliers, quantity units, dead suppliers, the target;
the result it is released as (FORMATS §4)."""
import json
import re
from pathlib import Path

import pytest

from tanji.errors import CalculationError, DataError
from tanji.methodology import slots
from tanji.methodology.graph import build_graph, evaluate, parse_target, reference_result
from tanji.methodology.loader import load_data_dir
from tests.harness.data import EU, MIIT, factors_doc, node_doc, product_doc, write_dir


def gas(m3: float) -> dict:
    return {"kind": "fuel", "factor": "fuel.natural_gas", "amount": m3, "unit": "m3"}  # 2 kgCO2e/m3


def inp(supplier, product, quantity, unit="kg", **kw):
    return {"supplier": supplier, "product": product, "quantity": quantity, "unit": unit, **kw}


def diamond(tmp_path, declaration=MIIT):
    """pack buys cells and modules; both buy the same foil: foil is reached along two paths."""
    return write_dir(
        tmp_path / "d", factors_doc(),
        node_doc("pack", [product_doc("PACK", unit="piece", stage="manufacturing", declaration=declaration,
                                      activities=[gas(1.0)],
                                      inputs=[inp("cells", "CELL", 10, "piece"), inp("modules", "MOD", 2, "piece")])]),
        node_doc("cells", [product_doc("CELL", unit="piece", stage="manufacturing", activities=[gas(0.5)],
                                       inputs=[inp("foil", "FOIL", 100, "g")])]),
        node_doc("modules", [product_doc("MOD", unit="piece", stage="manufacturing", activities=[gas(0.25)],
                                         inputs=[inp("foil", "FOIL", 0.003, "t")])]),
        node_doc("foil", [product_doc("FOIL", unit="kg", activities=[
            gas(1.0), {"kind": "electricity", "amount": 1.0, "unit": "kWh", "model": "direct", "source": "hydro"}])]),
    )


def test_dag_reuse_one_product_one_weight(tmp_path):
    data = load_data_dir(diamond(tmp_path))
    graph = build_graph(data, ("pack", "PACK"))
    assert graph.order[0] == ("pack", "PACK") and graph.order.count(("foil", "FOIL")) == 1
    ev = evaluate(graph)
    # foil: 10 cells × 0.1 kg + 2 modules × 3 kg = 7 kg
    assert ev.weights[("foil", "FOIL")] == pytest.approx(7.0)
    foil_own = 2.0 + 0.5  # gas, plus 1 kWh national (direct without evidence: one warning)
    expected = 2.0 + 10 * 1.0 + 2 * 0.5 + 7 * foil_own
    assert slots.total(ev.total) == pytest.approx(expected)
    # the foil's warning counts once, although it is reached along two paths
    assert ev.total[slots.WARNINGS] == 1


def test_warnings_of_suppliers_are_counted_but_not_listed(tmp_path):
    result = reference_result(load_data_dir(diamond(tmp_path)), ("pack", "PACK"))
    assert result.warnings_count == 1 and result.warnings == []


def test_cycle_is_an_error_naming_the_loop(tmp_path):
    d = write_dir(tmp_path / "c", factors_doc(),
                  node_doc("a", [product_doc("A", declaration=MIIT, inputs=[inp("b", "B", 1)])]),
                  node_doc("b", [product_doc("B", inputs=[inp("c", "C", 1)])]),
                  node_doc("c", [product_doc("C", inputs=[inp("b", "B", 1)])]))
    with pytest.raises(CalculationError) as info:
        build_graph(load_data_dir(d), ("a", "A"))
    assert "b/B -> c/C -> b/B" in str(info.value)   # the loop, in order


@pytest.mark.parametrize("target,named", [(("ghost", "X"), "'ghost'"), (("pack", "NOPE"), "'NOPE'")])
def test_unknown_target(tmp_path, target, named):
    with pytest.raises(CalculationError) as info:
        build_graph(load_data_dir(diamond(tmp_path)), target)
    assert named in str(info.value)


# a target without a declaration is a product footprint (FORMATS 1.1 §2): tests/unit/test_product_footprint.py


def test_input_naming_an_unserved_supplier_or_product(tmp_path):
    d = write_dir(tmp_path / "u", factors_doc(),
                  node_doc("a", [product_doc("A", declaration=MIIT, inputs=[inp("b", "B", 1), inp("zz", "Z", 1)])]),
                  node_doc("b", [product_doc("B")]))
    with pytest.raises(CalculationError) as info:
        build_graph(load_data_dir(d), ("a", "A"))
    assert "a/A inputs[1]: " in str(info.value) and "'zz'" in str(info.value)
    d = write_dir(tmp_path / "v", factors_doc(),
                  node_doc("a", [product_doc("A", declaration=MIIT, inputs=[inp("b", "Q", 1)])]),
                  node_doc("b", [product_doc("B")]))
    with pytest.raises(CalculationError) as info:
        build_graph(load_data_dir(d), ("a", "A"))
    assert "a/A inputs[0]: " in str(info.value) and "'Q'" in str(info.value)


def test_quantity_unit_of_the_wrong_dimension_is_a_named_error(tmp_path):
    d = write_dir(tmp_path / "m", factors_doc(),
                  node_doc("a", [product_doc("A", declaration=MIIT, inputs=[inp("b", "B", 1, "kWh")])]),
                  node_doc("b", [product_doc("B", unit="kg")]))
    with pytest.raises(CalculationError) as info:
        build_graph(load_data_dir(d), ("a", "A"))
    assert "a/A inputs[0].unit: " in str(info.value) and "'kWh'" in str(info.value)


def test_dead_supplier_uses_the_buyers_fallback(tmp_path):
    d = write_dir(tmp_path / "f", factors_doc(),
                  node_doc("a", [product_doc("A", unit="piece", declaration=MIIT, activities=[gas(1)],
                                             inputs=[inp("b", "B", 2, "piece", fallback_factor="material.cell_default",
                                                         fallback_stage="manufacturing")])]),
                  node_doc("b", [product_doc("B", unit="piece", activities=[gas(100)])]))
    data = load_data_dir(d)
    alive = reference_result(data, ("a", "A"))
    assert alive.total_kgco2e == pytest.approx(2 + 2 * 200) and alive.fallbacks == []
    dead = reference_result(data, ("a", "A"), frozenset({"b"}))
    assert dead.total_kgco2e == pytest.approx(2 + 2 * 50.0)
    assert dead.stages_kgco2e["manufacturing"] == pytest.approx(100.0)
    assert [f.model_dump() for f in dead.fallbacks] == [{"supplier": "b", "product": "B", "buyer": "a", "tier": 1}]
    assert dead.warnings_count == 1 and "declared dead" in dead.warnings[0]
    # fallback counts as secondary data with the factor's dqr (4.0); own gas is primary, dqr 1.5
    assert dead.primary_data_share == pytest.approx(2 / 102)
    assert dead.dqr == pytest.approx((2 * 1.5 + 100 * 4.0) / 102)


def test_dead_supplier_without_fallback_fails_naming_it(tmp_path):
    d = write_dir(tmp_path / "n", factors_doc(),
                  node_doc("a", [product_doc("A", declaration=MIIT, inputs=[inp("b", "B", 2)])]),
                  node_doc("b", [product_doc("B")]))
    with pytest.raises(CalculationError) as info:
        build_graph(load_data_dir(d), ("a", "A"), frozenset({"b"}))
    assert "'b'" in str(info.value) and "fallback_factor" in str(info.value)   # the supplier and the field


def test_profile_of_the_target_applies_to_every_product(tmp_path):
    miit = reference_result(load_data_dir(diamond(tmp_path)), ("pack", "PACK"))
    eu = reference_result(load_data_dir(diamond(tmp_path / "eu", declaration=EU)), ("pack", "PACK"))
    assert (miit.method, eu.method) == ("miit-2025", "eu-2023-1542")
    assert eu.lifetime_energy_kwh == 48.0 * 50 * 10 and miit.lifetime_energy_kwh == pytest.approx(50 * 2000 * 0.9)
    assert eu.total_kgco2e == pytest.approx(miit.total_kgco2e)  # no regional or certified records here


def test_zero_total_has_null_shares(tmp_path):
    d = write_dir(tmp_path / "z", factors_doc(), node_doc("a", [product_doc("A", declaration=MIIT)]))
    result = reference_result(load_data_dir(d), ("a", "A"))
    assert result.total_kgco2e == 0 and result.primary_data_share is None and result.dqr is None


@pytest.mark.parametrize("text", ["pack", "pack/", "/PACK", "a/b/c"])
def test_target_must_be_org_slash_product(text):
    with pytest.raises(CalculationError):
        parse_target(text)


def test_data_dir_rules(tmp_path):
    d = diamond(tmp_path)
    (d / "factors2.json").write_text((d / "factors.json").read_text())
    with pytest.raises(DataError) as info:
        load_data_dir(d)
    assert (info.value.file, info.value.path) == (str(d), "(directory)")
    (d / "factors2.json").unlink()
    (d / "pack-copy.json").write_text((d / "pack.json").read_text())
    with pytest.raises(DataError) as info:
        load_data_dir(d)
    assert (Path(info.value.file).name, info.value.path) == ("pack.json", "organisation.id")
    assert "pack-copy.json" in info.value.message   # the file it already came from


def test_a_zero_quantity_names_no_supplier():
    """The requester cannot pull a supplier's data into a calculation by naming it with quantity 0."""
    from tanji.methodology.graph import build_graph, evaluate
    from tanji.methodology.loader import load_data_dir
    from tests.harness.paths import EXAMPLES

    data = load_data_dir(EXAMPLES / "nmc811-pack")
    pack = data.nodes["pack-assembler"].model.product("PACK-NMC811-80")
    for inp in pack.inputs:
        if inp.supplier == "freight-services":
            object.__setattr__(inp, "quantity", 0.0)
    graph = build_graph(data, ("pack-assembler", "PACK-NMC811-80"))
    assert not any(key[0] == "freight-services" for key in graph.order)
    assert evaluate(graph).citations()  # still a complete evaluation of what is left


# --------------------------------------------------------------------------- the result (FORMATS 1.1 §4)
def _released(vector, precision, lifetime=1000.0, **kw):
    import numpy as np

    from tanji.methodology import profiles
    from tanji.methodology.formats.result import FactorSetRef, build_result

    return build_result(calculation="c", product="a/P", profile=profiles.get("miit-2025"),
                        factor_set=FactorSetRef(id="fs", sha256="00"), total=np.array(vector, dtype=float),
                        lifetime_energy_kwh=lifetime, precision=precision, fallbacks=[], warnings=[], **kw)


def test_released_figures_are_multiples_of_precision_times_the_total_and_a_zero_stage_is_0():
    # what a decryption gives: a zero stage as noise (3e-6, -2e-6), the others off in their last digits
    raw = [6123.456789012, 1500.000000123, 3e-6, -2e-6, 4000.0, 12000.0, 2.0, 0.0]
    total = sum(raw[:4])
    precision = 1e-8
    q, q_kwh = precision * total, precision * total / 1000.0
    r = _released(raw, precision)
    assert r.stages_kgco2e["distribution"] == 0 and r.stages_kgco2e["end_of_life"] == 0
    assert r.stages_per_kwh_kgco2e["distribution"] == 0 and r.stages_per_kwh_kgco2e["end_of_life"] == 0
    for stage, value in (("raw_material", raw[0]), ("manufacturing", raw[1])):
        got = r.stages_kgco2e[stage]
        assert abs(got - value) <= q / 2 * 1.001 and abs(got / q - round(got / q)) < 1e-2
        got = r.stages_per_kwh_kgco2e[stage]
        assert abs(got - value / 1000.0) <= q_kwh / 2 * 1.001 and abs(got / q_kwh - round(got / q_kwh)) < 1e-2
    assert r.total_kgco2e == pytest.approx(total, abs=q) and r.per_kwh_kgco2e == pytest.approx(total / 1000, abs=q_kwh)
    # shares and DQR from the unrounded sums, rounded to the precision itself
    assert r.primary_data_share == round(4000.0 / total, 8) and r.dqr == round(12000.0 / total, 8)
    assert r.warnings_count == 2 and r.precision == precision


def test_the_unrounded_reference_keeps_every_digit():
    raw = [6123.456789012, 1500.000000123, 0.0, 0.0, 4000.0, 12000.0, 0.0, 0.0]
    r = _released(raw, None)
    assert r.stages_kgco2e["raw_material"] == 6123.456789012 and r.total_kgco2e == 6123.456789012 + 1500.000000123
    assert r.primary_data_share == 4000.0 / (6123.456789012 + 1500.000000123)


def test_the_result_carries_declared_unit_created_and_the_declaration(tmp_path):
    result = reference_result(load_data_dir(diamond(tmp_path)), ("pack", "PACK"))
    doc = json.loads(result.to_json())
    assert doc["declared_unit"] == "piece"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", doc["created"])
    expected = {k: v for k, v in MIIT.items() if k != "cycle_test_report"}  # evidence stays on the node
    assert doc["declaration"] == expected
    assert list(doc["declaration"])[:5] == ["method", "model", "chemistry", "plant", "reference_period"]
    eu_data = load_data_dir(diamond(tmp_path / "eu", declaration=EU))
    eu = json.loads(reference_result(eu_data, ("pack", "PACK")).to_json())
    assert eu["declaration"] == {k: v for k, v in EU.items() if k != "cycles_justification"}
    assert eu["method_version"] == "2"  # the EU functional unit changed in FORMATS 1.1


@pytest.mark.parametrize("text,method,lifetime,why", [
    ('{"method": "miit-2025", "rated_energy_kwh": 50, "cycle_count": 2000}', "miit-2025", 90000.0,
     "functional unit cannot be computed"),
    ('{"method": "miit-2025", "rated_energy_kwh": 50, "cycle_count": 2000, "energy_per_cycle_fraction": 0.9}',
     "miit-2025", 1000.0, "gives 90000.0 kWh of lifetime energy, the request 1000.0"),
    ('{"method": "miit-2025"}', "eu-2023-1542", 1.0, "method 'miit-2025' is not the calculation's 'eu-2023-1542'"),
    ('[1]', "miit-2025", 1.0, "not a JSON object"),
    ('{"method": NaN}', "miit-2025", 1.0, "not JSON"),
    ('{"method": "eu-2023-1542", "usable_energy_kwh": 72, "vehicle_category": "SUV", "warranty_years": 8}',
     "eu-2023-1542", 1.0, "functional unit cannot be computed"),
])
def test_the_key_holder_withholds_a_declaration_the_request_contradicts(text, method, lifetime, why):
    """The declaration travels in the signed CALCULATION_REQUEST; the key holder releases it only when it
    gives the lifetime energy the request divides by (else: withheld, REFUSAL_CODE_MALFORMED)."""
    from tanji.methodology.formats.result import committed_declaration

    with pytest.raises(ValueError):   # `why`: what is wrong with it, for the reader of this table
        committed_declaration(text, method, lifetime)


def test_a_committed_declaration_is_released_as_signed():
    from tanji.methodology.formats.result import committed_declaration

    text = json.dumps({k: v for k, v in EU.items() if k != "cycles_justification"})
    assert committed_declaration(text, "eu-2023-1542", 48.0 * 50 * 10) == json.loads(text)
    assert committed_declaration("", "miit-2025", 1.0) is None  # a requester older than FORMATS 1.1
