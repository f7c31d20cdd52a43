"""The local footprint own(p): a product's own activities × background factors, as a slot vector.

This runs on the node that owns the data (and in the plaintext reference, which
is the oracle the encrypted result is checked against). Every electricity
fallback is one recorded warning naming the activity — never silent, never an error.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tanji.methodology import slots, units
from tanji.methodology.formats.factorset import Factor
from tanji.methodology.formats.nodedata import (
    PRIMARY_DEFAULT_DQR,
    SECONDARY_DIRECT_DQR,
    Direct,
    Electricity,
    FactorActivity,
    FederatedInput,
    Product,
    Transport,
)
from tanji.methodology.profiles import MethodProfile


class RecordError(ValueError):
    """A record cannot be computed with this factor set; `path` is relative to the product."""

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


class MissingNationalAverage(RecordError):
    """The organisation's country has no national average in the factor set (FORMATS 1.1 §2)."""


#: China's national average may be written without the country (FORMATS.md §2)
HOME_COUNTRY = "CN"
NATIONAL = "electricity.grid.national"


def national_factor_id(country: str) -> str:
    """The factor id of `country`'s national average grid electricity."""
    return f"{NATIONAL}.{country}"


def national_average_id(country: str, factors: dict[str, Factor]) -> str | None:
    """The national average an organisation in `country` uses, or None where the factor set lacks it:
    its own country's, for CN that id where the set has it, else `electricity.grid.national` (China's)."""
    specific = national_factor_id(country)
    if specific in factors:
        return specific
    if country == HOME_COUNTRY and NATIONAL in factors:
        return NATIONAL
    return None


@dataclass
class OwnFootprint:
    """own(p) per declared unit of p: slots 0–5 scale with w, slot 6 is the warning count."""

    vector: np.ndarray
    warnings: list[str] = field(default_factory=list)
    #: factor ids cited, for the factor providers' citation counts
    cited: set[str] = field(default_factory=set)


def _fmt(x: float) -> str:
    return f"{x:.6g}"


class _Context:
    """Resolves factor ids for one product under one method profile."""

    def __init__(self, factors: dict[str, Factor], profile: MethodProfile, country: str, label: str):
        self.factors = factors
        self.profile = profile
        self.country = country
        self.label = label

    def factor(self, factor_id: str, path: str) -> Factor:
        try:
            return self.factors[factor_id]
        except KeyError:
            raise RecordError(path, f"unknown factor id {factor_id!r} (not in the factor set)") from None

    def national_id(self, path: str) -> str:
        """The organisation's own country's national average; never China's for a plant elsewhere."""
        found = national_average_id(self.country, self.factors)
        if found is None:
            missing = (f"{national_factor_id(self.country)!r} is not" if self.country != HOME_COUNTRY
                       else f"neither {national_factor_id(HOME_COUNTRY)!r} nor {NATIONAL!r} is")
            raise MissingNationalAverage(path, f"no national average electricity factor for {self.country}: "
                                               f"{missing} in the factor set")
        return found

    def fallback_grid(self, act: Electricity, path: str) -> tuple[str, str]:
        """(factor id, words) of the grid an electricity fallback uses under this profile."""
        if self.profile.regional_fallback and act.region is not None:
            return f"electricity.grid.{act.region}", "regional grid used"
        return self.national_id(path), "national average used"


def electricity_parts(act: Electricity, ctx: _Context, where: str,
                      path: str = "model") -> tuple[list[tuple[float, str]], str | None]:
    """Split an electricity record into (amount in act.unit, factor id) parts, plus its warning.

    `path` names the record's field in a refusal (a national average the factor set lacks)."""
    amount = act.amount
    if act.model not in ctx.profile.accepted_electricity:
        return [(amount, ctx.national_id(path))], (
            f"{where}: electricity model {act.model!r} not accepted by method {ctx.profile.name!r}, "
            "national average used")
    if act.model == "regional_grid":
        return [(amount, f"electricity.grid.{act.region}")], None
    if act.model == "national_average":
        return [(amount, ctx.national_id(path))], None
    if act.model == "direct":
        if act.evidence:
            return [(amount, f"electricity.direct.{act.source}")], None
        grid_id, grid_words = ctx.fallback_grid(act, path)
        return [(amount, grid_id)], f"{where}: direct connection without evidence, {grid_words}"
    # green_certificate
    # the record model admits a certified amount only with its unit
    if not act.evidence or act.certified_amount is None or act.certified_unit is None:
        missing = "evidence" if not act.evidence else "certified amount"
        grid_id, grid_words = ctx.fallback_grid(act, path)
        return [(amount, grid_id)], f"{where}: green certificate without {missing}, {grid_words}"
    certified = min(units.convert(act.certified_amount, act.certified_unit, act.unit), amount)
    parts = [(certified, f"electricity.certified.{act.source}")]
    above = amount - certified
    if above > 0:
        grid_id, grid_words = ctx.fallback_grid(act, path)
        parts.append((above, grid_id))
        return parts, f"{where}: {_fmt(above)} {act.unit} above the certified amount, {grid_words}"
    return parts, None


def _convert_to_factor(amount: float, unit: str, fac: Factor, path: str) -> float:
    try:
        return units.convert(amount, unit, fac.per_unit)
    except units.UnitMismatch as exc:
        raise RecordError(path, f"factor {fac.id!r} is per {fac.per_unit!r}: {exc}") from None


def own(product: Product, org_id: str, country: str, factors: dict[str, Factor],
        profile: MethodProfile) -> OwnFootprint:
    """Compute own(p) for one declared unit of `product` under `profile`."""
    ctx = _Context(factors, profile, country, f"{org_id}/{product.id}")
    out = OwnFootprint(vector=slots.zeros())
    vec = out.vector
    for i, act in enumerate(product.activities):
        path = f"activities[{i}]"
        # (emissions, dqr) parts of this activity
        parts: list[tuple[float, float]] = []
        #: share of the record's emissions that is primary data, where its factor states one
        primary_share: float | None = None
        if isinstance(act, Electricity):
            split, warning = electricity_parts(act, ctx, f"{ctx.label} {path}", f"{path}.model")
            if warning:
                out.warnings.append(warning)
            for amount, fid in split:
                fac = ctx.factor(fid, f"{path}.model")
                parts.append((_convert_to_factor(amount, act.unit, fac, f"{path}.unit") * fac.value, fac.dqr))
                out.cited.add(fid)
        elif isinstance(act, FactorActivity):
            fac = ctx.factor(act.factor, f"{path}.factor")
            parts.append((_convert_to_factor(act.amount, act.unit, fac, f"{path}.unit") * fac.value, fac.dqr))
            out.cited.add(fac.id)
            if fac.primary_data_share is not None and "data_source" not in act.model_fields_set:
                primary_share = fac.primary_data_share  # a supplier's footprint: its own share (decision 0013)
        elif isinstance(act, Transport):
            fac = ctx.factor(f"transport.{act.mode}", f"{path}.mode")
            tkm = units.convert(act.mass, act.mass_unit, "t") * units.convert(act.distance, act.distance_unit, "km")
            parts.append((_convert_to_factor(tkm, "tkm", fac, f"{path}.mode") * fac.value, fac.dqr))
            out.cited.add(fac.id)
        elif isinstance(act, Direct):
            parts.append((units.convert(act.amount, act.unit, units.EMISSION_UNIT), SECONDARY_DIRECT_DQR))
        else:  # pragma: no cover - the models admit no other kind
            raise RecordError(path, f"unknown activity kind {act!r}")
        primary = act.data_source == "primary"
        stage_slot = slots.STAGE_SLOT[act.stage or product.stage]
        for emissions, factor_dqr in parts:
            if primary_share is not None:  # the supplier's DQR covers its whole footprint
                dqr = act.dqr if act.dqr is not None else factor_dqr
                vec[slots.PRIMARY] += emissions * primary_share
            else:
                dqr = act.dqr if act.dqr is not None else (PRIMARY_DEFAULT_DQR if primary else factor_dqr)
                if primary:
                    vec[slots.PRIMARY] += emissions
            vec[stage_slot] += emissions
            vec[slots.DQR_WEIGHTED] += emissions * dqr
    vec[slots.WARNINGS] = len(out.warnings)
    return out


def fallback(inp: FederatedInput, index: int, buyer: str, factors: dict[str, Factor]) -> OwnFootprint:
    """The buyer's stand-in for a dead supplier: quantity × fallback_factor, one warning of the buyer.

    Per declared unit of the buyer's product; secondary data with the factor's dqr,
    in `fallback_stage`.
    """
    path = f"inputs[{index}]"
    if inp.fallback_factor is None:
        raise RecordError(path, f"supplier {inp.supplier!r} is dead and input has no fallback_factor")
    fac = factors.get(inp.fallback_factor)
    if fac is None:
        raise RecordError(f"{path}.fallback_factor",
                          f"unknown factor id {inp.fallback_factor!r} (not in the factor set)")
    emissions = _convert_to_factor(inp.quantity, inp.unit, fac, f"{path}.unit") * fac.value
    out = OwnFootprint(vector=slots.zeros(), cited={fac.id})
    out.vector[slots.STAGE_SLOT[inp.fallback_stage]] = emissions
    out.vector[slots.DQR_WEIGHTED] = emissions * fac.dqr
    out.vector[slots.WARNINGS] = 1
    out.warnings.append(
        f"{buyer} {path}: supplier {inp.supplier}/{inp.product} declared dead, fallback factor {fac.id} used")
    return out
