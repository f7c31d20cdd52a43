"""The supply graph: DAG reuse, cycles, unknown suppliers, quantity units, dead suppliers, the target."""
import pytest

from tanji.methodology import slots
from tanji.errors import CalculationError
from tanji.methodology.graph import build_graph, evaluate, parse_target, reference_result
from tanji.methodology.loader import load_data_dir
from tests.builders import EU, MIIT, factors_doc, node_doc, product_doc, write_dir


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
    with pytest.raises(CalculationError, match=r"cycle: b/B -> c/C -> b/B"):
        build_graph(load_data_dir(d), ("a", "A"))


@pytest.mark.parametrize("target,message", [
    (("ghost", "X"), "no node serves organisation 'ghost'"),
    (("pack", "NOPE"), "organisation 'pack' serves no product 'NOPE'"),
])
def test_unknown_target(tmp_path, target, message):
    with pytest.raises(CalculationError, match=message):
        build_graph(load_data_dir(diamond(tmp_path)), target)


def test_target_without_declaration_is_a_named_error(tmp_path):
    with pytest.raises(CalculationError, match=r"cells.json: products\[0\].declaration: cells/CELL has no declaration"):
        build_graph(load_data_dir(diamond(tmp_path)), ("cells", "CELL"))


def test_input_naming_an_unserved_supplier_or_product(tmp_path):
    d = write_dir(tmp_path / "u", factors_doc(),
                  node_doc("a", [product_doc("A", declaration=MIIT, inputs=[inp("b", "B", 1), inp("zz", "Z", 1)])]),
                  node_doc("b", [product_doc("B")]))
    with pytest.raises(CalculationError, match=r"a/A inputs\[1\]: no node serves organisation 'zz'"):
        build_graph(load_data_dir(d), ("a", "A"))
    d = write_dir(tmp_path / "v", factors_doc(),
                  node_doc("a", [product_doc("A", declaration=MIIT, inputs=[inp("b", "Q", 1)])]),
                  node_doc("b", [product_doc("B")]))
    with pytest.raises(CalculationError, match=r"a/A inputs\[0\]: organisation 'b' serves no product 'Q'"):
        build_graph(load_data_dir(d), ("a", "A"))


def test_quantity_unit_of_the_wrong_dimension_is_a_named_error(tmp_path):
    d = write_dir(tmp_path / "m", factors_doc(),
                  node_doc("a", [product_doc("A", declaration=MIIT, inputs=[inp("b", "B", 1, "kWh")])]),
                  node_doc("b", [product_doc("B", unit="kg")]))
    with pytest.raises(CalculationError, match=r"a/A inputs\[0\].unit: quantity of b/B \(sold per 'kg'\): 'kWh'"):
        build_graph(load_data_dir(d), ("a", "A"))


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
    assert [f.model_dump() for f in dead.fallbacks] == [{"supplier": "b", "product": "B", "buyer": "a"}]
    assert dead.warnings_count == 1 and "declared dead" in dead.warnings[0]
    # fallback counts as secondary data with the factor's dqr (4.0); own gas is primary, dqr 1.5
    assert dead.primary_data_share == pytest.approx(2 / 102)
    assert dead.dqr == pytest.approx((2 * 1.5 + 100 * 4.0) / 102)


def test_dead_supplier_without_fallback_fails_naming_it(tmp_path):
    d = write_dir(tmp_path / "n", factors_doc(),
                  node_doc("a", [product_doc("A", declaration=MIIT, inputs=[inp("b", "B", 2)])]),
                  node_doc("b", [product_doc("B")]))
    with pytest.raises(CalculationError, match=r"supplier 'b' is dead and the input has no fallback_factor"):
        build_graph(load_data_dir(d), ("a", "A"), frozenset({"b"}))


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
    with pytest.raises(CalculationError, match="must be written ORG/PRODUCT"):
        parse_target(text)


def test_data_dir_rules(tmp_path):
    d = diamond(tmp_path)
    (d / "factors2.json").write_text((d / "factors.json").read_text())
    with pytest.raises(Exception, match="needs exactly one tanji.factor-set/1 file, found 2"):
        load_data_dir(d)
    (d / "factors2.json").unlink()
    (d / "pack-copy.json").write_text((d / "pack.json").read_text())
    with pytest.raises(Exception, match=r"pack.json: organisation.id: organisation 'pack' already comes from .*pack-copy.json"):
        load_data_dir(d)


def test_a_zero_quantity_names_no_supplier():
    """The requester cannot pull a supplier's data into a calculation by naming it with quantity 0."""
    from tanji.methodology.graph import build_graph, evaluate
    from tanji.methodology.loader import load_data_dir
    from tests.conftest import EXAMPLES

    data = load_data_dir(EXAMPLES / "nmc811-pack")
    pack = data.nodes["pack-assembler"].model.product("PACK-NMC811-80")
    for inp in pack.inputs:
        if inp.supplier == "freight-services":
            object.__setattr__(inp, "quantity", 0.0)
    graph = build_graph(data, ("pack-assembler", "PACK-NMC811-80"))
    assert not any(key[0] == "freight-services" for key in graph.order)
    assert evaluate(graph).citations()  # still a complete evaluation of what is left
