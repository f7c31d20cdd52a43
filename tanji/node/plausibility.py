"""Plausibility ceilings on a node's own input, set by the node's operator (issue: bounds).

Non-negative amounts are a rule of the format itself. Ceilings catch the slip that
the format cannot: a meter reading in Wh typed as kWh, a tonne typed as a kilogram.
They live in `policy.toml`, one maximum per unit, and apply to every amount of that
dimension after conversion (so `kWh = 2000` also bounds an amount stated in MJ):

    [ceilings]            # per declared unit of the product the amount belongs to
    kWh = 2000
    kg = 50
    tkm = 100

A file breaking a ceiling is refused whole at import, naming file, record and field.
The key holder's bounds check after decryption stays the last line of defence.
"""
from __future__ import annotations

from tanji.errors import DataError, DataErrors
from tanji.methodology import units


def parse_ceilings(raw: object, policy_file: str) -> dict[str, float]:
    if not isinstance(raw, dict):
        raise DataError(policy_file, "ceilings", "must be a table of unit = maximum")
    out = {}
    for unit, value in raw.items():
        if unit not in units.UNITS:
            raise DataError(policy_file, f"ceilings.{unit}", f"unknown unit (one of {', '.join(units.UNITS)})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise DataError(policy_file, f"ceilings.{unit}", "the maximum must be a number > 0")
        out[unit] = float(value)
    return out


def _amounts(product):
    """(JSON path suffix, amount, unit) of every amount a product states."""
    for j, a in enumerate(product.activities):
        if a.kind == "transport":
            yield f"activities[{j}].mass", a.mass, a.mass_unit
            yield f"activities[{j}].distance", a.distance, a.distance_unit
            tkm = units.convert(a.mass, a.mass_unit, "t") * units.convert(a.distance, a.distance_unit, "km")
            yield f"activities[{j}]", tkm, "tkm"
        else:
            yield f"activities[{j}].amount", a.amount, a.unit
    for j, inp in enumerate(product.inputs):
        yield f"inputs[{j}].quantity", inp.quantity, inp.unit


def check(node_data, ceilings: dict[str, float], file: str) -> None:
    """Refuse (DataErrors, every break listed) amounts above the operator's ceilings."""
    if not ceilings:
        return
    errors = []
    for i, product in enumerate(node_data.products):
        for where, amount, unit in _amounts(product):
            for limit_unit, limit in ceilings.items():
                if units.same_dimension(unit, limit_unit) and units.convert(amount, unit, limit_unit) > limit:
                    errors.append(DataError(file, f"products[{i}].{where}",
                                            f"{amount:g} {unit} per {product.unit} of {product.id} is above the "
                                            f"ceiling {limit:g} {limit_unit} set in policy.toml [ceilings]"))
    if errors:
        raise DataErrors(errors)
