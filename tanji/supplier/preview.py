"""A supplier's own part, computed locally: own(p) per product and what moves it.

Nothing here talks to anyone: it is `tanji.methodology.footprint.own` on the organisation's
own records, split per activity so the supplier sees where its emissions come from, which
record raised each warning, what to supply to clear it and the figure once supplied. Inputs
from suppliers are shown as quantities with their fallback factors: their real footprints
are, by design, unknown here.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from tanji.errors import TanjiError
from tanji.methodology import profiles, slots, units
from tanji.methodology.footprint import RecordError, fallback, own
from tanji.methodology.formats.nodedata import Electricity, NodeData, Product
from tanji.methodology.loader import LoadedFactorSet
from tanji.methodology.profiles import MethodProfile

#: the method a preview uses unless told: the default of a product footprint (FORMATS §2)
DEFAULT_METHOD = "miit-2025"


@dataclass
class WarningLine:
    record: str
    message: str
    #: what the supplier can supply to clear it (None: nothing clears it under this method; `note` says why)
    supply: str | None
    #: the product's own emissions once supplied (None: no figure moves, or the factor set cannot tell)
    own_if_supplied: float | None = None
    note: str | None = None


@dataclass
class ActivityLine:
    record: str
    kind: str
    what: str
    stage: str
    data_source: str
    kgco2e: float


@dataclass
class InputLine:
    record: str
    supplier: str
    product: str
    quantity: float
    unit: str
    fallback_factor: str | None
    fallback_kgco2e: float | None
    fallback_stage: str
    hint: str | None = None


@dataclass
class ProductPreview:
    id: str
    name: str | None
    unit: str
    own_kgco2e: float
    stages_kgco2e: dict[str, float]
    kinds_kgco2e: dict[str, float]
    primary_data_share: float | None
    dqr: float | None
    warnings: list[WarningLine] = field(default_factory=list)
    activities: list[ActivityLine] = field(default_factory=list)
    inputs: list[InputLine] = field(default_factory=list)


@dataclass
class Preview:
    organisation: str
    country: str
    method: str
    method_version: str
    factor_set: str
    file: str
    products: list[ProductPreview]

    def to_dict(self) -> dict[str, Any]:
        return {"schema": "tanji.supplier-preview/1", **asdict(self)}


def _total(vec: Any) -> float:
    return slots.total(vec)


def _what(act: Any) -> str:
    if isinstance(act, Electricity):
        extra = act.source or act.region or ""
        return f"{act.amount:g} {act.unit} {act.model}" + (f" ({extra})" if extra else "")
    if act.kind in ("fuel", "material"):
        return f"{act.amount:g} {act.unit} {act.factor}"
    if act.kind == "transport":
        return f"{act.mass:g} {act.mass_unit} × {act.distance:g} {act.distance_unit} by {act.mode}"
    return f"{act.amount:g} {act.unit} direct"


def _remedy(act: Electricity, profile: MethodProfile) -> tuple[str | None, Electricity | None]:
    """What clears an electricity record's warning, and the record as it would then read
    (None, None: no evidence clears it under this method)."""
    if act.model not in profile.accepted_electricity:
        return None, None
    if act.model == "direct":
        return ("evidence (the direct-supply contract or meter reference)",
                act.model_copy(update={"evidence": act.evidence or "(supplied)"}))
    needs = []
    if not act.evidence:
        needs.append("evidence (the certificate batch or cancellation number)")
    if act.certified_amount is None or act.certified_unit is None:
        needs.append(f"certified_amount and certified_unit (certificates for the {act.amount:g} {act.unit})")
    else:
        covered = units.convert(act.certified_amount, act.certified_unit, act.unit)
        if covered < act.amount:
            needs.append(f"certified_amount {act.amount:g} {act.unit} (certificates for the "
                         f"{act.amount - covered:.6g} {act.unit} not yet covered)")
    full = act.model_copy(update={"evidence": act.evidence or "(supplied)", "certified_amount": act.amount,
                                  "certified_unit": act.unit})
    return "; ".join(needs), full


def _product_preview(product: Product, nd: NodeData, by_id: dict[str, Any], profile: MethodProfile) -> ProductPreview:
    org, country = nd.organisation.id, nd.organisation.country
    whole = own(product, org, country, by_id, profile)
    vec = whole.vector
    total = _total(vec)
    out = ProductPreview(
        product.id, product.name, product.unit, total,
        {stage: float(vec[slot]) for stage, slot in slots.STAGE_SLOT.items()},
        {}, float(vec[slots.PRIMARY]) / total if total > 0 else None,
        float(vec[slots.DQR_WEIGHTED]) / total if total > 0 else None)
    label = f"{org}/{product.id}"
    for i, act in enumerate(product.activities):
        alone = own(product.model_copy(update={"activities": [act]}), org, country, by_id, profile)
        kg = _total(alone.vector)
        record = f"activities[{i}]"
        out.kinds_kgco2e[act.kind] = out.kinds_kgco2e.get(act.kind, 0.0) + kg
        out.activities.append(ActivityLine(record, act.kind, _what(act), act.stage or product.stage,
                                           act.data_source, kg))
        message = next((w for w in whole.warnings if w.startswith(f"{label} {record}:")), None)
        if message is None or not isinstance(act, Electricity):
            continue
        supply, cleared = _remedy(act, profile)
        line = WarningLine(record, message, supply)
        if supply is None:
            accepted = " and ".join(sorted(profile.accepted_electricity))
            line.note = (f"no evidence clears it under {profile.name}, which counts only {accepted} electricity "
                         "as declared")
        if cleared is not None:
            try:
                after = own(product.model_copy(update={"activities": [cleared]}), org, country, by_id, profile)
                line.own_if_supplied = total - kg + _total(after.vector)
            except RecordError as exc:
                line.note = f"the factor set cannot tell the figure once supplied: {exc.message}"
        out.warnings.append(line)
    for j, inp in enumerate(product.inputs):
        line_in = InputLine(f"inputs[{j}]", inp.supplier, inp.product, inp.quantity, inp.unit, inp.fallback_factor,
                            None, inp.fallback_stage)
        if inp.supplier == org:
            line_in.hint = "this organisation's own product: computed on this node"
        elif inp.fallback_factor is None:
            line_in.hint = ("no fallback_factor: if this supplier is declared dead, a calculation reaching this "
                            "product cannot finish")
        else:
            line_in.fallback_kgco2e = _total(fallback(inp, j, label, by_id).vector)
        out.inputs.append(line_in)
    return out


def method_for(nd: NodeData, method: str | None) -> str:
    """The method a preview uses: the one asked for, else the one the file's declarations name (a pack
    maker's), else the default of a product footprint."""
    if method is not None:
        return method
    declared = {p.declaration.method for p in nd.products if p.declaration is not None}
    return declared.pop() if len(declared) == 1 else DEFAULT_METHOD


def preview(nd: NodeData, factors: LoadedFactorSet, method: str | None = None, file: str = "") -> Preview:
    """own(p) of every product of `nd` under `method` (see `method_for`); the data is valid against `factors`."""
    try:
        profile = profiles.get(method_for(nd, method))
    except ValueError as exc:
        raise TanjiError(str(exc)) from None
    by_id = factors.by_id
    return Preview(nd.organisation.id, nd.organisation.country, profile.name, profile.version, factors.model.id,
                   file, [_product_preview(p, nd, by_id, profile) for p in nd.products])
