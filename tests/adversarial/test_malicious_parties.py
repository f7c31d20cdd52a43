"""Attacks by the parties around an honest coordinator: a supplier (`mallory`, played by the
test with its own key and certificate), a requester, an outsider.

Every attack crosses the wire to real processes — the coordinator, the key holder, the other
nodes. What the coordinator can refuse on arrival it refuses by name (the push outcome); what
CKKS cannot tell before decryption (a forged key label, a flipped bit that still parses,
negative or overflowing values) the key holder detects after its one decryption and withholds.
"""
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from tanji.cli import requester
from tanji.he import _wire, default_backend
from tanji.he import tasks as he_tasks
from tanji.methodology import profiles, slots, units
from tanji.methodology.footprint import own
from tanji.protocol import envelope as env
from tanji.protocol import limits
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import node_pb2 as npb
from tanji.v1 import node_pb2_grpc as ngrpc
from tanji.v1 import requester_pb2 as rpb
from tanji.v1 import requester_pb2_grpc as rgrpc
from tests.harness import envelopes as E
from tests.harness.adversary import INTRUDER, Impostor, assert_matches
from tests.harness.data import MALLORY
from tests.harness.envelopes import flip
from tests.harness.keys import KEY_HOLDER
from tests.harness.outcomes import refused_by

pytestmark = pytest.mark.integration
MT = epb.MessageType
S = rpb.CalculationState


@dataclass
class Open:
    """A PACK-M calculation waiting for mallory's contribution (mallory has declared)."""
    cid: str
    ka: env.Opened
    merged: env.Opened
    context: bytes
    honest: bytes          # the contribution an honest mallory sends
    declaration: epb.Envelope
    earlier: str = ""      # an earlier, finished calculation (material for splices)


def open_request(fed) -> Open:
    cid = fed.start(product="PACK-M")
    m = fed.mallory
    ka, merged, context = m.request(cid)
    declaration = m.declaration(ka, merged.hash)
    assert m.push(declaration)[0].status == cpb.PUSH_STATUS_ACCEPTED
    return Open(cid, ka, merged, context, m.answer(ka, merged, context).contribution, declaration)


@pytest.fixture(scope="module")
def waiting(federation, honest_run):
    o = open_request(federation)
    o.earlier = honest_run
    return o


def seal_length(ct: bytes) -> int:
    return int.from_bytes(ct[76:80], "big")


# ---------------------------------------------------------------- refused on arrival
# (attack, what mallory sends: (fed, open) -> envelope, expected code)

HEADER = _wire.HEADER_SIZE


def ciphertext(make):
    return lambda fed, o: fed.mallory.contribution(o.ka, o.merged.hash, "PART", make(fed, o))


def with_body(**change):
    def make(fed, o):
        honest = fed.mallory.contribution(o.ka, o.merged.hash, "PART", o.honest)
        return E.with_fields(honest, fed.mallory.key, **{k: v(fed, o) if callable(v) else v for k, v in change.items()})
    return make


def foreign_key(fed, o):
    other = he_tasks.keygen(2, 1, len(fed.data.factors.model.factors))
    return he_tasks.answer(other.public_context, None, [1.0] * 8, 0, [], other.width).contribution


def earlier_calculation(fed, o):
    (c,) = fed.stored(o.earlier, MT.MESSAGE_TYPE_CONTRIBUTION, sender="bms-co")
    return fed.coordinator_object(c.payload.ciphertext_hash)


def other_preset(fed, o):
    deeper = he_tasks.keygen(5, 1, len(fed.data.factors.model.factors))
    return he_tasks.answer(deeper.public_context, None, [1.0] * 8, 0, [], deeper.width).contribution


def other_level(fed, o):
    ctx = default_backend().load_public_context(o.context)
    return ctx.serialize(ctx.encrypt([1.0] * o.ka.payload.width, level=1))


def random_payload(fed, o):
    n = seal_length(o.honest)
    return o.honest[:HEADER] + _wire.SEAL_MAGIC + os.urandom(n - 2) + o.honest[HEADER + n:]


REFUSED_ON_ARRIVAL = [
    ("random bytes", ciphertext(lambda f, o: os.urandom(len(o.honest))), cpb.REFUSAL_CODE_MALFORMED),
    ("random bytes behind a valid header", ciphertext(random_payload), cpb.REFUSAL_CODE_MALFORMED),
    ("bit flipped: magic", ciphertext(lambda f, o: flip(o.honest, 0)), cpb.REFUSAL_CODE_MALFORMED),
    ("bit flipped: format version", ciphertext(lambda f, o: flip(o.honest, 4)), cpb.REFUSAL_CODE_MALFORMED),
    ("bit flipped: level", ciphertext(lambda f, o: flip(o.honest, 5)), cpb.REFUSAL_CODE_MALFORMED),
    ("bit flipped: width", ciphertext(lambda f, o: flip(o.honest, 11)), cpb.REFUSAL_CODE_MALFORMED),
    ("bit flipped: parameter hash", ciphertext(lambda f, o: flip(o.honest, 20)), cpb.REFUSAL_CODE_WRONG_PARAMETERS),
    ("bit flipped: key fingerprint", ciphertext(lambda f, o: flip(o.honest, 50)), cpb.REFUSAL_CODE_WRONG_KEY),
    ("bit flipped: SEAL length", ciphertext(lambda f, o: flip(o.honest, 79)), cpb.REFUSAL_CODE_MALFORMED),
    ("bit flipped: SEAL header", ciphertext(lambda f, o: flip(o.honest, HEADER + 1)), cpb.REFUSAL_CODE_MALFORMED),
    ("bit flipped: padding", ciphertext(lambda f, o: flip(o.honest, len(o.honest) - 1)), cpb.REFUSAL_CODE_MALFORMED),
    ("a ciphertext under a foreign key", ciphertext(foreign_key), cpb.REFUSAL_CODE_WRONG_KEY),
    ("cross-calculation splice: a contribution of an earlier calculation", ciphertext(earlier_calculation),
     cpb.REFUSAL_CODE_WRONG_KEY),
    ("cross-calculation splice: bound to an earlier calculation's key",
     with_body(key_fingerprint=lambda f, o: f.stored(o.earlier,
                                                     MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT)[0].payload.key_fingerprint),
     cpb.REFUSAL_CODE_WRONG_KEY),
    ("parameter downgrade: a ciphertext of another preset", ciphertext(other_preset),
     cpb.REFUSAL_CODE_WRONG_PARAMETERS),
    ("parameter downgrade: an envelope naming other parameters", with_body(ckks_params_hash=b"\x01" * 32),
     cpb.REFUSAL_CODE_WRONG_PARAMETERS),
    ("a contribution at another level (its size would tell its depth)", ciphertext(other_level),
     cpb.REFUSAL_CODE_WRONG_LEVEL),
    ("replay: a message id used before",
     with_body(message_id=lambda f, o: epb.EnvelopeBody.FromString(o.declaration.body).message_id),
     cpb.REFUSAL_CODE_REPLAY),
    ("replay: a message an hour old", with_body(created_at=lambda f, o: _hour_ago()), cpb.REFUSAL_CODE_REPLAY),
    ("an answer to a request never sent to it", with_body(answers_hash=os.urandom(32)), cpb.REFUSAL_CODE_UNEXPECTED),
    ("signed with another party's key", lambda f, o: E.resealed(
        f.mallory.contribution(o.ka, o.merged.hash, "PART", o.honest), f.key("bms-co")),
     cpb.REFUSAL_CODE_BAD_SIGNATURE),
]


def _hour_ago():
    return datetime.now(UTC) - timedelta(hours=1)


@pytest.mark.parametrize("attack,make,code", REFUSED_ON_ARRIVAL, ids=[a[0] for a in REFUSED_ON_ARRIVAL])
def test_a_bad_contribution_is_refused_on_arrival(federation, waiting, attack, make, code):
    """Attacker: supplier mallory, answering its real request. Refusal: the coordinator's push
    outcome names the code; the calculation keeps waiting for a valid answer."""
    (out,) = federation.mallory.push(make(federation, waiting))
    assert out.status == cpb.PUSH_STATUS_REFUSED, attack
    assert out.code == code, (cpb.RefusalCode.Name(out.code), out.message)
    assert federation.status(waiting.cid).state == S.CALCULATION_STATE_RUNNING


def test_after_every_refused_push_the_honest_answer_gives_the_right_result(federation, waiting):
    """The control: the same request, answered honestly, ends in the reference result — so
    the refusals above were the attacks', not the federation's."""
    out = federation.mallory.push(federation.mallory.contribution(waiting.ka, waiting.merged.hash, "PART",
                                                                  waiting.honest))
    assert out[0].status == cpb.PUSH_STATUS_ACCEPTED, out[0].message
    st = federation.wait(waiting.cid)
    assert st.state == S.CALCULATION_STATE_DONE, st.failure_message
    assert_matches(federation.result(waiting.cid), federation.expected("pack", "PACK-M"))
    (agg,) = federation.stored(waiting.cid, MT.MESSAGE_TYPE_AGGREGATE)
    waiting.accepted = [c for c in federation.stored(waiting.cid, MT.MESSAGE_TYPE_CONTRIBUTION, sender=MALLORY)]
    assert len(waiting.accepted) == 1 and waiting.accepted[0].hash in agg.payload.contribution_hashes


def test_replayed_contribution_is_not_counted_twice(federation, waiting):
    """Attacker: anyone who saw mallory's contribution (or mallory, retrying). The same bytes
    again are acknowledged as already accepted and stored once; with a new message id the
    finished calculation refuses it."""
    accepted = waiting.accepted[0]
    (again,) = federation.mallory.push(accepted.envelope)
    assert again.status == cpb.PUSH_STATUS_ALREADY_ACCEPTED
    (late,) = federation.mallory.push(E.with_fields(accepted.envelope, federation.mallory.key,
                                                    message_id=os.urandom(16)))
    assert late.code == cpb.REFUSAL_CODE_UNKNOWN_CALCULATION
    assert len(federation.stored(waiting.cid, MT.MESSAGE_TYPE_CONTRIBUTION, sender=MALLORY)) == 1


def test_a_replayed_calculation_request_does_not_run_again(federation, honest_run):
    """Attacker: an outsider replaying a signed CALCULATION_REQUEST to have the same calculation
    run (and decrypted) again. The same bytes are taken for a retry of the finished calculation
    (same id, nothing restarts); re-signed with the spent id, REPLAY; and under mTLS an outsider
    cannot submit it at all (its certificate is not the requester's)."""
    before = federation.result(honest_run)
    (request,) = federation.stored(honest_run, MT.MESSAGE_TYPE_CALCULATION_REQUEST)
    stub = rgrpc.RequesterServiceStub(federation.channel("pack"))
    resp = stub.StartCalculation(rpb.StartCalculationRequest(calculation_request=request.envelope), timeout=30)
    assert resp.calculation_id == honest_run
    assert federation.status(honest_run).state == S.CALCULATION_STATE_DONE and federation.result(honest_run) == before
    again = E.with_fields(request.envelope, federation.key("pack"), message_id=os.urandom(16),
                          created_at=datetime.now(UTC))
    out = stub.StartCalculation(rpb.StartCalculationRequest(calculation_request=again), timeout=30).outcome
    assert out.code == cpb.REFUSAL_CODE_REPLAY
    with pytest.raises(grpc.RpcError) as info:
        rgrpc.RequesterServiceStub(federation.channel(INTRUDER)).StartCalculation(
            rpb.StartCalculationRequest(calculation_request=request.envelope), timeout=30)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


# ---------------------------------------------------------------- detected after decryption

def withheld(fed, make) -> rpb.GetStatusResponse:
    """A PACK-M calculation in which mallory's contribution is `make(open)`; its final status."""
    o = open_request(fed)
    (out,) = fed.mallory.push(fed.mallory.contribution(o.ka, o.merged.hash, "PART", make(fed, o)))
    assert out.status == cpb.PUSH_STATUS_ACCEPTED, out.message   # CKKS cannot tell before decryption
    st = fed.wait(o.cid)
    with pytest.raises(requester.CalculationFailed):   # whatever the figure, none was released
        fed.result(o.cid)
    assert st.state == S.CALCULATION_STATE_WITHHELD, st.failure_message
    return st


def forged_label(fed, o):
    """A ciphertext under another key, its header relabelled with this calculation's key."""
    head, seal = _wire.unpack_ciphertext(foreign_key(fed, o))
    return _wire.pack_ciphertext(_wire.CiphertextHeader(head.level, head.width, head.param_hash,
                                                        o.ka.payload.key_fingerprint), seal, len(o.honest))


def flipped_but_parsing(fed, o):
    """A bit flipped in the SEAL data where the result still parses (most such flips do)."""
    for pos in range(HEADER + seal_length(o.honest) // 2, HEADER + seal_length(o.honest)):
        bad = flip(o.honest, pos, 3)
        try:
            he_tasks.load_ciphertext(o.context, bad, 0, o.ka.payload.width)
            return bad
        except he_tasks.HEError:
            continue
    raise AssertionError("no flipped bit parses")


def scaled(factor):
    return lambda fed, o: fed.mallory.answer(o.ka, o.merged, o.context, scale=factor).contribution


def doubled(times):
    """The honest contribution added to itself `times` times: 2^times its value, no key needed."""
    def make(fed, o):
        ctx = default_backend().load_public_context(o.context)
        ct = ctx.deserialize(o.honest, width=o.ka.payload.width)
        for _ in range(times):
            ct = ctx.add(ct, ct)
        return ctx.serialize(ct)
    return make


def inflated(slot: int, amount: float):
    """Mallory's honest own(p), with `amount` more in one slot (per unit of its product)."""
    def make(fed, o):
        m = fed.mallory
        profile = profiles.get(o.ka.body.method_profile.name)
        part = own(m.product, m.party, m.org.country, fed.data.factors.by_id, profile)
        vector = part.vector * slots.WEIGHTED
        vector[slot] += amount
        weights = [(m.object(o.cid, p.weight_object_hash), units.factor(p.quantity_unit, m.product.unit))
                   for p in o.merged.payload.parts]
        return he_tasks.answer(o.context, weights, vector.tolist(), int(part.vector[slots.WARNINGS]), [],
                               o.ka.payload.width).contribution
    return make


DETECTED = [
    ("a foreign-key ciphertext relabelled with this key", forged_label, cpb.REFUSAL_CODE_CHECK_SLOT_NONZERO),
    ("a flipped bit that still parses", flipped_but_parsing, cpb.REFUSAL_CODE_CHECK_SLOT_NONZERO),
    ("a negative contribution", scaled(-10.0), cpb.REFUSAL_CODE_OUT_OF_BOUNDS),
    ("a value beyond the preset's maximum (x 2^22)", doubled(22), cpb.REFUSAL_CODE_OUT_OF_BOUNDS),
    ("a value that wraps around the modulus (x 2^60)", doubled(60), cpb.REFUSAL_CODE_CHECK_SLOT_NONZERO),
    ("a primary-data share above 1", inflated(slots.PRIMARY, 1e4), cpb.REFUSAL_CODE_OUT_OF_BOUNDS),
    ("a DQR above 5", inflated(slots.DQR_WEIGHTED, 1e5), cpb.REFUSAL_CODE_OUT_OF_BOUNDS),
]


@pytest.mark.parametrize("attack,make,code", DETECTED, ids=[a[0] for a in DETECTED])
def test_tampering_ckks_cannot_refuse_is_detected_and_the_result_withheld(federation, attack, make, code):
    """Attacker: supplier mallory. The coordinator cannot tell these from honest ciphertexts and
    sums them; the key holder decrypts once, finds slot 7 non-zero or a figure out of bounds,
    and withholds the result naming the check (DESIGN: "detected", not "refused")."""
    st = withheld(federation, make)
    assert st.failure_code == code, (cpb.RefusalCode.Name(st.failure_code), st.failure_message)


def w_in_the_check_slot(fed, o):
    """Mallory's contribution carries nothing but Enc(w) ⊙ e7: its own weight w in the check slot."""
    own = [0.0] * slots.WIDTH
    own[slots.CHECK] = 1.0
    m = fed.mallory
    weights = [(m.object(o.cid, p.weight_object_hash), units.factor(p.quantity_unit, m.product.unit))
               for p in o.merged.payload.parts]
    return he_tasks.answer(o.context, weights, own, 0, [], o.ka.payload.width, []).contribution


def test_the_withheld_verdict_is_no_decryption_oracle(federation):
    """Attacker: supplier mallory, hoping to read its w (how much of it is in the pack) back from the
    refusal: it puts w into slot 7 and reads the calculation's status as itself. Detected and
    withheld (CHECK_SLOT_NONZERO); no text any party reads — mallory's status, the requester's status,
    the key holder's signed REFUSAL — holds a number (issue #11 item 6)."""
    st = withheld(federation, w_in_the_check_slot)
    assert st.failure_code == cpb.REFUSAL_CODE_CHECK_SLOT_NONZERO
    cid = st.calculation_id
    texts = [federation.status(cid, org).failure_message for org in (MALLORY, "pack")]
    texts += [o.payload.message for o in federation.stored(cid, epb.MESSAGE_TYPE_REFUSAL)]
    assert texts and not [t for t in texts if re.search(r"\d", t.replace(KEY_HOLDER, ""))], texts
    assert "slot 7 decrypted to" in federation.log(KEY_HOLDER)   # the figure stays in the key holder's own log


# ---------------------------------------------------------------- requesters

def test_a_requester_naming_a_supplier_that_has_not_approved_it_is_refused(federation):
    """Attacker: requester rogue, naming cathode's CAM as an input of its product to read
    cathode's footprint. Refusal: the coordinator routes only approved edges (cathode's registration
    approves cells and pack), so the calculation is refused at start, naming cathode to rogue."""
    with pytest.raises(requester.CalculationFailed) as info:
        federation.start("rogue", "ROGUE-PACK")
    assert cpb.RefusalCode.Name(cpb.REFUSAL_CODE_CUSTOMER_NOT_APPROVED) in str(info.value)


def test_a_coordinator_routing_an_unapproved_edge_meets_the_suppliers_own_refusal(federation):
    """Attackers: requester rogue and a coordinator that routes every registered edge, approved or
    not. Refusal: cathode itself answers only the customers in its policy.toml."""
    with federation.attack("ignore-approvals"):
        cid = federation.start("rogue", "ROGUE-PACK")
    st = federation.wait(cid, "rogue")
    assert st.state == S.CALCULATION_STATE_FAILED and st.failure_code == cpb.REFUSAL_CODE_CUSTOMER_NOT_APPROVED
    assert refused_by(st) == "cathode"
    with pytest.raises(requester.CalculationFailed):
        federation.result(cid, "rogue")


# ---------------------------------------------------------------- identity

def test_an_unregistered_party_is_refused(federation):
    """Attacker: intruder, holding a certificate of the federation's CA but not on the signed
    federation list. Refusals: it cannot register, pull or push, nor start a calculation."""
    intruder = Impostor(federation, INTRUDER)
    out = intruder.register(["PART"])
    assert out.status == cpb.PUSH_STATUS_REFUSED and out.code == cpb.REFUSAL_CODE_UNKNOWN_PARTY
    for call in (lambda: intruder.pull(), lambda: intruder.push()):
        with pytest.raises(grpc.RpcError) as info:
            call()
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    spec = federation.spec("pack", "PACK")
    spec.requester = INTRUDER
    with pytest.raises(requester.CalculationFailed) as refused:
        requester.start(federation.channel(INTRUDER), federation.key(INTRUDER), spec)
    assert cpb.RefusalCode.Name(cpb.REFUSAL_CODE_UNKNOWN_PARTY) in str(refused.value)  # the CLI names the code
    with pytest.raises(grpc.RpcError) as info:   # and without any certificate, no connection at all
        ngrpc.NodeServiceStub(grpc.insecure_channel(federation.address, options=limits.GRPC_OPTIONS)).Heartbeat(
            npb.HeartbeatRequest(party_id="pack"), timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_party_using_anothers_certificate_is_refused(federation, honest_run):
    """Attacker: supplier mallory, presenting its own certificate while acting for pack: to read
    pack's inbox, collect pack's result or push in pack's name. Refusal: the coordinator maps
    the certificate to the party (PERMISSION_DENIED)."""
    stub = ngrpc.NodeServiceStub(federation.channel(MALLORY))
    with pytest.raises(grpc.RpcError) as info:
        stub.PullMessages(npb.PullMessagesRequest(party_id="pack"), timeout=30)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    results = rgrpc.RequesterServiceStub(federation.channel(MALLORY))
    with pytest.raises(grpc.RpcError) as info:
        results.GetResult(rpb.GetResultRequest(party_id="pack", calculation_id=honest_run), timeout=30)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as info:   # in its own name, it is not a party of that result
        results.GetResult(rpb.GetResultRequest(party_id=MALLORY, calculation_id=honest_run), timeout=30)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_stolen_certificate_without_the_envelope_key_cannot_sign(federation, honest_run):
    """Attacker: an outsider holding pack's TLS certificate and key (not pack's envelope key). The
    channel is pack's, but every message must carry pack's signature: registering another key,
    or pushing an envelope signed by another key in pack's name, is refused by name."""
    thief = Impostor(federation, "pack")            # pack's certificate ...
    thief.key = federation.key(INTRUDER)            # ... and the thief's own envelope key
    out = thief.register(["PACK"], key=thief.key)
    assert out.code == cpb.REFUSAL_CODE_UNKNOWN_PARTY
    (ka,) = federation.stored(honest_run, MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT)
    (request,) = federation.stored(honest_run, MT.MESSAGE_TYPE_CALCULATION_REQUEST)
    (out,) = thief.push(thief.declaration(ka, request.hash))
    assert out.code == cpb.REFUSAL_CODE_BAD_SIGNATURE
