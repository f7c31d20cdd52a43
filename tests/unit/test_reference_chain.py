"""The plaintext reference against ../shared/reference (computed independently of tanji).

Skips, saying why, where ../shared is absent: the project's own examples are
tested in test_examples.py.
"""
import json
import shutil

import pytest

from tanji.methodology.graph import reference_result
from tanji.methodology.loader import load_data_dir
from tests.harness.paths import SHARED_EXPECTED

REL = 1e-9


def numbers(doc, prefix=""):
    """Every number in a JSON document, by path."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from numbers(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from numbers(v, f"{prefix}[{i}]")
    elif isinstance(doc, (int, float)) and not isinstance(doc, bool):
        yield prefix, doc


def test_reproduces_the_independent_result(shared_reference):
    expected = json.loads(SHARED_EXPECTED.read_text())
    got = json.loads(reference_result(load_data_dir(shared_reference), ("pack-maker", "PACK-75")).to_json())
    for key in ("schema", "product", "method", "declared_unit"):
        assert got[key] == expected[key]
    declared = json.loads((shared_reference / "pack-maker.json").read_text())["products"][0]["declaration"]
    assert got["declaration"] == {k: v for k, v in declared.items() if k != "cycle_test_report"}
    checked = 0
    for path, value in numbers(expected):
        actual = dict(numbers(got))[path]
        assert abs(actual - value) <= REL * abs(value), f"{path}: {actual} vs {value}"
        checked += 1
    assert checked == 14  # every number of the expected file


# The EU profile of the same chain, derived by hand. Under eu-2023-1542 every
# regional-grid and green-certificate record is computed with the national
# average (0.5306 kgCO2e/kWh) and raises one warning; direct connections with
# evidence stay. All electricity records of the chain are primary data (dqr
# 1.5) in their product's stage. w = kg (or pieces) of the product per pack,
# from the quantities in the node files:
W_CELL = 288                        # pieces
W_CAM = 288 * 0.42                  # kg cathode
W_GRAPHITE = 288 * 0.260            # 260 g per cell
W_FOIL = 288 * 0.14
W_PCAM = W_CAM * 0.98
W_LIOH = W_CAM * 0.46
W_NISO4 = W_PCAM * 2.29
NAT, EAST, CENTRAL, NORTH, SOUTHWEST = 0.5306, 0.55, 0.5271, 0.6361, 0.2472
CERT_WIND, CERT_SOLAR = 0.012, 0.043
# (stage, w × kWh × (national − factor used under MIIT))
EU_DELTAS = [
    ("manufacturing", 310 * (NAT - EAST)),                                  # pack, regional grid
    ("manufacturing", 120 * NAT - (100 * CERT_SOLAR + 20 * EAST)),          # pack, certificate (100 of 120 kWh)
    ("manufacturing", W_CELL * 6.0 * (NAT - EAST)),                         # cell, regional grid
    ("raw_material", W_CAM * 7.5 * (NAT - CENTRAL)),                        # cathode
    ("raw_material", W_FOIL * 9.0 * (NAT - CENTRAL)),                       # copper foil
    ("raw_material", W_GRAPHITE * 10.0 * (NAT - NORTH)),                    # graphite, regional grid
    ("raw_material", W_GRAPHITE * 4.0 * (NAT - CERT_WIND)),                 # graphite, certificate
    ("raw_material", W_LIOH * 5.8 * (NAT - SOUTHWEST)),                     # lithium hydroxide
    ("raw_material", W_NISO4 * 1.1 * (NAT - EAST)),                         # nickel sulphate
    ("raw_material", W_PCAM * 3.2 * (NAT - CENTRAL)),                       # precursor
    ("distribution", 1 * 2.0 * (NAT - EAST)),                               # logistics depot
    ("end_of_life", 455 * 0.9 * (NAT - CENTRAL)),                           # recycler
]
EU_WARNINGS = 12  # one per record above; the partial certificate's MIIT warning is replaced, not added
EU_LIFETIME = 72.0 * 60 * 8           # usable kWh × 60 cycles a year (category M1) × 8 warranty years


def eu_declaration(miit: dict) -> dict:
    """The pack's MIIT declaration rewritten for eu-2023-1542: same model, chemistry, plant and period."""
    common = {k: miit[k] for k in ("model", "chemistry", "plant", "reference_period", "mass_kg") if k in miit}
    return {"method": "eu-2023-1542", **common, "usable_energy_kwh": 72.0, "vehicle_category": "M1",
            "warranty_years": 8}


def test_eu_profile_variant_matches_hand_derivation(shared_reference, tmp_path):
    variant = tmp_path / "nmc811-eu"
    shutil.copytree(shared_reference, variant)
    pack_file = variant / "pack-maker.json"
    pack = json.loads(pack_file.read_text())
    pack["products"][0]["declaration"] = eu_declaration(pack["products"][0]["declaration"])
    pack_file.write_text(json.dumps(pack))
    miit = json.loads(SHARED_EXPECTED.read_text())
    got = reference_result(load_data_dir(variant), ("pack-maker", "PACK-75"))

    stages = dict(miit["stages_kgco2e"])
    for stage, delta in EU_DELTAS:
        stages[stage] += delta
    delta_total = sum(d for _, d in EU_DELTAS)
    total = miit["total_kgco2e"] + delta_total
    assert got.method == "eu-2023-1542" and got.declaration is not None
    assert got.declaration["vehicle_category"] == "M1"
    assert got.lifetime_energy_kwh == EU_LIFETIME == 34560.0
    assert got.total_kgco2e == pytest.approx(total, rel=REL)
    assert got.stages_per_kwh_kgco2e is not None  # a declaration, not a product footprint
    for stage, value in stages.items():
        assert got.stages_kgco2e[stage] == pytest.approx(value, rel=REL)
        assert got.stages_per_kwh_kgco2e[stage] == pytest.approx(value / EU_LIFETIME, rel=REL)
    assert got.per_kwh_kgco2e == pytest.approx(total / EU_LIFETIME, rel=REL)
    primary = miit["primary_data_share"] * miit["total_kgco2e"] + delta_total
    dqr_weighted = miit["dqr"] * miit["total_kgco2e"] + 1.5 * delta_total
    assert got.primary_data_share == pytest.approx(primary / total, rel=REL)
    assert got.dqr == pytest.approx(dqr_weighted / total, rel=REL)
    assert got.warnings_count == EU_WARNINGS
    assert len(got.warnings) == 2 and all(w.startswith("pack-maker/PACK-75 activities[") for w in got.warnings)
    assert all("not accepted by method 'eu-2023-1542', national average used" in w for w in got.warnings)
