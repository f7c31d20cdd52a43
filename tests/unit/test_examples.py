"""The shipped example chain: shape (8–12 organisations, ≥ 5 tiers), and its reference result
cross-checked against the recursive form F(p) = own(p) + Σ q·F(child)."""
from functools import lru_cache

import numpy as np
import pytest

from tanji.methodology import slots, units
from tanji.methodology.footprint import own
from tanji.methodology.graph import build_graph, reference_result
from tanji.methodology.loader import load_data_dir
from tests.conftest import EXAMPLES

CHAIN = EXAMPLES / "nmc811-pack"
TARGET = ("pack-assembler", "PACK-NMC811-80")


@pytest.fixture(scope="module")
def data():
    return load_data_dir(CHAIN)


def test_shape_of_the_example_chain(data):
    assert 8 <= len(data.nodes) <= 12
    graph = build_graph(data, TARGET)
    assert graph.depth() >= 5, "at least five tiers below the pack"
    # a DAG: some supplier product is bought by two buyers
    bought_by = {}
    for key in graph.order:
        for e in graph.edges[key]:
            bought_by.setdefault(e.supplier, set()).add(key)
    assert any(len(b) > 1 for b in bought_by.values())


def test_reference_equals_the_recursive_form(data):
    profile = build_graph(data, TARGET).profile
    factors = data.factors.by_id

    @lru_cache(maxsize=None)
    def F(org: str, pid: str) -> tuple:
        node = data.nodes[org].model
        product = node.product(pid)
        vec = own(product, org, node.organisation.country, factors, profile).vector.copy()
        vec[slots.WARNINGS] = 0  # warnings are counted per distinct product, below
        for inp in product.inputs:
            child = data.nodes[inp.supplier].model.product(inp.product)
            q = units.convert(inp.quantity, inp.unit, child.unit)
            vec += q * np.array(F(inp.supplier, inp.product))
        return tuple(vec)

    result = reference_result(data, TARGET)
    expected = np.array(F(*TARGET))
    assert result.total_kgco2e == pytest.approx(slots.total(expected), rel=1e-12)
    for stage, slot in slots.STAGE_SLOT.items():
        assert result.stages_kgco2e[stage] == pytest.approx(expected[slot], rel=1e-12, abs=1e-12)
    assert result.primary_data_share == pytest.approx(expected[slots.PRIMARY] / slots.total(expected), rel=1e-12)
    assert result.dqr == pytest.approx(expected[slots.DQR_WEIGHTED] / slots.total(expected), rel=1e-12)
    # magnitude of a real 80 kWh NMC811 pack: 60–110 kgCO2e per kWh of capacity
    assert 60 * 80 <= result.total_kgco2e <= 110 * 80
    assert result.warnings_count >= 2
