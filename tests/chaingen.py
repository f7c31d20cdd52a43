"""A generated supply chain for fault and soak tests: N organisations in three tiers (depth 2).

Depth 2 keeps the calculation on the smallest CKKS preset, so each run is quick. Every
mid-tier supplier buys from two to four leaves and neighbouring mid-tier suppliers share a
leaf, so the graph is a DAG whose shared leaves get one merged request from several buyers
(the coordinator's merge path). Values are seeded: the same arguments write the same files.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from tests.builders import MIIT, factors_doc, node_doc, product_doc

PACK_ORG = "pack-00"
PACK = "PACK-GEN"


def _activities(rng: random.Random, scale: float) -> list[dict]:
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


def _input(rng: random.Random, supplier: str, product: str, unit: str = "kg") -> dict:
    quantity = round(rng.uniform(0.2, 1.5), 3)
    if unit == "g":  # the same quantity stated in grams: the supplier converts
        quantity = round(quantity * 1000, 1)
    return {"supplier": supplier, "product": product, "quantity": quantity, "unit": unit,
            "fallback_factor": "material.steel"}


def write_chain(directory: Path, organisations: int = 20, seed: int = 0) -> tuple[Path, tuple[str, str]]:
    """Write factors.json and one node-data file per organisation; return (folder, target)."""
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
