"""The shipped example chain: shape (8–12 organisations, ≥ 5 tiers), and its reference result
cross-checked against the recursive form F(p) = own(p) + Σ q·F(child)."""
from functools import cache

import numpy as np
import pytest

from tanji.methodology import slots, units
from tanji.methodology.footprint import own
from tanji.methodology.graph import build_graph, reference_result
from tanji.methodology.loader import load_data_dir
from tests.harness.paths import EXAMPLES

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
    bought_by: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for key in graph.order:
        for e in graph.edges[key]:
            bought_by.setdefault(e.supplier, set()).add(key)
    assert any(len(b) > 1 for b in bought_by.values())


def test_reference_equals_the_recursive_form(data):
    profile = build_graph(data, TARGET).profile
    factors = data.factors.by_id

    @cache
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


#: the example's reference figures under FORMATS 1.1 (examples/README.md "Expected result")
EXPECTED_TOTAL = 7679.659322746344
EXPECTED_LIFETIME = 80 * 2200 * 0.9          # rated kWh × whole cycles × energy per cycle
EXPECTED_SHARE = 0.6112899971385308
EXPECTED_DQR = 2.048294059665131
#: the same chain under FORMATS 1.0, where a material record without data_source was primary data
SHARE_1_0, DQR_1_0 = 0.7323136981726578, 1.8837904871982967
#: kg (or pieces) of each product per pack, by hand from the quantities in the node files: the
#: products holding material records without data_source
PCAM = 160 * 0.690 * 0.965
W_DEFAULT_MATERIALS = {
    ("pack-assembler", "PACK-NMC811-80"): 1.0,
    ("battery-recycler", "EOL-PACK-HYDROMET"): 460.0,                  # 0.46 t of pack
    ("cell-works", "CELL-NMC811-137AH"): 10 * 16,                      # 10 modules × 16 cells
    ("cathode-works", "CAM-NMC811-SC"): 160 * 0.690,                   # 690 g CAM per cell
    ("lithium-refiner", "LIOH-H2O-BG"): 160 * 0.690 * 0.455 + 160 * 0.2 * 0.036,  # via CAM and electrolyte
    ("precursor-works", "PCAM-NMC811"): PCAM,
    ("sulphate-refinery", "NISO4-6H2O-BG"): PCAM * 2.3,
    ("sulphate-refinery", "COSO4-7H2O-BG"): PCAM * 0.307,
}


def test_the_figures_of_the_examples_readme(data):
    result = reference_result(data, TARGET)
    assert result.total_kgco2e == pytest.approx(EXPECTED_TOTAL, rel=1e-12)
    assert result.lifetime_energy_kwh == pytest.approx(EXPECTED_LIFETIME, rel=1e-15)
    assert result.lifetime_energy_kwh == 158400.0
    assert result.per_kwh_kgco2e == pytest.approx(EXPECTED_TOTAL / EXPECTED_LIFETIME, rel=1e-12)
    assert result.primary_data_share == pytest.approx(EXPECTED_SHARE, rel=1e-12)
    assert result.dqr == pytest.approx(EXPECTED_DQR, rel=1e-12)
    assert (result.warnings_count, result.warnings, result.fallbacks) == (2, [], [])
    assert result.declared_unit == "piece"
    assert result.declaration == {
        "method": "miit-2025", "model": "EXP-PACK-NMC811-80", "chemistry": "NMC811",
        "plant": {"name": "Example pack plant, Wuhan (illustrative)", "country": "CN"},
        "reference_period": {"from": "2025-01-01", "to": "2025-12-31"}, "mass_kg": 460.0,
        "rated_energy_kwh": 80.0, "cycle_count": 2200, "energy_per_cycle_fraction": 0.9}  # no test report


def test_material_records_without_data_source_are_secondary_by_hand(data, tmp_path):
    """FORMATS 1.1: a material record without data_source is secondary data, so it leaves the primary
    share and carries its factor's dqr (or its own) instead of 1.5. Derived by hand from the 1.0 figures:
    Σ w × amount × factor over exactly those records moves out of `primary`, and Σ of it × (dqr − 1.5)
    into `dqr_weighted`; the total does not change."""
    import json
    import shutil

    moved, dqr_shift, holders = 0.0, 0.0, set()
    marked = tmp_path / "as-1.0"
    shutil.copytree(CHAIN, marked)
    for path in sorted(marked.glob("*.json")):
        doc = json.loads(path.read_text())
        if doc["schema"] != "tanji.node-data/1":
            continue
        for product in doc["products"]:
            for a in product["activities"]:
                if a["kind"] != "material" or "data_source" in a:
                    continue
                key = (doc["organisation"]["id"], product["id"])
                holders.add(key)
                fac = data.factors.by_id[a["factor"]]
                emissions = W_DEFAULT_MATERIALS[key] * units.convert(a["amount"], a["unit"], fac.per_unit) * fac.value
                moved += emissions
                dqr_shift += emissions * ((a["dqr"] if "dqr" in a else fac.dqr) - (a["dqr"] if "dqr" in a else 1.5))
                a["data_source"] = "primary"  # what 1.0 assumed
        path.write_text(json.dumps(doc))
    assert holders == set(W_DEFAULT_MATERIALS)
    assert moved == pytest.approx(929.42079392, rel=1e-10)  # 20 records, 12 % of the pack

    as_1_0 = reference_result(load_data_dir(marked), TARGET)
    now = reference_result(data, TARGET)
    assert as_1_0.total_kgco2e == pytest.approx(now.total_kgco2e, rel=1e-14)
    assert now.total_kgco2e == pytest.approx(EXPECTED_TOTAL, rel=1e-12)
    assert as_1_0.primary_data_share == pytest.approx(SHARE_1_0, rel=1e-12)
    assert as_1_0.dqr == pytest.approx(DQR_1_0, rel=1e-12)
    assert now.primary_data_share == pytest.approx(SHARE_1_0 - moved / EXPECTED_TOTAL, rel=1e-12)
    assert now.dqr == pytest.approx(DQR_1_0 + dqr_shift / EXPECTED_TOTAL, rel=1e-12)
    assert now.primary_data_share == pytest.approx(EXPECTED_SHARE, rel=1e-12)
    assert now.dqr == pytest.approx(EXPECTED_DQR, rel=1e-12)


def test_the_plant_outside_china_uses_its_own_national_average(data, tmp_path):
    """The HPAL plant is in ID: its national-average record uses electricity.grid.national.ID; a factor
    set without it is refused at import, naming the organisation, the country and the factor id."""
    import json
    import shutil

    from tanji.errors import DataErrors

    assert data.nodes["mhp-producer"].model.organisation.country == "ID"
    part = own(data.nodes["mhp-producer"].model.product("MHP-NI39"), "mhp-producer", "ID", data.factors.by_id,
               build_graph(data, TARGET).profile)
    assert "electricity.grid.national.ID" in part.cited and "electricity.grid.national" not in part.cited
    copy = tmp_path / "no-id"
    shutil.copytree(CHAIN, copy)
    doc = json.loads((copy / "factors.json").read_text())
    doc["factors"] = [f for f in doc["factors"] if f["id"] != "electricity.grid.national.ID"]
    (copy / "factors.json").write_text(json.dumps(doc))
    with pytest.raises(DataErrors) as info:
        load_data_dir(copy)
    (error,) = info.value.errors
    assert error.file.endswith("mhp-producer.json") and error.path == "organisation.country"
    assert "'electricity.grid.national.ID'" in error.message   # the factor it needs
