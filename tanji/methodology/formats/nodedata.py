"""`tanji.node-data/1`: everything one organisation knows about the products it sells.

This file never leaves the node. The models enforce every rule of FORMATS.md §2
that can be checked on the file alone; rules against the factor set are in
`tanji.methodology.formats.crosscheck`.
"""
from __future__ import annotations

from typing import Annotated, Literal, Union

import pycountry
from pydantic import Field, field_validator, model_validator

from tanji.methodology import profiles
from tanji.methodology.formats.base import (DQR, FieldRule, ItemId, NonNegative, OrgId, Positive, Record, Stage, Unit,
                              require_dimension)

NODE_DATA_SCHEMA = "tanji.node-data/1"
PRIMARY_DEFAULT_DQR = 1.5
SECONDARY_DIRECT_DQR = 3.0

#: the charset of a region or generation source: it becomes part of a factor id
Token = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]


class ActivityBase(Record):
    data_source: Literal["primary", "secondary"] = "primary"
    dqr: DQR | None = None
    stage: Stage | None = None
    note: str | None = None


class Electricity(ActivityBase):
    kind: Literal["electricity"]
    amount: NonNegative
    unit: Unit
    model: Literal[profiles.ELECTRICITY_MODELS]  # type: ignore[valid-type]
    source: Token | None = None
    region: Token | None = None
    evidence: str | None = None
    certified_amount: NonNegative | None = None
    certified_unit: Unit | None = None

    @model_validator(mode="after")
    def _rules(self) -> "Electricity":
        require_dimension("unit", self.unit, "kWh")
        if self.model in ("direct", "green_certificate") and self.source is None:
            raise FieldRule("source", f"required for electricity model {self.model!r}")
        if self.model == "regional_grid" and self.region is None:
            raise FieldRule("region", "required for electricity model 'regional_grid'")
        if (self.certified_amount is None) != (self.certified_unit is None):
            missing = "certified_unit" if self.certified_unit is None else "certified_amount"
            raise FieldRule(missing, "certified_amount and certified_unit go together")
        if self.certified_unit is not None:
            if self.model != "green_certificate":
                raise FieldRule("certified_amount", f"only a 'green_certificate' record has a certified amount, not {self.model!r}")
            require_dimension("certified_unit", self.certified_unit, "kWh")
        return self


class FactorActivity(ActivityBase):
    factor: ItemId
    amount: NonNegative
    unit: Unit


class Fuel(FactorActivity):
    kind: Literal["fuel"]


class Material(FactorActivity):
    kind: Literal["material"]


class Transport(ActivityBase):
    kind: Literal["transport"]
    mode: Token
    mass: NonNegative
    mass_unit: Unit
    distance: NonNegative
    distance_unit: Unit

    @model_validator(mode="after")
    def _rules(self) -> "Transport":
        require_dimension("mass_unit", self.mass_unit, "kg")
        require_dimension("distance_unit", self.distance_unit, "km")
        return self


class Direct(ActivityBase):
    kind: Literal["direct"]
    amount: NonNegative
    unit: Unit

    @model_validator(mode="after")
    def _rules(self) -> "Direct":
        require_dimension("unit", self.unit, "kgCO2e")
        return self


Activity = Annotated[Union[Electricity, Fuel, Material, Transport, Direct], Field(discriminator="kind")]


class FederatedInput(Record):
    supplier: OrgId
    product: ItemId
    quantity: NonNegative
    unit: Unit
    fallback_factor: ItemId | None = None
    fallback_stage: Stage = "raw_material"


class Declaration(Record):
    """The declarant's functional-unit data; which fields are required is the method profile's."""

    method: Literal[tuple(profiles.PROFILES)]  # type: ignore[valid-type]
    rated_energy_kwh: Positive | None = None
    cycle_count: Positive | None = None
    energy_per_cycle_fraction: Annotated[float, Field(gt=0, le=1)] | None = None
    cycle_test_report: str | None = None
    usable_energy_kwh: Positive | None = None
    full_equivalent_cycles_per_year: Positive | None = None
    service_years: Positive | None = None

    @model_validator(mode="after")
    def _fields_of_method(self) -> "Declaration":
        profile = profiles.get(self.method)
        for name in profile.lifetime_fields:
            if getattr(self, name) is None:
                raise FieldRule(name, f"required by method {self.method!r}")
        for name in sorted(profiles.ALL_DECLARATION_FIELDS - set(profile.declaration_fields)):
            if getattr(self, name) is not None:
                raise FieldRule(name, f"not a field of method {self.method!r} (its fields: {', '.join(profile.declaration_fields)})")
        return self

    @property
    def profile(self) -> profiles.MethodProfile:
        return profiles.get(self.method)

    def lifetime_energy_kwh(self) -> float:
        return self.profile.lifetime_energy_kwh(self)


class Product(Record):
    id: ItemId
    name: str | None = None
    unit: Unit
    stage: Stage
    declaration: Declaration | None = None
    activities: list[Activity] = Field(default_factory=list)
    inputs: list[FederatedInput] = Field(default_factory=list)
    note: str | None = None

    def activity_stage(self, index: int) -> str:
        return self.activities[index].stage or self.stage


class Organisation(Record):
    id: OrgId
    name: str | None = None
    country: str = "CN"

    @field_validator("country")
    @classmethod
    def _iso_country(cls, value: str) -> str:
        if len(value) != 2 or not value.isupper() or pycountry.countries.get(alpha_2=value) is None:
            raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
        return value


class NodeData(Record):
    schema_: Literal["tanji.node-data/1"] = Field(alias="schema")
    organisation: Organisation
    products: list[Product] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_products(self) -> "NodeData":
        seen: dict[str, int] = {}
        for i, p in enumerate(self.products):
            if p.id in seen:
                raise FieldRule(f"products[{i}].id", f"duplicate product id {p.id!r} (also products[{seen[p.id]}])")
            seen[p.id] = i
            for j, inp in enumerate(p.inputs):
                if inp.supplier == self.organisation.id and inp.product == p.id:
                    raise FieldRule(f"products[{i}].inputs[{j}]", f"product {p.id!r} names itself as its input")
        return self

    def product(self, product_id: str) -> Product:
        for p in self.products:
            if p.id == product_id:
                return p
        raise KeyError(product_id)

    def product_index(self, product_id: str) -> int:
        for i, p in enumerate(self.products):
            if p.id == product_id:
                return i
        raise KeyError(product_id)


