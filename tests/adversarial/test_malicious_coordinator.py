"""Attacks by the coordinator, the party that routes and sums every ciphertext.

The coordinator is assumed honest-but-curious; these tests hold it to what DESIGN.md promises
when it is not: a coordinator that deviates is *detected* — an honest node, the auditor or the
key holder refuses by name, and the calculation fails or its result is withheld — and never
gets a wrong number released. The deviating coordinator is `tests/harness/evil_coordinator.py`, a
real coordinator process told which attack to run; everyone else is an honest real process.
"""

import pytest
import tenseal as ts

from tanji.cli import requester
from tanji.he import _wire, default_backend, get_preset
from tanji.he import tasks as he_tasks
from tanji.he.tenseal_backend import TenSEALPublicContext
from tanji.keyholder.store import key_file_name
from tanji.methodology import slots
from tanji.protocol import envelope as env
from tanji.protocol.messages import Binding
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import key_holder_pb2 as kpb
from tanji.v1 import key_holder_pb2_grpc as kgrpc
from tanji.v1 import objects_pb2 as opb
from tanji.v1 import requester_pb2 as rpb
from tests.harness import envelopes as E
from tests.harness.adversary import KEY_HOLDER_2, Impostor, sha256
from tests.harness.keys import KEY_HOLDER
from tests.harness.outcomes import assert_failed

pytestmark = pytest.mark.integration
MT = epb.MessageType
S = rpb.CalculationState


def attacked(fed, mode: str, **params) -> rpb.GetStatusResponse:
    """Run one calculation of pack/PACK while the coordinator runs `mode`; its final status."""
    with fed.attack(mode, **params):
        cid = fed.start()
        st = fed.wait(cid)
    with pytest.raises(requester.CalculationFailed):   # whatever happened, no number was released
        fed.result(cid)
    return st


# ---------------------------------------------------------------- substituted ciphertexts

def test_coordinator_substitutes_the_weight_in_a_merged_request(federation, honest_run):
    """Attacker: coordinator. It sends cathode Enc(2w) = w + w (no key needed) instead of the sum
    of its two buyers' requests, so cathode's share would count twice. Refusal: cathode re-adds
    its buyers' signed requests before it answers and finds another ciphertext (#11 item 1; the
    auditor re-sums them again before it attests)."""
    st = attacked(federation, "double-weight", supplier="cathode")
    assert_failed(st, cpb.REFUSAL_CODE_HASH_MISMATCH, "cathode")


def test_coordinator_serves_other_bytes_under_a_ciphertexts_hash(federation, honest_run):
    """Attacker: coordinator. The merged request to cells is honest, but the object served under
    its hash is another ciphertext. Refusal: cells checks every object against its name."""
    st = attacked(federation, "swap-object", supplier="cells")
    assert_failed(st, cpb.REFUSAL_CODE_HASH_MISMATCH, "cells")


def test_coordinator_substitutes_the_sum(federation, honest_run):
    """Attacker: coordinator. Its aggregate adds one contribution twice. Refusal: the auditor
    re-executes the sum from the signed contributions, byte for byte."""
    st = attacked(federation, "swap-sum")
    assert_failed(st, cpb.REFUSAL_CODE_HASH_MISMATCH, "pack")


# ---------------------------------------------------------------- omissions and splices

def test_coordinator_drops_a_supplier(federation, honest_run):
    """Attacker: coordinator. It leaves bms-co's contribution and declaration out of the aggregate
    and sums the rest — a self-consistent aggregate of an incomplete calculation. Refusal: the
    auditor checks completeness (every declared request answered exactly once) before attesting."""
    st = attacked(federation, "drop", supplier="bms-co")
    assert_failed(st, cpb.REFUSAL_CODE_UNEXPECTED, "pack")


def test_coordinator_splices_a_contribution_of_another_calculation(federation, honest_run):
    """Attacker: coordinator. It lists cells' contribution of the earlier calculation in this
    one's aggregate (and delivers it to the auditor). Refusal: the auditor binds every summed
    contribution to this calculation."""
    st = attacked(federation, "splice", supplier="cells")
    assert_failed(st, cpb.REFUSAL_CODE_UNEXPECTED, "pack")


# ---------------------------------------------------------------- keys and parameters

def test_coordinator_substitutes_a_key_of_its_own(federation, honest_run):
    """Attacker: coordinator. Every party gets a public key the coordinator made (so it could
    decrypt everything). Refusal: nodes accept a key only under a listed key holder's signature."""
    st = attacked(federation, "forged-key")
    assert_failed(st, cpb.REFUSAL_CODE_UNTRUSTED_KEY_HOLDER)


def test_coordinator_substitutes_the_key_of_another_calculation(federation, honest_run):
    """Attacker: coordinator. Every party gets the key holder's genuine announcement of the
    earlier calculation. Refusal: the announcement is bound to its calculation id, so the
    requester's node has no key for this one and refuses to answer."""
    st = attacked(federation, "replayed-key")
    assert_failed(st, cpb.REFUSAL_CODE_WRONG_KEY, "pack")


def unpinned_announcement(fed, cid: str, request: env.Opened) -> epb.Envelope:
    """A KEY_ANNOUNCEMENT of weaker parameters than any pinned preset (N = 4096, 100 bits,
    scale 2^20), signed by keyholder-2 and claiming the pinned preset of the calculation."""
    ctx = ts.context(ts.SCHEME_TYPE.CKKS, 4096, coeff_mod_bit_sizes=[40, 20, 40])
    ctx.global_scale = 2 ** 20
    ctx.make_context_public()
    public = ctx.serialize(save_public_key=True, save_secret_key=False, save_galois_keys=False, save_relin_keys=False)
    digest = Impostor(fed, KEY_HOLDER_2).push_object(cid, public, opb.OBJECT_KIND_PUBLIC_CONTEXT)
    preset = get_preset("ckks-n8192-d2")
    ka = epb.KeyAnnouncement(key_fingerprint=sha256(_wire.context_parts(public).public_key),
                             ckks_params_hash=bytes.fromhex(preset.param_hash), preset=preset.name,
                             context_object_hash=digest, transit_level=0,
                             width=slots.calc_width(1, request.payload.citation_slots))
    return E.seal(ka, fed.key(KEY_HOLDER_2), sender=KEY_HOLDER_2, cid=cid, binding=Binding.of(request),
                  answers=request.hash, objects=[digest])


def keyholder2_work(fed) -> kgrpc.KeyHolderServiceStub:
    return kgrpc.KeyHolderServiceStub(fed.channel(KEY_HOLDER_2))


def key_needed(fed, cid: str) -> env.Opened:
    items = keyholder2_work(fed).PullWork(kpb.PullWorkRequest(party_id=KEY_HOLDER_2), timeout=30).items
    (item,) = [i for i in items if env.parse_unverified(i.key_needed.calculation_request).body.calculation_id == cid]
    return env.parse_unverified(item.key_needed.calculation_request)


def test_parameter_downgrade_is_refused_by_the_coordinator(federation):
    """Attacker: a key holder (compromised, or another build) announces a context of weaker,
    unpinned parameters under the name of a pinned preset. Refusal: the coordinator checks the
    context against the pinned presets (WRONG_PARAMETERS) and the calculation gets no key."""
    cid = federation.start(key_holder=KEY_HOLDER_2, deadline=60)
    announcement = unpinned_announcement(federation, cid, key_needed(federation, cid))
    out = keyholder2_work(federation).PublishKey(kpb.PublishKeyRequest(key_announcement=announcement),
                                                 timeout=60).outcome
    assert out.status == cpb.PUSH_STATUS_REFUSED and out.code == cpb.REFUSAL_CODE_WRONG_PARAMETERS, out
    assert federation.status(cid).state == S.CALCULATION_STATE_AWAITING_KEY


def test_parameter_downgrade_relayed_by_the_coordinator_is_refused_by_the_nodes(federation):
    """Attackers: the same key holder, and a coordinator that relays its context unchecked.
    Refusal: every node checks the context itself before it encrypts anything under it."""
    cid = federation.start(key_holder=KEY_HOLDER_2)
    announcement = unpinned_announcement(federation, cid, key_needed(federation, cid))
    with federation.attack("accept-unpinned"):
        out = keyholder2_work(federation).PublishKey(kpb.PublishKeyRequest(key_announcement=announcement),
                                                     timeout=60).outcome
    assert out.status == cpb.PUSH_STATUS_ACCEPTED, out
    st = federation.wait(cid)
    assert_failed(st, cpb.REFUSAL_CODE_WRONG_PARAMETERS)


# ---------------------------------------------------------------- decryption

def test_a_second_decryption_request_is_refused(federation, honest_run):
    """Attacker: coordinator. After the result is out it asks the key holder to decrypt again —
    an aggregate holding bms-co's contribution alone, which would reveal that supplier's figure.
    Refusal: the key holder decrypts once (ALREADY_DECRYPTED); its key is already destroyed."""
    submissions = federation.state / "coordinator" / "submissions"
    before = len(list(submissions.iterdir()))
    first = federation.result(honest_run)
    with federation.attack("second-decryption", calculation=honest_run, supplier="bms-co"):
        end = federation.wait_until(lambda: len(list(submissions.iterdir())) > before)
    replies = [env.parse_unverified(epb.Envelope.FromString(p.read_bytes()))
               for p in sorted(submissions.iterdir())[before:]]
    assert end and replies
    for reply in replies:
        assert reply.body.sender == KEY_HOLDER and reply.body.calculation_id == honest_run
        assert reply.body.message_type == MT.MESSAGE_TYPE_REFUSAL, \
            "the key holder answered with a RESULT, not a refusal"
        assert reply.payload.code == cpb.REFUSAL_CODE_ALREADY_DECRYPTED
    assert not (federation.state / KEY_HOLDER / "keys" / key_file_name(honest_run)).exists()   # the key is gone
    assert federation.result(honest_run) == first                                     # the one result stands


# ---------------------------------------------------------------- the curious coordinator

def dictionary(context: bytes, weight: bytes, sent: bytes, width: int, candidates) -> list[float]:
    """The attack on q · Enc(w): CKKS evaluation is deterministic, so whoever holds Enc(w) and
    the request can recompute q' · Enc(w) for every guess q' and compare bytes — no key needed."""
    ctx = default_backend().load_public_context(context)
    w = ctx.deserialize(weight, min_level=1, width=width)
    return [q for q in candidates if ctx.serialize(ctx.add_many([ctx.mul_plain(w, float(q))])) == sent]


def test_the_dictionary_attack_on_a_request_fails_because_of_re_randomisation(federation, honest_run, monkeypatch):
    """Attacker: coordinator (it holds every Enc(w) and every request). It tries q' for pack's
    quantity of cells' CELL (100) and cells' quantity of CAM (0.4). No guess matches, not even the
    true q: every request carries a fresh Enc(0). Without it, the same search finds q."""
    (ka,) = federation.stored(honest_run, MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT)
    context = federation.coordinator_object(ka.payload.context_object_hash)
    unit = federation.coordinator_object(ka.payload.unit_weight_object_hash)        # Enc(1) of the root
    width = ka.payload.width
    requests = {(r.body.sender, r.payload.supplier): r for r in federation.stored(honest_run, MT.MESSAGE_TYPE_REQUEST)}
    (to_cells,) = [m for m in federation.stored(honest_run, MT.MESSAGE_TYPE_MERGED_REQUEST)
                   if m.payload.supplier == "cells"]
    tiers = [  # (Enc(w) the buyer received, the request it sent, q, guesses)
        (unit, requests[("pack", "cells")], 100.0, range(1, 201)),
        (federation.coordinator_object(to_cells.payload.parts[0].weight_object_hash), requests[("cells", "cathode")],
         0.4, [k / 20 for k in range(1, 41)])]
    for weight, request, q, guesses in tiers:
        assert q in guesses
        sent = federation.coordinator_object(request.payload.weight_object_hash)
        assert dictionary(context, weight, sent, width, guesses) == []
    # the control: a node that did not re-randomise (its fresh Enc(0) removed) gives q away
    monkeypatch.setattr(TenSEALPublicContext, "rerandomize", lambda self, ct, addend=None: ct)
    for weight, _, q, guesses in tiers:
        bare = he_tasks.answer(context, [(weight, 1.0)], [1.0] * slots.WIDTH, 0, [q], width).requests[0]
        assert dictionary(context, weight, bare, width, guesses) == [q]


def test_coordinator_hands_the_calculation_to_another_listed_key_holder(federation, honest_run):
    """Attackers: the coordinator and keyholder-2, a listed key holder the requester did not name.
    The coordinator sends the key work to keyholder-2, which announces a genuine key of its own:
    every node would accept it as a listed key holder's. Refusal: the requester's node pins the
    key holder its signed request names (UNTRUSTED_KEY_HOLDER), so nothing is encrypted under it;
    and `calc result` would take a result only from that key holder."""
    with federation.attack("other-key-holder", key_holder=KEY_HOLDER_2):
        cid = federation.start()                               # names KEY_HOLDER
        request = key_needed(federation, cid)
        assert request.payload.key_holder == KEY_HOLDER
        keys = he_tasks.keygen(request.payload.depth_bound, 1, request.payload.citation_slots)
        kh2 = Impostor(federation, KEY_HOLDER_2)
        ctx_hash = kh2.push_object(cid, keys.public_context, opb.OBJECT_KIND_PUBLIC_CONTEXT)
        unit_hash = kh2.push_object(cid, keys.unit_weight)
        announcement = E.seal(E.announced(keys, ctx_hash, unit_hash), federation.key(KEY_HOLDER_2),
                              sender=KEY_HOLDER_2, cid=cid, binding=E.bound(request.envelope), answers=request.hash,
                              objects=[ctx_hash, unit_hash])
        out = keyholder2_work(federation).PublishKey(kpb.PublishKeyRequest(key_announcement=announcement),
                                                     timeout=60).outcome
        assert out.status == cpb.PUSH_STATUS_ACCEPTED, out       # the coordinator is in on it
        st = federation.wait(cid)
    assert_failed(st, cpb.REFUSAL_CODE_UNTRUSTED_KEY_HOLDER, "pack")
    assert not federation.stored(cid, epb.MESSAGE_TYPE_CONTRIBUTION)   # nothing encrypted under that key
