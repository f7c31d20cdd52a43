"""The closed unit vocabulary of FORMATS.md, backed by pint.

Every conversion goes through one pint registry; the project-specific units
(`tkm`, `piece`, `kgCO2e`, and `m3` as a spelling) are defined here, once.
"""
from __future__ import annotations

from functools import cache

import pint

#: The only unit strings a file may use (FORMATS.md "Units").
UNITS: tuple[str, ...] = ("g", "kg", "t", "kWh", "MWh", "MJ", "GJ", "L", "m3", "km", "tkm", "piece", "kgCO2e")
EMISSION_UNIT = "kgCO2e"
FACTOR_UNIT_PREFIX = EMISSION_UNIT + "/"

_registry: pint.UnitRegistry[float] = pint.UnitRegistry(cache_folder=None)
_registry.define("kgCO2e = [emission]")
_registry.define("piece = [count]")
_registry.define("m3 = meter ** 3")
_registry.define("tkm = tonne * kilometer")


class UnitMismatch(ValueError):
    """Two units of different dimensions were asked to convert."""


@cache
def _unit(name: str) -> pint.Unit:
    if name not in UNITS:
        raise ValueError(f"unknown unit {name!r}; allowed: {', '.join(UNITS)}")
    return _registry.Unit(name)


def dimension(name: str) -> str:
    """A readable name of a unit's dimension (mass, energy, …)."""
    dims = _unit(name).dimensionality
    for label, ref in (("mass", "kg"), ("energy", "kWh"), ("volume", "m3"), ("distance", "km"),
                       ("freight", "tkm"), ("count", "piece"), ("emissions", "kgCO2e")):
        if dims == _unit(ref).dimensionality:
            return label
    return str(dims)


def same_dimension(a: str, b: str) -> bool:
    return _unit(a).dimensionality == _unit(b).dimensionality


@cache
def factor(src: str, dst: str) -> float:
    """The multiplier that turns an amount in `src` into `dst` (UnitMismatch across dimensions)."""
    if not same_dimension(src, dst):
        raise UnitMismatch(f"{src!r} ({dimension(src)}) cannot be converted to {dst!r} ({dimension(dst)})")
    return float(_registry.Quantity(1.0, _unit(src)).to(_unit(dst)).magnitude)


def convert(amount: float, src: str, dst: str) -> float:
    """Convert `amount` from unit `src` to unit `dst`."""
    if src == dst:
        return amount
    return amount * factor(src, dst)


def factor_denominator(factor_unit: str) -> str:
    """'kgCO2e/kWh' -> 'kWh'; ValueError if the string is not kgCO2e per a vocabulary unit."""
    if not factor_unit.startswith(FACTOR_UNIT_PREFIX):
        raise ValueError(f"factor unit {factor_unit!r} must be 'kgCO2e/<unit>'")
    denom = factor_unit[len(FACTOR_UNIT_PREFIX):]
    _unit(denom)
    if denom == EMISSION_UNIT:
        raise ValueError("factor unit 'kgCO2e/kgCO2e' is not an emission factor")
    return denom
