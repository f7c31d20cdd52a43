"""Small builders of factor sets and node-data documents for tests."""
from __future__ import annotations

import copy
import json
from pathlib import Path


BASE_FACTORS = {
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


def factors_doc() -> dict:
    return copy.deepcopy(BASE_FACTORS)


def node_doc(org: str, products: list[dict], country: str = "CN") -> dict:
    return {"schema": "tanji.node-data/1", "organisation": {"id": org, "name": org.title(), "country": country},
            "products": products}


def product_doc(pid: str, *, unit: str = "kg", stage: str = "raw_material", activities=(), inputs=(),
                declaration: dict | None = None) -> dict:
    doc = {"id": pid, "name": pid, "unit": unit, "stage": stage,
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


def write_dir(directory: Path, factors: dict, *nodes: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "factors.json").write_text(json.dumps(factors), encoding="utf-8")
    for n in nodes:
        (directory / f"{n['organisation']['id']}.json").write_text(json.dumps(n), encoding="utf-8")
    return directory


def offline_node(root: Path, org: str = "cell-co", policy=None):
    """A node on a store with one imported product and a channel to nowhere: for the node's own
    bookkeeping (outbox, policies) without processes. Shut its (never started) pool down after."""
    import grpc

    from tanji.node.daemon import Node
    from tanji.node.importer import import_files
    from tanji.node.store import NodeStore
    from tanji.protocol.signing import SigningKey

    act = [{"kind": "electricity", "amount": 3.0, "unit": "kWh", "model": "national_average"}]
    d = write_dir(root / "data", factors_doc(), node_doc(org, [product_doc("CELL", activities=act)]))
    store = NodeStore(root / "state" / "node.db")
    import_files(store, d / f"{org}.json", d / "factors.json")
    return Node(org, store, SigningKey.generate(), federation=None, channel=grpc.insecure_channel("127.0.0.1:9"),
                policy=policy)
