"""A commented starting point for a supplier's node data, and the placeholders it leaves to fill.

The template holds one record of every activity kind and every electricity model with its
evidence fields, and one input with its fallback factor. Comments are `x-help` fields (kept
and ignored by the format); every value to fill is a placeholder `<…>`, which no tanji
command accepts, so an unfilled template is never imported by mistake.
"""
from __future__ import annotations

import re
from typing import Any

from tanji.methodology.formats.nodedata import NODE_DATA_SCHEMA

HELP = "x-help"
PLACEHOLDER = re.compile(r"^<[^<>]*>$")


def is_placeholder(value: object) -> bool:
    return isinstance(value, str) and PLACEHOLDER.match(value.strip()) is not None


def placeholders(doc: object, path: str = "") -> list[str]:
    """JSON paths of every unfilled placeholder in `doc` (comments, `x-` fields, are not looked at)."""
    found: list[str] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if isinstance(key, str) and not key.startswith("x-"):
                found += placeholders(value, f"{path}.{key}" if path else key)
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += placeholders(value, f"{path}[{i}]")
    elif is_placeholder(doc):
        found.append(path)
    return found


def _activities() -> list[dict[str, Any]]:
    per = "per declared unit"
    return [
        {HELP: "grid electricity of a regional grid (区域电网); factor electricity.grid.<region>",
         "kind": "electricity", "amount": f"<kWh {per}>", "unit": "kWh", "model": "regional_grid",
         "region": "<grid region, e.g. east>", "data_source": "primary"},
        {HELP: "physically direct-connected generation (物理直连); factor electricity.direct.<source>. Without "
               "evidence the amount falls back to the regional grid (or the national average without a region), "
               "one warning",
         "kind": "electricity", "amount": f"<kWh {per}>", "unit": "kWh", "model": "direct",
         "source": "<generation source: solar_pv, wind, hydro …>", "region": "<grid region for a fallback, or remove>",
         "evidence": "<direct-supply contract or meter reference>"},
        {HELP: "green certificates (特定供电/绿证); the certified amount uses electricity.certified.<source>, "
               "consumption above it (or without evidence) falls back to the grid, one warning",
         "kind": "electricity", "amount": f"<kWh {per}>", "unit": "kWh", "model": "green_certificate",
         "source": "<generation source: solar_pv, wind, hydro …>", "region": "<grid region for a fallback, or remove>",
         "evidence": "<certificate batch or cancellation number>",
         "certified_amount": f"<certified kWh {per}>", "certified_unit": "kWh"},
        {HELP: "grid electricity at the national average of the organisation's country "
               "(electricity.grid.national.<country>)",
         "kind": "electricity", "amount": f"<kWh {per}>", "unit": "kWh", "model": "national_average"},
        {HELP: "fuel burnt on site: factor id × amount", "kind": "fuel",
         "factor": "<factor id, e.g. fuel.natural_gas>", "amount": f"<m3 {per}>", "unit": "m3"},
        {HELP: "purchased material valued with a background factor (secondary data by default)", "kind": "material",
         "factor": "<factor id, e.g. material.aluminium_wrought>", "amount": f"<kg {per}>", "unit": "kg",
         "stage": "raw_material"},
        {HELP: "a transport leg this organisation arranges: transport.<mode> × mass (t) × distance (km); inbound "
               "legs of materials belong to raw_material", "kind": "transport",
         "mode": "<truck, rail, ship or air>", "mass": f"<kg carried {per}>", "mass_unit": "kg",
         "distance": "<km>", "distance_unit": "km", "stage": "raw_material"},
        {HELP: "emissions already in kgCO2e: process emissions, refrigerant leaks …", "kind": "direct",
         "amount": f"<kgCO2e {per}>", "unit": "kgCO2e"},
    ]


def _product(n: int, count: int) -> dict[str, Any]:
    which = f" {n}" if count > 1 else ""
    return {
        HELP: "one product this organisation sells. Every amount is per one `unit` of it. Remove the records you "
              "do not need, copy those you need more of; fill every <…>.",
        "id": f"<product{which} id: letters, digits, '.', '_', '-'>",
        "name": f"<product{which} name>",
        "unit": "<declared unit: piece, kg, t, kWh …>",
        "stage": "manufacturing",
        "activities": _activities(),
        "inputs": [{
            HELP: "bought from another organisation's node; the fallback factor is used only if that supplier "
                  "is declared dead (its emissions then count as one warning of this product)",
            "supplier": "<supplier's organisation id>", "product": "<supplier's product id>",
            "quantity": "<quantity per declared unit>", "unit": "kg",
            "fallback_factor": "<factor id, e.g. material.nmc811_cam_avg>"}],
    }


def template_doc(org: str, products: int = 1) -> dict[str, Any]:
    """The node-data template of organisation `org` with `products` product skeletons."""
    return {
        "schema": NODE_DATA_SCHEMA,
        HELP: "tanji node data (FORMATS §2). Fill every <…>, remove what does not apply, then: tanji node check "
              "FILE --factors FACTORS.json; tanji node preview …; tanji node import …",
        "organisation": {"id": org, "name": "<organisation name>", "country": "CN",
                         HELP: "country: ISO 3166-1 alpha-2 of the plant (CN, ID, HU …)"},
        "products": [_product(n, products) for n in range(1, products + 1)],
    }
