"""Node-data and factor-set documents for tests, and supply chains written from them.

`factors_doc`, `node_doc` and `product_doc` build documents of ../shared/FORMATS.md; `write_dir`
writes a data folder; `write_chain` generates a three-tier chain of N organisations (the fault
and soak tests); `write_attack_chain` is the small chain of the adversarial suite.
"""
from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

BASE_FACTORS: dict[str, Any] = {
    "schema": "tanji.factor-set/1",
    "id": "test-1",
    "provider": "test-provider",
    "factors": [
        {"id": "electricity.grid.national", "value": 0.5, "unit": "kgCO2e/kWh", "dqr": 2.0},
        {"id": "electricity.grid.national.DE", "value": 0.4, "unit": "kgCO2e/kWh", "dqr": 2.0},
        {"id": "electricity.grid.east", "value": 0.6, "unit": "kgCO2e/kWh", "dqr": 2.0},
        {"id": "electricity.direct.hydro", "value": 0.02, "unit": "kgCO2e/kWh", "dqr": 2.5},
        {"id": "electricity.certified.wind", "value": 0.01, "unit": "kgCO2e/MWh", "dqr": 2.5},
        {"id": "fuel.natural_gas", "value": 2.0, "unit": "kgCO2e/m3", "dqr": 2.0},
        {"id": "fuel.diesel", "value": 2.7, "unit": "kgCO2e/L"},
        {"id": "material.steel", "value": 2.0, "unit": "kgCO2e/kg", "dqr": 4.0},
        {"id": "material.nickel", "value": 10.0, "unit": "kgCO2e/t", "dqr": 3.5},
        {"id": "material.bms", "value": 30.0, "unit": "kgCO2e/piece"},
        {"id": "material.heat", "value": 0.07, "unit": "kgCO2e/GJ"},
        {"id": "transport.truck", "value": 0.1, "unit": "kgCO2e/tkm", "dqr": 3.0},
        {"id": "transport.ship", "value": 0.01, "unit": "kgCO2e/tkm", "dqr": 3.0},
        {"id": "material.cell_default", "value": 50.0, "unit": "kgCO2e/piece", "dqr": 4.0},
    ],
}


def factors_doc() -> dict[str, Any]:
    return copy.deepcopy(BASE_FACTORS)


def node_doc(org: str, products: list[dict[str, Any]], country: str = "CN") -> dict[str, Any]:
    return {"schema": "tanji.node-data/1", "organisation": {"id": org, "name": org.title(), "country": country},
            "products": products}


def product_doc(pid: str, *, unit: str = "kg", stage: str = "raw_material", activities=(), inputs=(),
                declaration: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": pid, "name": pid, "unit": unit, "stage": stage,
                           "activities": list(activities), "inputs": list(inputs)}
    if declaration is not None:
        doc["declaration"] = declaration
    return doc


#: what every declaration names (FORMATS 1.1 §2)
DECLARED = {"model": "TEST-PACK", "chemistry": "NMC811", "plant": {"name": "Test plant", "country": "CN"},
            "reference_period": {"from": "2025-01-01", "to": "2025-12-31"}}
MIIT = {"method": "miit-2025", **DECLARED, "rated_energy_kwh": 50.0, "cycle_count": 2000,
        "energy_per_cycle_fraction": 0.9, "cycle_test_report": "GB/T 31484 test report T-1"}
#: a category with its own cycles: 48 kWh × 50 cycles a year × 10 years
EU = {"method": "eu-2023-1542", **DECLARED, "usable_energy_kwh": 48.0, "vehicle_category": "other",
      "full_equivalent_cycles_per_year": 50, "cycles_justification": "test fleet duty cycle", "warranty_years": 10}


def write_dir(directory: Path, factors: dict[str, Any], *nodes: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "factors.json").write_text(json.dumps(factors), encoding="utf-8")
    for n in nodes:
        (directory / f"{n['organisation']['id']}.json").write_text(json.dumps(n), encoding="utf-8")
    return directory


# ---------------------------------------------------------------------------- activities and inputs
def electricity(kwh: float, region: str = "east") -> dict[str, Any]:
    return {"kind": "electricity", "amount": kwh, "unit": "kWh", "model": "regional_grid", "region": region}


def material(factor: str, amount: float, unit: str) -> dict[str, Any]:
    return {"kind": "material", "factor": factor, "amount": amount, "unit": unit}


def bought(supplier: str, product: str, quantity: float, unit: str) -> dict[str, Any]:
    return {"supplier": supplier, "product": product, "quantity": quantity, "unit": unit}


# ---------------------------------------------------------------------------- the adversarial chain
#: the supplier of the adversarial chain that a test plays (its key and certificate are the test's)
MALLORY = "mallory"


def write_attack_chain(folder: Path) -> Path:
    """The adversarial suite's small chain (depth 2: the smallest preset).

        pack/PACK   <- cells/CELL <- cathode/CAM       (cathode approves only cells and pack;
                                                        both buyers of CAM have a fallback factor)
                    <- bms-co/BMS
                    <- cathode/CAM (a second buyer of CAM: its request is a merged sum)
        pack/PACK-M <- bms-co/BMS, mallory/PART        (mallory: played by the test)
        rogue/ROGUE-PACK <- cathode/CAM                (a requester cathode has not approved)
    """
    gas = {"kind": "fuel", "factor": "fuel.natural_gas", "amount": 3.0, "unit": "m3"}
    return write_dir(
        folder, factors_doc(),
        node_doc("pack", [
            product_doc("PACK", unit="piece", stage="manufacturing", declaration=MIIT,
                        activities=[electricity(100.0), material("material.steel", 50.0, "kg")],
                        inputs=[bought("cells", "CELL", 100, "piece"), bought("bms-co", "BMS", 1, "piece"),
                                {**bought("cathode", "CAM", 2.0, "kg"), "fallback_factor": "material.steel"}]),
            product_doc("PACK-M", unit="piece", stage="manufacturing", declaration=MIIT, activities=[gas],
                        inputs=[bought("bms-co", "BMS", 1, "piece"), bought(MALLORY, "PART", 3.0, "kg")])]),
        node_doc("cells", [product_doc("CELL", unit="piece", stage="manufacturing", activities=[electricity(2.0)],
                                       inputs=[{**bought("cathode", "CAM", 0.4, "kg"),
                                                "fallback_factor": "material.steel"}])]),
        node_doc("cathode", [product_doc("CAM", activities=[electricity(10.0, "east"), gas,
                                                             material("material.nickel", 0.8, "kg")])]),
        node_doc("bms-co", [product_doc("BMS", unit="piece", stage="manufacturing",
                                        activities=[material("material.bms", 1, "piece")])]),
        node_doc("rogue", [product_doc("ROGUE-PACK", unit="piece", stage="manufacturing", declaration=MIIT,
                                       activities=[material("material.steel", 10.0, "kg")],
                                       inputs=[bought("cathode", "CAM", 5.0, "kg"),
                                               bought("bms-co", "BMS", 1, "piece")])]),
        node_doc(MALLORY, [product_doc("PART", activities=[material("material.steel", 1.0, "kg")])]),
    )


# ---------------------------------------------------------------------------- generated chains
PACK_ORG = "pack-00"
PACK = "PACK-GEN"


def _activities(rng: random.Random, scale: float) -> list[dict[str, Any]]:
    return [
        {"kind": "electricity", "amount": round(scale * rng.uniform(2, 9), 3), "unit": "kWh",
         "model": "national_average", "data_source": "primary"},
        {"kind": "material", "factor": "material.steel", "amount": round(scale * rng.uniform(0.1, 0.6), 3),
         "unit": "kg", "data_source": "secondary"},
        {"kind": "fuel", "factor": "fuel.natural_gas", "amount": round(scale * rng.uniform(0.05, 0.4), 3),
         "unit": "m3"},
        {"kind": "transport", "mode": "truck", "mass": 1.0, "mass_unit": "kg",
         "distance": rng.randrange(50, 900), "distance_unit": "km"},
        {"kind": "direct", "amount": round(scale * rng.uniform(0.001, 0.05), 4), "unit": "kgCO2e"},
    ]


def _input(rng: random.Random, supplier: str, product: str, unit: str = "kg") -> dict[str, Any]:
    quantity = round(rng.uniform(0.2, 1.5), 3)
    if unit == "g":  # the same quantity stated in grams: the supplier converts
        quantity = round(quantity * 1000, 1)
    return {"supplier": supplier, "product": product, "quantity": quantity, "unit": unit,
            "fallback_factor": "material.steel"}


def write_chain(directory: Path, organisations: int = 20, seed: int = 0) -> tuple[Path, tuple[str, str]]:
    """A generated supply chain: N organisations in three tiers (depth 2, so the smallest CKKS
    preset and quick runs). Every mid-tier supplier buys from two to four leaves and neighbouring
    mid-tier suppliers share a leaf, so the graph is a DAG whose shared leaves get one merged
    request from several buyers (the coordinator's merge path). Seeded: the same arguments write
    the same files. Writes factors.json and one node-data file per organisation; returns
    (folder, target)."""
    if organisations < 4:
        raise ValueError("a three-tier chain needs at least 4 organisations")
    rng = random.Random(seed)
    n_mid = max(1, (organisations - 1) // 3)
    mids = [f"mid-{i:02d}" for i in range(n_mid)]
    leaves = [f"leaf-{i:02d}" for i in range(organisations - 1 - n_mid)]
    docs = []
    # leaves: raw-material suppliers with no federated inputs
    for i, org in enumerate(leaves):
        activities = _activities(rng, 1.0)
        if i % 4 == 1:  # certificates without evidence: the regional grid and one warning
            activities.append({"kind": "electricity", "amount": 1.5, "unit": "kWh", "model": "green_certificate",
                               "source": "wind", "region": "east"})
        docs.append(node_doc(org, [product_doc(f"{org.upper()}-RM", activities=activities)]))
    # mid tier: each buys from its own leaves plus the first leaf of its neighbour (a shared input)
    per_mid = [leaves[i::n_mid] for i in range(n_mid)]
    for i, org in enumerate(mids):
        mine = list(per_mid[i])
        neighbour = per_mid[(i + 1) % n_mid]
        if n_mid > 1 and neighbour and neighbour[0] not in mine:
            mine.append(neighbour[0])
        inputs = [_input(rng, leaf, f"{leaf.upper()}-RM", unit="g" if j == 0 and i % 3 == 2 else "kg")
                  for j, leaf in enumerate(mine)]
        docs.append(node_doc(org, [product_doc(f"{org.upper()}-PART", stage="manufacturing",
                                               activities=_activities(rng, 2.0), inputs=inputs)]))
    pack_inputs = [_input(rng, org, f"{org.upper()}-PART") for org in mids]
    pack_inputs[0]["quantity"] = round(pack_inputs[0]["quantity"] * 40, 3)  # the cells: most of the pack
    pack_activities = _activities(rng, 20.0) + [
        {"kind": "transport", "mode": "ship", "mass": 450.0, "mass_unit": "kg", "distance": 8000,
         "distance_unit": "km", "stage": "distribution"},
        {"kind": "direct", "amount": 35.0, "unit": "kgCO2e", "stage": "end_of_life", "data_source": "secondary"},
    ]
    docs.append(node_doc(PACK_ORG, [product_doc(PACK, unit="piece", stage="manufacturing",
                                                activities=pack_activities, inputs=pack_inputs,
                                                declaration=dict(MIIT))]))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "factors.json").write_text(json.dumps(factors_doc(), indent=1), encoding="utf-8")
    for doc in docs:
        (directory / f"{doc['organisation']['id']}.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return directory, (PACK_ORG, PACK)
