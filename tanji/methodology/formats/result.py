"""`tanji.result/1`: what a finished calculation releases (FORMATS.md §4).

Built in one place from a decrypted (or plaintext) total vector, so the key
holder and the plaintext reference produce the same document.
"""
from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any, Final, Literal, NoReturn

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tanji.errors import DataError
from tanji.methodology import profiles, slots
from tanji.methodology.formats.base import errors_from_validation
from tanji.methodology.jsonio import parse_json_bytes
from tanji.methodology.profiles import MethodProfile

RESULT_SCHEMA: Final = "tanji.result/1"


class FactorSetRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    sha256: str


class FallbackRef(BaseModel):
    """One supplier answered for by its buyer's fallback factor; every one in the chain is named,
    with its tier (1: a supplier of the requester itself; decision 0010)."""
    model_config = ConfigDict(extra="forbid")
    supplier: str
    product: str
    buyer: str
    tier: int | None = None


class Result(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    schema_: Literal["tanji.result/1"] = Field(default=RESULT_SCHEMA, alias="schema")
    calculation: str
    #: UTC, ISO 8601, when the result was assembled (by the key holder in a federated calculation)
    created: str
    product: str
    #: the target product's unit (`piece` for a pack); null only from a requester older than FORMATS 1.1
    declared_unit: str | None
    method: str
    method_version: str
    #: the target's declaration as the requester's node committed it (FORMATS 1.1 §4); null for a
    #: product footprint (and from a requester older than 1.1)
    declaration: dict[str, Any] | None
    factor_set: FactorSetRef
    #: relative precision the figures are rounded to; null for the unrounded plaintext reference
    precision: float | None
    total_kgco2e: float
    stages_kgco2e: dict[str, float]
    #: null for a product footprint (cradle to gate per declared unit, FORMATS 1.1 §2), as are the
    #: per-kWh figures: `is_product_footprint` tells the two result kinds apart
    lifetime_energy_kwh: float | None
    per_kwh_kgco2e: float | None
    stages_per_kwh_kgco2e: dict[str, float] | None
    primary_data_share: float | None
    dqr: float | None
    fallbacks: list[FallbackRef]
    warnings_count: int
    warnings: list[str]
    audit_bundle: str | None = None

    @property
    def is_product_footprint(self) -> bool:
        """A product footprint (no functional unit) rather than a declaration (per kWh of lifetime energy)."""
        return self.lifetime_energy_kwh is None

    @property
    def organisation(self) -> str:
        return self.product.partition("/")[0]

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2) + "\n"


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def round_to_multiple(x: float, quantum: float | None) -> float:
    """`x` rounded to a multiple of `quantum` (FORMATS §4); a negative result clamps to 0.

    No quantum (the unrounded plaintext reference), a zero or non-finite one: `x` unchanged but
    clamped. The multiple is written with a few digits below the quantum, so the released
    number reads as the multiple it is rather than as its binary expansion."""
    x = float(x)
    if quantum is None or not math.isfinite(x) or not math.isfinite(quantum) or quantum <= 0:
        return max(x, 0.0) if quantum is not None and math.isfinite(x) else x
    value = round(x / quantum) * quantum
    if value <= 0:
        return 0.0
    return round(value, max(0, -math.floor(math.log10(quantum))) + 3)


def released_lifetime(lifetime_energy_kwh: float, declaration_text: str) -> float | None:
    """The lifetime energy a request's product releases: None for a product footprint, which a request
    states as 0 kWh and no declaration (FORMATS 1.1 §2); a declaration target's is positive and finite.
    ValueError names what is wrong (the coordinator refuses such a request, the key holder withholds)."""
    value = float(lifetime_energy_kwh)
    if value == 0.0:
        if declaration_text:
            raise ValueError("a product footprint (0 kWh of lifetime energy) carries no declaration")
        return None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"lifetime energy {value!r} kWh is neither positive and finite nor 0 (a product footprint)")
    return value


def committed_declaration(text: str, method: str, lifetime_energy_kwh: float) -> dict[str, Any] | None:
    """The declaration a CALCULATION_REQUEST carries (JSON text, empty from older requesters and for a
    product footprint), checked against the request: the same method, and the lifetime energy the request
    divides by follows from it. ValueError names what is wrong."""
    if released_lifetime(lifetime_energy_kwh, text) is None or not text:
        return None
    try:
        doc = json.loads(text, parse_constant=_not_a_number)
    except ValueError as exc:
        raise ValueError(f"the declaration is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError("the declaration is not a JSON object")
    if doc.get("method") != method:
        raise ValueError(f"the declaration's method {doc.get('method')!r} is not the calculation's {method!r}")
    try:
        declared = profiles.get(method).lifetime_energy_kwh(doc)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"the declaration's functional unit cannot be computed: {exc!r}") from None
    if not math.isclose(declared, lifetime_energy_kwh, rel_tol=1e-12):
        raise ValueError(f"the declaration gives {declared!r} kWh of lifetime energy, "
                         f"the request {lifetime_energy_kwh!r}")
    return doc


def _not_a_number(token: str) -> NoReturn:
    raise ValueError(f"{token} is not a JSON number")


def build_result(*, calculation: str, product: str, profile: MethodProfile, factor_set: FactorSetRef,
                 total: np.ndarray, lifetime_energy_kwh: float | None, precision: float | None,
                 fallbacks: list[FallbackRef], warnings: list[str], declared_unit: str | None = None,
                 declaration: dict[str, Any] | None = None, created: str | None = None,
                 audit_bundle: str | None = None) -> Result:
    """Assemble the result from the aggregated slot vector of one product block.

    FORMATS §4: every figure of the block is rounded to a multiple of precision × total (per-kWh
    figures to precision × per-kWh total), so a stage that is zero in plaintext is released as 0;
    shares and DQR come from the unrounded sums, rounded to precision. `precision` None: the
    unrounded plaintext reference. `lifetime_energy_kwh` None: a product footprint, whose per-kWh
    figures are null."""
    unrounded_total = slots.total(total)
    q = None if precision is None else precision * unrounded_total
    per_kwh: float | None = None
    stages_per_kwh: dict[str, float] | None = None
    if lifetime_energy_kwh is not None:
        per_kwh = unrounded_total / lifetime_energy_kwh
        q_kwh = None if precision is None else precision * per_kwh
        stages_per_kwh = {name: round_to_multiple(total[slot] / lifetime_energy_kwh, q_kwh)
                          for name, slot in slots.STAGE_SLOT.items()}
        per_kwh = round_to_multiple(per_kwh, q_kwh)
    share = total[slots.PRIMARY] / unrounded_total if unrounded_total > 0 else None
    dqr = total[slots.DQR_WEIGHTED] / unrounded_total if unrounded_total > 0 else None
    return Result(
        calculation=calculation, created=created or utc_now(), product=product, declared_unit=declared_unit,
        method=profile.name, method_version=profile.version, declaration=declaration,
        factor_set=factor_set, precision=precision,
        total_kgco2e=round_to_multiple(unrounded_total, q),
        stages_kgco2e={name: round_to_multiple(total[slot], q) for name, slot in slots.STAGE_SLOT.items()},
        lifetime_energy_kwh=lifetime_energy_kwh,
        per_kwh_kgco2e=per_kwh, stages_per_kwh_kgco2e=stages_per_kwh,
        primary_data_share=None if share is None else round_to_multiple(share, precision),
        dqr=None if dqr is None else round_to_multiple(dqr, precision),
        fallbacks=fallbacks, warnings_count=int(round(float(total[slots.WARNINGS]))), warnings=warnings,
        audit_bundle=audit_bundle,
    )


def load_result(data: bytes, file: str) -> Result:
    """A `tanji.result/1` document, strictly parsed (DataError naming the file and field)."""
    doc = parse_json_bytes(data, file)
    if not isinstance(doc, dict) or doc.get("schema") != RESULT_SCHEMA:
        got = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise DataError(file, "schema", f"not a {RESULT_SCHEMA} document (schema {got!r})")
    try:
        return Result.model_validate(doc)
    except ValidationError as exc:
        raise errors_from_validation(exc, file).errors[0] from None
