"""`tanji.result/1`: what a finished calculation releases (FORMATS.md §4).

Built in one place from a decrypted (or plaintext) total vector, so the key
holder and the plaintext reference produce the same document.
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tanji.methodology import slots
from tanji.methodology.profiles import MethodProfile

RESULT_SCHEMA = "tanji.result/1"


class FactorSetRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    sha256: str


class FallbackRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    supplier: str
    product: str
    buyer: str


class Result(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    schema_: Literal["tanji.result/1"] = Field(RESULT_SCHEMA, alias="schema")
    calculation: str
    product: str
    method: str
    method_version: str
    factor_set: FactorSetRef
    #: relative precision the figures are rounded to; null for the unrounded plaintext reference
    precision: float | None
    total_kgco2e: float
    stages_kgco2e: dict[str, float]
    lifetime_energy_kwh: float
    per_kwh_kgco2e: float
    stages_per_kwh_kgco2e: dict[str, float]
    primary_data_share: float | None
    dqr: float | None
    fallbacks: list[FallbackRef]
    warnings_count: int
    warnings: list[str]
    audit_bundle: str | None = None

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2) + "\n"


def round_relative(x: float, precision: float | None) -> float:
    """Round to the significant digits `precision` supports — never finer; tiny negatives clamp to 0."""
    if precision is None:
        return x
    if x < 0 and abs(x) <= precision * 10:
        return 0.0
    if x == 0 or not math.isfinite(x):
        return x
    digits = max(1, math.floor(-math.log10(precision)))
    return float(f"{x:.{digits}g}")


def build_result(*, calculation: str, product: str, profile: MethodProfile, factor_set: FactorSetRef,
                 total: np.ndarray, lifetime_energy_kwh: float, precision: float | None,
                 fallbacks: list[FallbackRef], warnings: list[str], audit_bundle: str | None = None) -> Result:
    """Assemble the result from the aggregated slot vector of one product block."""
    r = lambda x: round_relative(float(x), precision)  # noqa: E731
    stages = {name: r(total[slot]) for name, slot in slots.STAGE_SLOT.items()}
    grand = r(slots.total(total))
    unrounded_total = slots.total(total)
    share = r(total[slots.PRIMARY] / unrounded_total) if unrounded_total > 0 else None
    dqr = r(total[slots.DQR_WEIGHTED] / unrounded_total) if unrounded_total > 0 else None
    return Result(
        calculation=calculation, product=product, method=profile.name, method_version=profile.version,
        factor_set=factor_set, precision=precision,
        total_kgco2e=grand, stages_kgco2e=stages, lifetime_energy_kwh=lifetime_energy_kwh,
        per_kwh_kgco2e=r(unrounded_total / lifetime_energy_kwh),
        stages_per_kwh_kgco2e={name: r(total[slot] / lifetime_energy_kwh) for name, slot in slots.STAGE_SLOT.items()},
        primary_data_share=share, dqr=dqr, fallbacks=fallbacks,
        warnings_count=int(round(float(total[slots.WARNINGS]))), warnings=warnings, audit_bundle=audit_bundle,
    )
