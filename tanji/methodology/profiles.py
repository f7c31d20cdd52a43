"""Method profiles as data (FORMATS.md §2): functional unit and accepted electricity models.

A profile is named in the target product's declaration, applies to every product
of the calculation, and is named (with its version) in the result. Adding a
method is adding a row here, not forking code.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

ELECTRICITY_MODELS: tuple[str, ...] = ("direct", "green_certificate", "regional_grid", "national_average")

#: declaration fields every method shares (FORMATS.md §2): released with the result
COMMON_FIELDS: tuple[str, ...] = ("model", "chemistry", "plant", "reference_period", "mass_kg")

#: EU 2023/1542 full-equivalent cycles per year by vehicle category; `other` states its own
EU_CYCLES_PER_YEAR: dict[str, float] = {"M1": 60.0, "N1": 60.0, "L": 20.0,
                                        "M2": 250.0, "M3": 250.0, "N2": 250.0, "N3": 250.0}
EU_VEHICLE_CATEGORIES: tuple[str, ...] = (*EU_CYCLES_PER_YEAR, "other")


def _miit_lifetime(d: Mapping[str, Any]) -> float:
    return float(d["rated_energy_kwh"]) * float(d["cycle_count"]) * float(d["energy_per_cycle_fraction"])


def eu_cycles_per_year(d: Mapping[str, Any]) -> float:
    category = d["vehicle_category"]
    if category == "other":
        return float(d["full_equivalent_cycles_per_year"])
    return EU_CYCLES_PER_YEAR[category]


def _eu_lifetime(d: Mapping[str, Any]) -> float:
    return float(d["usable_energy_kwh"]) * eu_cycles_per_year(d) * float(d["warranty_years"])


@dataclass(frozen=True)
class MethodProfile:
    name: str
    version: str
    title: str
    #: declaration fields the method requires (besides the common ones)
    required_fields: tuple[str, ...]
    #: further declaration fields the method allows (whether one is required may depend on
    #: another field: the declaration model checks those rules)
    optional_fields: tuple[str, ...]
    #: free-text evidence fields: kept on the declarant's node, not released with the result
    evidence_fields: tuple[str, ...]
    #: lifetime energy in kWh from the declaration's fields (a mapping of field -> value)
    lifetime: Callable[[Mapping[str, Any]], float]
    #: electricity models computed as declared
    accepted_electricity: frozenset[str]
    #: whether a fallback may use the regional grid (else always the national average)
    regional_fallback: bool

    @property
    def declaration_fields(self) -> tuple[str, ...]:
        return self.required_fields + self.optional_fields

    @property
    def released_fields(self) -> tuple[str, ...]:
        """Fields of a declaration the result carries: method, common fields, functional-unit inputs."""
        return ("method", *COMMON_FIELDS, *(f for f in self.declaration_fields if f not in self.evidence_fields))

    def lifetime_energy_kwh(self, declaration: Mapping[str, Any]) -> float:
        """Total energy the pack delivers over its life, per this method's rule."""
        value = self.lifetime(declaration)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"lifetime energy {value!r} kWh is not a positive finite number")
        return value


PROFILES: dict[str, MethodProfile] = {
    p.name: p
    for p in (
        MethodProfile(
            name="miit-2025",
            version="1",
            title="MIIT battery carbon-footprint declaration (2025)",
            # rated energy × cycle count (whole, measured to GB/T 31484) × mean energy per cycle
            required_fields=("rated_energy_kwh", "cycle_count", "energy_per_cycle_fraction", "cycle_test_report"),
            optional_fields=(),
            evidence_fields=("cycle_test_report",),
            lifetime=_miit_lifetime,
            accepted_electricity=frozenset(ELECTRICITY_MODELS),
            regional_fallback=True,
        ),
        MethodProfile(
            name="eu-2023-1542",
            # 2 (FORMATS 1.1): cycles per year follow the vehicle category, years are the warranty's
            version="2",
            title="EU Battery Regulation 2023/1542 Art. 7 (CFB-EV)",
            # usable energy × full-equivalent cycles per year (by vehicle category) × warranty years
            required_fields=("usable_energy_kwh", "vehicle_category", "warranty_years"),
            optional_fields=("full_equivalent_cycles_per_year", "cycles_justification"),
            evidence_fields=("cycles_justification",),
            lifetime=_eu_lifetime,
            accepted_electricity=frozenset({"direct", "national_average"}),
            regional_fallback=False,
        ),
    )
}

#: every method-specific declaration field any profile knows (the declaration model's field set)
ALL_DECLARATION_FIELDS: frozenset[str] = frozenset(f for p in PROFILES.values() for f in p.declaration_fields)


#: the method whose chain-wide rules a product footprint follows when its requester names none (FORMATS 1.1 §2)
PRODUCT_FOOTPRINT_DEFAULT = "miit-2025"


def get(name: str) -> MethodProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(PROFILES)}") from None
