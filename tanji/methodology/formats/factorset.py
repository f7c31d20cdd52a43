"""`tanji.factor-set/1`: background emission factors published by a factor provider."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from tanji.methodology import units
from tanji.methodology.formats.base import DQR, FieldRule, ItemId, NonNegative, OrgId, Record

Share = Annotated[float, Field(ge=0, le=1)]

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
    #: extension (decision 0013): a supplier's own product footprint rather than background data, e.g. a
    #: PACT footprint imported with `tanji import pact`; `source` names it
    supplier_specific: bool = False
    #: the primary-data share of that footprint's own calculation: a record valued with the factor counts
    #: this share of its emissions as primary data (unless the record states its data_source)
    primary_data_share: Share | None = None

    @model_validator(mode="after")
    def _supplier_specific(self) -> Factor:
        if self.primary_data_share is not None and not self.supplier_specific:
            raise FieldRule("primary_data_share", "only a supplier_specific factor carries a primary-data share")
        return self

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
