"""Key acceptance: a calculation's public key, taken only from a listed key holder and only when
its context, parameters, factor set and slot layout are the ones this node can answer under —
and the binding every envelope the node then sends for that calculation carries."""
from __future__ import annotations

from sqlalchemy import select

from tanji.he import tasks as he_work
from tanji.methodology import slots
from tanji.node.site import Site
from tanji.node.store import CalcKey, Handled
from tanji.protocol import envelope as env
from tanji.protocol import limits
from tanji.protocol.messages import Binding
from tanji.protocol.refusals import Refusal
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb


def on_key(site: Site, opened: env.Opened) -> None:
    ka = opened.payload
    site.pool.warm()  # a calculation is coming: the HE worker starts while the key is checked
    if opened.body.sender not in site.federation.key_holders():
        raise Refusal(cpb.REFUSAL_CODE_UNTRUSTED_KEY_HOLDER, f"{opened.body.sender!r} is not a listed key holder")
    if opened.body.key_fingerprint != ka.key_fingerprint or opened.body.ckks_params_hash != ka.ckks_params_hash:
        raise Refusal(cpb.REFUSAL_CODE_WRONG_KEY, "key announcement header and payload disagree")
    context = site.pull_public(opened.body.calculation_id, ka.context_object_hash, limits.MAX_CONTEXT_BYTES)
    try:
        # in the HE worker: a loaded context is tens of MB the serving process would otherwise keep
        site.compute(he_work.check_public_context, context, ka.key_fingerprint, ka.ckks_params_hash, ka.preset)
    except he_work.HEError as exc:
        raise Refusal(cpb.REFUSAL_CODE_WRONG_PARAMETERS, str(exc)) from None
    if opened.body.factor_set_hash != bytes.fromhex(site.factors.sha256):
        raise Refusal(cpb.REFUSAL_CODE_FACTOR_SET_MISMATCH,
                      f"calculation uses factor set {opened.body.factor_set_hash.hex()[:16]}…, "
                      f"this node holds {site.factors.model.id} ({site.factors.sha256[:16]}…)")
    if ka.width not in (0, slots.WIDTH) and not slots.blocks_of(ka.width, len(site.factors.model.factors)):
        raise Refusal(cpb.REFUSAL_CODE_SLOT_LAYOUT_MISMATCH,
                      f"the key is for {ka.width} slots; this node's layout is {slots.WIDTH} slots per product, plus "
                      f"{len(site.factors.model.factors)} citation slots for {site.factors.model.id}")
    with site.store.sessions.begin() as s:
        s.add(CalcKey(calculation_id=opened.body.calculation_id, announcement=opened.envelope.SerializeToString(),
                      context=context))
        s.add(Handled(hash=opened.hash, calculation_id=opened.body.calculation_id, kind=opened.type_name,
                      outcome="key accepted"))


def accepted_key(site: Site, cid: str) -> CalcKey | None:
    with site.store.sessions() as s:
        return s.get(CalcKey, cid)


def require_key(site: Site, cid: str) -> CalcKey:
    """The calculation's accepted key; answering or auditing without one is refused."""
    key = accepted_key(site, cid)
    if key is None:
        raise Refusal(cpb.REFUSAL_CODE_WRONG_KEY, "no accepted key for this calculation")
    return key


def announcement(key: CalcKey) -> env.Opened:
    """The accepted KEY_ANNOUNCEMENT, verified when it was accepted."""
    return env.reopen(epb.Envelope.FromString(key.announcement))


def _announcement_bytes(site: Site, cid: str) -> bytes | None:
    """The accepted KEY_ANNOUNCEMENT's bytes alone: most readers need it, not the 2 MB context."""
    with site.store.sessions() as s:
        return s.scalar(select(CalcKey.announcement).where(CalcKey.calculation_id == cid))


def key_announcement(site: Site, cid: str) -> env.Opened:
    """The accepted KEY_ANNOUNCEMENT; refused, as `require_key`, before a key is accepted."""
    raw = _announcement_bytes(site, cid)
    if raw is None:
        raise Refusal(cpb.REFUSAL_CODE_WRONG_KEY, "no accepted key for this calculation")
    return env.reopen(epb.Envelope.FromString(raw))


def binding(site: Site, cid: str) -> Binding:
    """The calculation's key, parameters, factor set and method; empty before a key is accepted."""
    raw = _announcement_bytes(site, cid)
    return Binding.of(key_announcement=env.reopen(epb.Envelope.FromString(raw))) if raw is not None else Binding()


def layout(site: Site, cid: str) -> tuple[int, dict[str, int]]:
    """(slots per ciphertext, factor id -> citation slot) of a calculation; no citation slots: {}."""
    width = key_announcement(site, cid).payload.width or slots.WIDTH
    if width == slots.WIDTH:
        return width, {}
    return width, slots.citation_slots(site.factors.by_id, batch_blocks(site, cid))


def batch_blocks(site: Site, cid: str) -> int:
    """The product blocks of a calculation (1 unless its request is a batch, DESIGN §6)."""
    width = key_announcement(site, cid).payload.width or slots.WIDTH
    return max(1, slots.blocks_of(width, len(site.factors.model.factors)))


def check_key_holder(site: Site, request: env.Opened) -> None:
    """The accepted key is the one the calculation's signed request asked for: announced by the key
    holder that request names, answering that very request. Any listed key holder is not enough:
    a coordinator could otherwise hand the calculation to another key holder it colludes with."""
    ka = key_announcement(site, request.body.calculation_id)
    if ka.body.sender != request.payload.key_holder:
        raise Refusal(cpb.REFUSAL_CODE_UNTRUSTED_KEY_HOLDER,
                      f"the key was announced by {ka.body.sender!r}; the calculation request names "
                      f"{request.payload.key_holder!r}")
    if ka.body.answers_hash != request.hash:
        raise Refusal(cpb.REFUSAL_CODE_WRONG_KEY, "the accepted key announcement answers another calculation request")
