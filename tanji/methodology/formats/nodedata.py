"""`tanji.node-data/1`: everything one organisation knows about the products it sells.

This file never leaves the node. The models enforce every rule of FORMATS.md §2
that can be checked on the file alone; rules against the factor set are in
`tanji.methodology.loader` (`check_against_factors`, `check_national_average`).
"""
from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

import pycountry
from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from tanji.methodology import profiles
from tanji.methodology.formats.base import (
    DQR,
    FieldRule,
    ItemId,
    NonNegative,
    OrgId,
    Positive,
    Record,
    Stage,
    Unit,
    require_dimension,
)

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
    def _rules(self) -> Electricity:
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
                raise FieldRule("certified_amount",
                                f"only a 'green_certificate' record has a certified amount, not {self.model!r}")
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
    #: a purchased material valued with a background factor is secondary data (FORMATS 1.1 §2)
    data_source: Literal["primary", "secondary"] = "secondary"


class Transport(ActivityBase):
    kind: Literal["transport"]
    mode: Token
    mass: NonNegative
    mass_unit: Unit
    distance: NonNegative
    distance_unit: Unit

    @model_validator(mode="after")
    def _rules(self) -> Transport:
        require_dimension("mass_unit", self.mass_unit, "kg")
        require_dimension("distance_unit", self.distance_unit, "km")
        return self


class Direct(ActivityBase):
    kind: Literal["direct"]
    amount: NonNegative
    unit: Unit

    @model_validator(mode="after")
    def _rules(self) -> Direct:
        require_dimension("unit", self.unit, "kgCO2e")
        return self


Activity = Annotated[Electricity | Fuel | Material | Transport | Direct, Field(discriminator="kind")]


class FederatedInput(Record):
    supplier: OrgId
    product: ItemId
    quantity: NonNegative
    unit: Unit
    fallback_factor: ItemId | None = None
    fallback_stage: Stage = "raw_material"


def _iso_date(value: str) -> str:
    try:
        if not ISO_DATE_RE.match(value):
            raise ValueError
        date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date (YYYY-MM-DD)") from None
    return value


def _whole_number(value: Any) -> Any:
    """A JSON number that is a whole number (2500 or 2500.0) becomes an int; anything else stays for the check."""
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        if abs(value) < 2 ** 53:
            return int(value)
    return value


def _iso_country(value: str) -> str:
    if len(value) != 2 or not value.isupper() or pycountry.countries.get(alpha_2=value) is None:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return value


ISO_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
IsoDate = Annotated[str, AfterValidator(_iso_date)]
Country = Annotated[str, AfterValidator(_iso_country)]
#: free text that says something (not empty, not only blanks)
Text = Annotated[str, Field(min_length=1, pattern=r"\S")]
WholeCount = Annotated[int, BeforeValidator(_whole_number), Field(gt=0)]


class Plant(Record):
    name: Text
    country: Country


class ReferencePeriod(Record):
    from_: IsoDate = Field(alias="from")
    to: IsoDate

    @model_validator(mode="after")
    def _ordered(self) -> ReferencePeriod:
        if self.from_ > self.to:  # ISO dates order as text
            raise FieldRule("to", f"the reference period ends ({self.to}) before it begins ({self.from_})")
        return self


class Declaration(Record):
    """The declarant's data (FORMATS.md §2): what the result echoes and the method's functional-unit
    inputs; which method fields are required is the profile's."""

    method: Literal[tuple(profiles.PROFILES)]  # type: ignore[valid-type]
    model: Text
    chemistry: Text
    plant: Plant
    reference_period: ReferencePeriod
    mass_kg: Positive | None = None
    # miit-2025
    rated_energy_kwh: Positive | None = None
    cycle_count: WholeCount | None = None
    energy_per_cycle_fraction: Annotated[float, Field(gt=0, le=1)] | None = None
    cycle_test_report: Text | None = None
    # eu-2023-1542
    usable_energy_kwh: Positive | None = None
    vehicle_category: Literal[profiles.EU_VEHICLE_CATEGORIES] | None = None  # type: ignore[valid-type]
    warranty_years: Positive | None = None
    full_equivalent_cycles_per_year: Positive | None = None
    cycles_justification: Text | None = None

    @model_validator(mode="before")
    @classmethod
    def _renamed_in_1_1(cls, data: Any) -> Any:
        if isinstance(data, dict) and "service_years" in data:
            raise FieldRule("service_years", "unknown field since FORMATS 1.1: the EU functional unit follows "
                                             "'vehicle_category' and 'warranty_years'")
        return data

    @model_validator(mode="after")
    def _fields_of_method(self) -> Declaration:
        profile = profiles.get(self.method)
        for name in profile.required_fields:
            if getattr(self, name) is None:
                raise FieldRule(name, f"required by method {self.method!r}")
        for name in sorted(profiles.ALL_DECLARATION_FIELDS - set(profile.declaration_fields)):
            if getattr(self, name) is not None:
                fields = ", ".join(profile.declaration_fields)
                raise FieldRule(name, f"not a field of method {self.method!r} (its fields: {fields})")
        if self.vehicle_category == "other":
            for name in ("full_equivalent_cycles_per_year", "cycles_justification"):
                if getattr(self, name) is None:
                    raise FieldRule(name, "required for vehicle_category 'other'")
        elif self.vehicle_category is not None:
            fixed = profiles.EU_CYCLES_PER_YEAR[self.vehicle_category]
            for name in ("full_equivalent_cycles_per_year", "cycles_justification"):
                if getattr(self, name) is not None:
                    raise FieldRule(name, f"only for vehicle_category 'other': category {self.vehicle_category!r} "
                                          f"has {fixed:g} full-equivalent cycles per year")
        try:
            profile.lifetime_energy_kwh(self.values())
        except (ValueError, OverflowError) as exc:
            raise FieldRule(profile.required_fields[0], f"the functional unit cannot be computed: {exc}") from None
        return self

    @property
    def profile(self) -> profiles.MethodProfile:
        return profiles.get(self.method)

    def values(self) -> dict[str, Any]:
        """Field name -> value, as the file states them (no `x-` fields)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")

    def lifetime_energy_kwh(self) -> float:
        return self.profile.lifetime_energy_kwh(self.values())

    def released(self) -> dict[str, Any]:
        """The declaration as the result carries it: method, model, chemistry, plant, reference period,
        mass and the functional-unit inputs — not the evidence texts, which stay on the node."""
        values = self.values()
        return {name: values[name] for name in self.profile.released_fields if name in values}


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
    country: Country = "CN"


class NodeData(Record):
    schema_: Literal["tanji.node-data/1"] = Field(alias="schema")
    organisation: Organisation
    products: list[Product] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_products(self) -> NodeData:
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


