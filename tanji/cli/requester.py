"""The requester's side of a calculation (`tanji calc start|status|result`, and the demo).

The requester signs its CALCULATION_REQUEST with its node's envelope key; the
coordinator answers with status and, at the end, the key holder's signed result.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tanji.errors import CalculationError, TanjiError
from tanji.methodology.footprint import own
from tanji.methodology.formats.nodedata import Product
from tanji.methodology.graph import target_profile
from tanji.protocol import commitment, limits
from tanji.protocol import envelope as env
from tanji.protocol.federation import Federation
from tanji.protocol.identity import new_calculation_id
from tanji.protocol.signing import SigningKey
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import requester_pb2 as rpb
from tanji.v1 import requester_pb2_grpc as rgrpc

MT = epb.MessageType
S = rpb.CalculationState
FINAL_STATES = (S.CALCULATION_STATE_DONE, S.CALCULATION_STATE_FAILED, S.CALCULATION_STATE_WITHHELD)


class CalculationFailed(TanjiError):
    pass


@dataclass
class CalculationSpec:
    requester: str
    product: str
    method: str
    method_version: str
    #: the target's lifetime energy under its declaration; 0 for a product footprint (FORMATS 1.1 §2)
    lifetime_energy_kwh: float
    depth_bound: int
    factor_set_id: str
    factor_set_sha256: str
    key_holder: str
    deadline_seconds: float
    #: the requester's state folder: where the salt of the quantity commitment is kept
    state: Path | None = None
    #: the target product's record (its inputs are the committed quantities)
    target: Product | None = None
    citation_slots: int = 0            #: factors in the factor set (0: no citation counts)
    factor_provider: str = ""
    declared_unit: str = ""            #: the target product's unit (FORMATS 1.1 §4)
    #: the target's declaration as the result releases it, canonical JSON (FORMATS 1.1 §4)
    declaration_json: str = ""
    #: a batch (DESIGN §6): one spec per target, this one first; empty for one product
    batch: list[CalculationSpec] = field(default_factory=list)
    #: the requester's own warnings for this target, in bytes: its released document lists them
    warning_bytes: int = 0

    @property
    def targets(self) -> list[CalculationSpec]:
        return self.batch or [self]


def spec_for(org: str, node_data, factors, product: str, *, state: Path, depth_bound: int, key_holder: str,
             deadline_seconds: float, method: str | None = None) -> CalculationSpec:
    """A calculation of `org`/`product` from the requester's own imported data and factor set: its
    declaration, or, for a product without one, its product footprint under `method` (FORMATS 1.1 §2:
    0 kWh of lifetime energy and no declaration in the request)."""
    target = node_data.product(product)
    try:
        profile = target_profile(target, f"{org}/{product}", method)
    except CalculationError as exc:
        raise TanjiError(str(exc)) from None
    declaration = target.declaration
    warned = own(target, org, node_data.organisation.country, factors.by_id, profile).warnings
    return CalculationSpec(
        requester=org, product=product, method=profile.name, method_version=profile.version,
        lifetime_energy_kwh=0.0 if declaration is None else declaration.lifetime_energy_kwh(),
        depth_bound=depth_bound,
        factor_set_id=factors.model.id, factor_set_sha256=factors.sha256, key_holder=key_holder,
        deadline_seconds=deadline_seconds, state=state, target=target,
        citation_slots=len(factors.model.factors), factor_provider=factors.model.provider,
        declared_unit=target.unit,
        declaration_json="" if declaration is None else json.dumps(
            declaration.released(), separators=(",", ":"), ensure_ascii=False),
        warning_bytes=sum(len(w.encode()) + 8 for w in warned))


def batch_spec(org: str, node_data, factors, products: list[str], **kwargs) -> CalculationSpec:
    """One calculation of several of `org`'s products (DESIGN §6: one slot block each). One method
    profile serves the whole batch: products declared under different methods are refused by name."""
    if not products:
        raise TanjiError("a calculation needs at least one product")
    if len(set(products)) != len(products):
        raise TanjiError(f"a product is named twice: {', '.join(products)}")
    specs = [spec_for(org, node_data, factors, p, **kwargs) for p in products]
    methods = {s.method for s in specs}
    if len(methods) > 1:
        named = ", ".join(f"{s.product} ({s.method})" for s in specs)
        raise TanjiError(f"one calculation has one method; these products are declared under several: {named} "
                         "(give --method, or calculate them separately)")
    if len(specs) == 1:
        return specs[0]
    return replace(specs[0], batch=specs)


def most_products(spec: CalculationSpec) -> int:
    """How many products one calculation can carry at this depth bound: the widest preset serving
    it, 8 slots per product beside one citation slot per factor (DESIGN §6)."""
    from tanji.he.presets import widest_for
    from tanji.methodology import slots

    return slots.max_blocks(widest_for(spec.depth_bound).slots, spec.citation_slots)


#: what one product's released document takes beside its declaration and the requester's warnings
#: (figures, names, method, factor set, precision; measured about 1.1 kB on the example), with room
RESULT_BASE_BYTES = 1536
#: room per federated input of a target: a fallback it may be answered with is named in the result
PER_INPUT_BYTES = 320
#: the signed envelope's header and signature beside the RESULT payload, with room
ENVELOPE_MARGIN_BYTES = 16 * 1024


def result_bytes(target: CalculationSpec) -> int:
    """A generous estimate of one product's released document: the key holder signs them all in one
    RESULT, which (like the request naming them) must fit one envelope (limits.MAX_ENVELOPE_BYTES)."""
    inputs = len(target.target.inputs) if target.target is not None else 0
    return (RESULT_BASE_BYTES + 2 * len(target.declaration_json.encode()) + target.warning_bytes
            + PER_INPUT_BYTES * inputs)


def split(spec: CalculationSpec, most: int | None = None) -> list[CalculationSpec]:
    """A batch cut into the fewest calculations, in order, each within what the widest preset for its
    depth bound holds (or `most` products) and within one envelope for its results (the first
    document twice: `result_json` repeats it)."""
    most = most_products(spec) if most is None else most
    if most < 1:
        raise TanjiError(f"no preset for depth {spec.depth_bound} holds one product beside "
                         f"{spec.citation_slots} citation slots")
    budget = limits.MAX_ENVELOPE_BYTES - ENVELOPE_MARGIN_BYTES
    chunks: list[list[CalculationSpec]] = []
    used = 0
    for t in spec.targets:
        size = result_bytes(t)
        if chunks and len(chunks[-1]) < most and used + size <= budget:
            chunks[-1].append(t)
            used += size
        else:
            chunks.append([t])
            used = 2 * size
    return [replace(chunk[0], batch=chunk if len(chunk) > 1 else []) for chunk in chunks]


def start(channel, key: SigningKey, spec: CalculationSpec) -> str:
    cid = new_calculation_id()  # the one id grammar (tanji.protocol.identity)
    body = env.new_body(MT.MESSAGE_TYPE_CALCULATION_REQUEST, calculation_id=cid, sender=spec.requester,
                        receiver="coordinator")
    body.factor_set_hash = bytes.fromhex(spec.factor_set_sha256)
    body.method_profile.name, body.method_profile.version = spec.method, spec.method_version
    req = body.calculation_request
    req.target_organisation = spec.requester
    for t in spec.targets:
        req.products.add(product_id=t.product, lifetime_energy_kwh=t.lifetime_energy_kwh,
                         declared_unit=t.declared_unit, declaration_json=t.declaration_json)
    req.depth_bound, req.batch_size = spec.depth_bound, len(spec.targets)
    req.deadline.FromDatetime(datetime.now(UTC) + timedelta(seconds=spec.deadline_seconds))
    req.key_holder = spec.key_holder
    req.factor_set_id = spec.factor_set_id
    req.min_attestations = 1
    req.citation_slots, req.factor_provider = spec.citation_slots, spec.factor_provider
    if spec.state is not None and all(t.target is not None for t in spec.targets):
        kept = commitment.new([t.target for t in spec.targets if t.target is not None])
        commitment.save(spec.state, cid, kept)  # before the request leaves: our node checks against it
        req.quantity_commitment = kept.commitment
    resp = rgrpc.RequesterServiceStub(channel).StartCalculation(
        rpb.StartCalculationRequest(calculation_request=env.seal(body, key)), timeout=limits.RPC_TIMEOUT_SECONDS)
    if resp.outcome.status != cpb.PUSH_STATUS_ACCEPTED:
        code = cpb.RefusalCode.Name(resp.outcome.code)
        raise CalculationFailed(f"calculation refused: {code}: {resp.outcome.message}")
    return cid


def status(channel, party: str, cid: str) -> rpb.GetStatusResponse:
    return rgrpc.RequesterServiceStub(channel).GetStatus(rpb.GetStatusRequest(party_id=party, calculation_id=cid),
                                                         timeout=limits.RPC_TIMEOUT_SECONDS)


def result(channel, party: str, cid: str, federation: Federation) -> bytes:
    """The released tanji.result/1 bytes (a batch: its first product's), after checking the key
    holder's signature."""
    return results(channel, party, cid, federation)[0]


def results(channel, party: str, cid: str, federation: Federation) -> list[bytes]:
    """Every released tanji.result/1 document, one per product of the calculation, in its order."""
    resp = rgrpc.RequesterServiceStub(channel).GetResult(rpb.GetResultRequest(party_id=party, calculation_id=cid),
                                                         timeout=limits.RPC_TIMEOUT_SECONDS)
    return checked_results(resp, federation, cid)


def checked_result(resp: rpb.GetResultResponse, federation: Federation, cid: str) -> bytes:
    """The result bytes of `resp` (a batch: its first product's)."""
    return checked_results(resp, federation, cid)[0]


def checked_results(resp: rpb.GetResultResponse, federation: Federation, cid: str) -> list[bytes]:
    """The result documents of `resp`, signed by the key holder the calculation's own request names:
    one per product the request names, each naming its product in the request's order."""
    if not resp.result.body:
        raise CalculationFailed(f"no result yet (state {S.Name(resp.state)})")
    opened = env.open_envelope(resp.result, federation.key_of)
    if opened.body.sender not in federation.key_holders():
        raise CalculationFailed(f"result signed by {opened.body.sender!r}, not a listed key holder")
    named = pinned_key_holder(resp.calculation_request, federation, cid)
    if opened.body.sender != named or opened.body.calculation_id != cid:
        raise CalculationFailed(f"result of {opened.body.calculation_id} signed by {opened.body.sender!r}; "
                                f"calculation {cid} asked {named!r} for its key")
    if opened.body.message_type == MT.MESSAGE_TYPE_REFUSAL:
        raise CalculationFailed(f"result withheld by the key holder: {cpb.RefusalCode.Name(opened.payload.code)}: "
                                f"{opened.payload.message}")
    docs = list(opened.payload.batch_results_json) or [opened.payload.result_json]
    req = env.open_envelope(resp.calculation_request, federation.key_of).payload
    wanted = [f"{req.target_organisation}/{item.product_id}" for item in req.products]
    try:
        released = [json.loads(d)["product"] for d in docs]
    except (ValueError, KeyError, TypeError):
        raise CalculationFailed(f"the result of {cid} is not a tanji.result/1 document") from None
    if released != wanted or docs[0] != opened.payload.result_json:
        raise CalculationFailed(f"the result of {cid} names {released}; the calculation asked for {wanted}")
    return docs


def write_results(docs: list[bytes], out: Path) -> list[Path]:
    """`out/result.json` for one product; for a batch `out/results/<PRODUCT>.json`, one per product."""
    if len(docs) == 1:
        targets = [out / "result.json"]
    else:
        targets = [out / "results" / f"{json.loads(d)['product'].split('/', 1)[1]}.json" for d in docs]
    for path, doc in zip(targets, docs, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(doc)
        tmp.replace(path)
    return targets


def pinned_key_holder(request: epb.Envelope, federation: Federation, cid: str) -> str:
    """The key holder the calculation's signed request names (the requester's own signature, checked):
    only its signature makes a result, not any listed key holder's."""
    try:
        opened = env.open_envelope(request, federation.key_of)
    except env.EnvelopeRefused as exc:
        raise CalculationFailed(f"the calculation request the coordinator returned does not verify: {exc}") from None
    if opened.body.message_type != epb.MESSAGE_TYPE_CALCULATION_REQUEST or opened.body.calculation_id != cid:
        raise CalculationFailed(f"the coordinator returned no calculation request of {cid}")
    return str(opened.payload.key_holder)
