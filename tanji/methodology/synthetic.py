"""Synthetic supply chains for tests and benchmarks (issue #14: `tanji generate-chain`).

A seeded generator of FORMATS 1.1 data: one factor set and one node-data file per organisation,
laid out in tiers below one declared pack. Every product of a tier buys from `fan_out` products
of the next tier; each supplier of a tier is bought by at least one buyer and most by several, so
the graph is a DAG with merged requests, and its depth is exactly `depth`. Across the chain it
uses every electricity model (with and without its evidence, so some fall back with a warning),
every activity kind, quantities in grams as well as kilograms, plants outside China with their
own national average, and a fallback factor on every federated input. The same arguments write
the same bytes.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PACK_ORG = "pack-maker"
PACK = "PACK-SYN"
#: countries of the plants outside China (each with its national average in the factor set)
ABROAD = ("DE", "HU", "KR")

FACTORS: list[dict[str, Any]] = [
    {"id": "electricity.grid.national", "value": 0.58, "unit": "kgCO2e/kWh", "dqr": 2.0},
    *({"id": f"electricity.grid.national.{c}", "value": v, "unit": "kgCO2e/kWh", "dqr": 2.0}
      for c, v in (("DE", 0.38), ("HU", 0.22), ("KR", 0.44))),
    {"id": "electricity.grid.east", "value": 0.62, "unit": "kgCO2e/kWh", "dqr": 2.0},
    {"id": "electricity.grid.south", "value": 0.45, "unit": "kgCO2e/kWh", "dqr": 2.0},
    {"id": "electricity.direct.hydro", "value": 0.02, "unit": "kgCO2e/kWh", "dqr": 2.5},
    {"id": "electricity.certified.wind", "value": 0.011, "unit": "kgCO2e/kWh", "dqr": 2.5},
    {"id": "electricity.certified.solar", "value": 0.04, "unit": "kgCO2e/kWh", "dqr": 2.5},
    {"id": "fuel.natural_gas", "value": 2.1, "unit": "kgCO2e/m3", "dqr": 2.0},
    {"id": "fuel.diesel", "value": 2.7, "unit": "kgCO2e/L", "dqr": 2.0},
    {"id": "material.steel", "value": 2.0, "unit": "kgCO2e/kg", "dqr": 3.5},
    {"id": "material.aluminium", "value": 8.6, "unit": "kgCO2e/kg", "dqr": 3.5},
    {"id": "material.chemicals", "value": 1.2, "unit": "kgCO2e/kg", "dqr": 4.0},
    {"id": "transport.truck", "value": 0.1, "unit": "kgCO2e/tkm", "dqr": 3.0},
    {"id": "transport.ship", "value": 0.01, "unit": "kgCO2e/tkm", "dqr": 3.0},
]

DECLARATION = {"method": "miit-2025", "model": "SYN-PACK", "chemistry": "NMC811",
               "plant": {"name": "Synthetic pack plant", "country": "CN"},
               "reference_period": {"from": "2025-01-01", "to": "2025-12-31"}, "mass_kg": 450.0,
               "rated_energy_kwh": 80.0, "cycle_count": 2000, "energy_per_cycle_fraction": 0.9,
               "cycle_test_report": "GB/T 31484 synthetic report"}


@dataclass(frozen=True)
class Shape:
    organisations: int
    depth: int
    fan_out: int
    seed: int = 0
    #: declared pack models of the pack maker (a catalogue: DESIGN §6), the first `PACK`
    packs: int = 1

    def check(self) -> None:
        if self.depth < 1:
            raise ValueError("--depth must be at least 1")
        if self.fan_out < 1:
            raise ValueError("--fan-out must be at least 1")
        if self.packs < 1:
            raise ValueError("--packs must be at least 1")
        if self.organisations < self.depth + 1:
            raise ValueError(f"--orgs {self.organisations} cannot fill {self.depth} tiers below the pack "
                             f"(at least {self.depth + 1})")


def tiers_of(shape: Shape) -> list[list[str]]:
    """Organisation ids per tier (tier 0: the pack maker). Tiers grow with depth: the remaining
    organisations are shared out in proportion to 1, 2, …, depth."""
    rest = shape.organisations - 1
    weights = list(range(1, shape.depth + 1))
    sizes = [1] * shape.depth
    extra = rest - shape.depth
    for t in range(shape.depth):
        sizes[t] += extra * weights[t] // sum(weights)
    sizes[-1] += rest - sum(sizes)
    return [[PACK_ORG]] + [[f"t{t}-{i:04d}" for i in range(size)] for t, size in enumerate(sizes, start=1)]


def product_of(org: str) -> str:
    return PACK if org == PACK_ORG else f"{org.upper()}-P"


def _electricity(rng: random.Random, i: int, scale: float) -> dict[str, Any]:
    """Every model in turn; every fifth record of a model lacks its evidence (a warning)."""
    amount = round(scale * rng.uniform(1.0, 9.0), 3)
    record: dict[str, Any] = {"kind": "electricity", "amount": amount, "unit": "kWh"}
    model = i % 4
    missing = (i // 4) % 5 == 4
    if model == 0:
        record |= {"model": "direct", "source": "hydro"} | ({} if missing else {"evidence": f"PPA-{i:05d}"})
    elif model == 1:
        record |= {"model": "green_certificate", "source": rng.choice(("wind", "solar")), "region": "east"}
        if not missing:
            record |= {"evidence": f"GEC-{i:05d}", "certified_amount": round(amount * rng.uniform(0.5, 1.0), 3),
                       "certified_unit": "kWh"}
    elif model == 2:
        record |= {"model": "regional_grid", "region": rng.choice(("east", "south"))}
    else:
        record |= {"model": "national_average"}
    return record


def _activities(rng: random.Random, i: int, scale: float) -> list[dict[str, Any]]:
    return [
        _electricity(rng, i, scale),
        {"kind": "fuel", "factor": "fuel.natural_gas", "amount": round(scale * rng.uniform(0.05, 0.5), 3),
         "unit": "m3"} if i % 2 == 0 else
        {"kind": "fuel", "factor": "fuel.diesel", "amount": round(scale * rng.uniform(0.01, 0.2), 3), "unit": "L"},
        {"kind": "material", "factor": rng.choice(("material.steel", "material.aluminium", "material.chemicals")),
         "amount": round(scale * rng.uniform(0.05, 0.4), 3), "unit": "kg"},
        {"kind": "transport", "mode": "truck", "mass": 1.0, "mass_unit": "kg",
         "distance": rng.randrange(50, 900), "distance_unit": "km", "stage": "raw_material"},
        {"kind": "direct", "amount": round(scale * rng.uniform(0.001, 0.05), 4), "unit": "kgCO2e"},
    ]


def _input(rng: random.Random, supplier: str, grams: bool) -> dict[str, Any]:
    quantity = round(rng.uniform(0.3, 1.3), 3)
    return {"supplier": supplier, "product": product_of(supplier),
            "quantity": round(quantity * 1000, 1) if grams else quantity, "unit": "g" if grams else "kg",
            "fallback_factor": "material.chemicals"}


def suppliers_of(tiers: list[list[str]], fan_out: int, rng: random.Random) -> dict[str, list[str]]:
    """Buyer -> its suppliers in the next tier: every supplier bought at least once (round robin),
    then each buyer filled up to `fan_out` distinct suppliers (shared ones: a DAG)."""
    bought: dict[str, list[str]] = {}
    for upper, lower in zip(tiers, tiers[1:], strict=False):
        chosen: dict[str, list[str]] = {b: [] for b in upper}
        for i, s in enumerate(lower):
            chosen[upper[i % len(upper)]].append(s)
        for b in upper:
            want = min(fan_out, len(lower))
            others = [s for s in lower if s not in chosen[b]]
            rng.shuffle(others)
            chosen[b] += others[:max(0, want - len(chosen[b]))]
        bought |= chosen
    return bought


def generate(shape: Shape) -> dict[str, dict[str, Any]]:
    """File name -> document: factors.json and one node-data file per organisation."""
    shape.check()
    rng = random.Random(shape.seed)
    tiers = tiers_of(shape)
    bought = suppliers_of(tiers, shape.fan_out, rng)
    docs: dict[str, dict[str, Any]] = {
        "factors.json": {"schema": "tanji.factor-set/1", "id": f"synthetic-{shape.seed}",
                         "provider": "tanji-synthetic", "factors": FACTORS}}
    n = 0
    for depth, tier in enumerate(tiers):
        for org in tier:
            n += 1
            country = ABROAD[n % len(ABROAD)] if depth > 0 and n % 7 == 3 else "CN"
            inputs = [_input(rng, s, grams=(n + j) % 6 == 0) for j, s in enumerate(bought.get(org, []))]
            product: dict[str, Any] = {
                "id": product_of(org), "name": f"{org} product", "unit": "piece" if org == PACK_ORG else "kg",
                "stage": "manufacturing" if depth <= 1 else "raw_material",
                "activities": _activities(rng, n, 20.0 if org == PACK_ORG else 1.0), "inputs": inputs}
            if org == PACK_ORG:
                product["activities"].append({"kind": "transport", "mode": "ship", "mass": 450.0, "mass_unit": "kg",
                                              "distance": 8000, "distance_unit": "km", "stage": "distribution"})
                product["activities"].append({"kind": "direct", "amount": 35.0, "unit": "kgCO2e",
                                              "stage": "end_of_life", "data_source": "secondary"})
                product["declaration"] = dict(DECLARATION)
            products = [product, *catalogue(product, shape.packs - 1)] if org == PACK_ORG else [product]
            docs[f"{org}.json"] = {"schema": "tanji.node-data/1",
                                   "organisation": {"id": org, "name": org.title(), "country": country},
                                   "products": products}
    return docs


def catalogue(product: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """`n` further models of a declared pack, sized from 0.6× to 1.4× of it (ids `<ID>-M01`…): the
    same suppliers and records; what is bought (input quantities), the mass carried and the rated
    energy scale with the size, the plant's own activities per pack do not — so a catalogue of pack
    models shares one supply chain (DESIGN §6) and each model has its own footprint per kWh."""
    out = []
    for i in range(1, n + 1):
        k = 0.6 + 0.8 * (i - 1) / max(1, n - 1) if n > 1 else 0.75
        model = json.loads(json.dumps(product))
        model["id"], model["name"] = f"{product['id']}-M{i:02d}", f"{product.get('name', product['id'])}, {k:.2f}×"
        for record in model.get("inputs", []):
            record["quantity"] = round(record["quantity"] * k, 6)
        for record in model.get("activities", []):
            if record.get("kind") == "transport":
                record["mass"] = round(record["mass"] * k, 6)
        declaration = model.get("declaration")
        if declaration is not None:
            declaration["model"] = f"{declaration['model']}-M{i:02d}"
            for key in ("mass_kg", "rated_energy_kwh"):
                declaration[key] = round(declaration[key] * k, 6)
        out.append(model)
    return out


def write(shape: Shape, out: Path) -> tuple[str, str]:
    """Write the chain to `out` (a new or empty folder); the target (pack maker, pack)."""
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty")
    docs = generate(shape)
    out.mkdir(parents=True, exist_ok=True)
    for name, doc in docs.items():
        (out / name).write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return PACK_ORG, PACK
