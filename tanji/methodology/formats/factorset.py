"""`tanji.factor-set/1`: background emission factors published by a factor provider."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from tanji.methodology import units
from tanji.methodology.formats.base import DQR, FieldRule, ItemId, NonNegative, OrgId, Record

FACTOR_SET_SCHEMA = "tanji.factor-set/1"
DEFAULT_FACTOR_DQR = 3.0


class Factor(Record):
    id: ItemId
    value: NonNegative
    unit: str
    dqr: DQR = DEFAULT_FACTOR_DQR
    geography: str | None = None
    year: int | None = None
    source: str | None = None
    family: Literal["co2", "lifecycle"] | None = None

    @field_validator("unit")
    @classmethod
    def _factor_unit(cls, value: str) -> str:
        units.factor_denominator(value)
        return value

    @property
    def per_unit(self) -> str:
        """The unit the factor is per: 'kgCO2e/kWh' -> 'kWh'."""
        return units.factor_denominator(self.unit)


class FactorSet(Record):
    schema_: Literal["tanji.factor-set/1"] = Field(alias="schema")
    id: ItemId
    provider: OrgId
    factors: list[Factor]

    @model_validator(mode="after")
    def _unique_ids(self) -> FactorSet:
        seen: set[str] = set()
        for i, f in enumerate(self.factors):
            if f.id in seen:
                raise FieldRule(f"factors[{i}].id", f"duplicate factor id {f.id!r}")
            seen.add(f.id)
        return self

    def by_id(self) -> dict[str, Factor]:
        return {f.id: f for f in self.factors}
