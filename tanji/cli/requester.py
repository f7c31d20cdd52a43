"""The requester's side of a calculation (`tanji calc start|status|result`, and the demo).

The requester signs its CALCULATION_REQUEST with its node's envelope key; the
coordinator answers with status and, at the end, the key holder's signed result.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tanji.errors import CalculationError, TanjiError
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
    return CalculationSpec(
        requester=org, product=product, method=profile.name, method_version=profile.version,
        lifetime_energy_kwh=0.0 if declaration is None else declaration.lifetime_energy_kwh(),
        depth_bound=depth_bound,
        factor_set_id=factors.model.id, factor_set_sha256=factors.sha256, key_holder=key_holder,
        deadline_seconds=deadline_seconds, state=state, target=target,
        citation_slots=len(factors.model.factors), factor_provider=factors.model.provider,
        declared_unit=target.unit,
        declaration_json="" if declaration is None else json.dumps(
            declaration.released(), separators=(",", ":"), ensure_ascii=False))


def start(channel, key: SigningKey, spec: CalculationSpec) -> str:
    cid = new_calculation_id()  # the one id grammar (tanji.protocol.identity)
    body = env.new_body(MT.MESSAGE_TYPE_CALCULATION_REQUEST, calculation_id=cid, sender=spec.requester,
                        receiver="coordinator")
    body.factor_set_hash = bytes.fromhex(spec.factor_set_sha256)
    body.method_profile.name, body.method_profile.version = spec.method, spec.method_version
    req = body.calculation_request
    req.target_organisation = spec.requester
    req.products.add(product_id=spec.product, lifetime_energy_kwh=spec.lifetime_energy_kwh,
                     declared_unit=spec.declared_unit, declaration_json=spec.declaration_json)
    req.depth_bound, req.batch_size = spec.depth_bound, 1
    req.deadline.FromDatetime(datetime.now(UTC) + timedelta(seconds=spec.deadline_seconds))
    req.key_holder = spec.key_holder
    req.factor_set_id = spec.factor_set_id
    req.min_attestations = 1
    req.citation_slots, req.factor_provider = spec.citation_slots, spec.factor_provider
    if spec.state is not None and spec.target is not None:
        kept = commitment.new(spec.target)
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
    """The released tanji.result/1 bytes, after checking the key holder's signature."""
    resp = rgrpc.RequesterServiceStub(channel).GetResult(rpb.GetResultRequest(party_id=party, calculation_id=cid),
                                                         timeout=limits.RPC_TIMEOUT_SECONDS)
    return checked_result(resp, federation, cid)


def checked_result(resp: rpb.GetResultResponse, federation: Federation, cid: str) -> bytes:
    """The result bytes of `resp`, signed by the key holder the calculation's own request names."""
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
    return opened.payload.result_json


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
