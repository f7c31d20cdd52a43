"""Method profiles as data (FORMATS.md §2): functional unit and accepted electricity models.

A profile is named in the target product's declaration, applies to every product
of the calculation, and is named (with its version) in the result. Adding a
method is adding a row here, not forking code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

ELECTRICITY_MODELS: tuple[str, ...] = ("direct", "green_certificate", "regional_grid", "national_average")


@dataclass(frozen=True)
class MethodProfile:
    name: str
    version: str
    title: str
    #: declaration fields whose product is the lifetime energy in kWh
    lifetime_fields: tuple[str, ...]
    #: further declaration fields the method allows (not part of the product)
    optional_fields: tuple[str, ...]
    #: electricity models computed as declared
    accepted_electricity: frozenset[str]
    #: whether a fallback may use the regional grid (else always the national average)
    regional_fallback: bool

    @property
    def declaration_fields(self) -> tuple[str, ...]:
        return self.lifetime_fields + self.optional_fields

    def lifetime_energy_kwh(self, declaration: object) -> float:
        """Total energy the pack delivers over its life, per this method's rule."""
        return math.prod(float(getattr(declaration, f)) for f in self.lifetime_fields)


PROFILES: dict[str, MethodProfile] = {
    p.name: p
    for p in (
        MethodProfile(
            name="miit-2025",
            version="1",
            title="MIIT battery carbon-footprint declaration (2025)",
            lifetime_fields=("rated_energy_kwh", "cycle_count", "energy_per_cycle_fraction"),
            optional_fields=("cycle_test_report",),
            accepted_electricity=frozenset(ELECTRICITY_MODELS),
            regional_fallback=True,
        ),
        MethodProfile(
            name="eu-2023-1542",
            version="1",
            title="EU Battery Regulation 2023/1542 Art. 7 (CFB-EV)",
            lifetime_fields=("usable_energy_kwh", "full_equivalent_cycles_per_year", "service_years"),
            optional_fields=(),
            accepted_electricity=frozenset({"direct", "national_average"}),
            regional_fallback=False,
        ),
    )
}

#: every declaration field any profile knows (the declaration model's field set)
ALL_DECLARATION_FIELDS: frozenset[str] = frozenset(f for p in PROFILES.values() for f in p.declaration_fields)


def get(name: str) -> MethodProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(PROFILES)}") from None
