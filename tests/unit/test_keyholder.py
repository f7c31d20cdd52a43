"""The key holder decrypts an attested aggregate once — never twice, also after a crash —
and withholds a result whose check slot or bounds show tampering. Real CKKS, real signatures;
only the gRPC stubs are replaced by recorders (pure plumbing)."""
import hashlib
import json
from datetime import timedelta
from typing import Any, cast

import pytest

from tanji.he import tasks as he_tasks
from tanji.keyholder.store import KeyedCalculation, KeyHolderStore
from tanji.protocol import envelope as env
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import key_holder_pb2 as kpb
from tanji.v1 import objects_pb2 as opb
from tests.harness import envelopes as E
from tests.harness.keys import in_memory
from tests.harness.world import offline_key_holder

MT = epb.MessageType
CID = "calc-keyholder-000000000001"
#: the calculation's factor set and method, as the requester binds its request
REQUESTED = E.requested(b"\x05" * 32)


class Recorder:
    def __init__(self, objects):
        self.objects = objects
        self.submitted = []
        self.reports = []

    def SubmitResult(self, request, timeout=None):
        self.submitted.append(request.result)
        self.reports.append(request.citation_report if request.HasField("citation_report") else None)
        return kpb.SubmitResultResponse(outcome=cpb.PushOutcome(status=cpb.PUSH_STATUS_ACCEPTED))

    def PullObject(self, request, timeout=None):
        data = self.objects[request.object_hash]
        return opb.PullObjectResponse(object_hash=request.object_hash, total_size=len(data), offset=request.offset,
                                      data=data[request.offset:request.offset + 1024 * 1024])


def sent(kh):
    """The recorder standing in for the coordinator behind the key holder's client."""
    return kh.client.key_holder_service


def plug(kh, recorder) -> None:
    """`recorder` answers the key holder's calls instead of the coordinator's stubs (plumbing only)."""
    kh.client.key_holder_service = kh.client.node_service = cast(Any, recorder)


def evidence(keys, req, contributions: list[bytes], binding):
    """A complete calculation's signed evidence: a's own product (the root, `contributions[0]`) and,
    with a second contribution, the one supplier b it requests from. (envelopes, the contributions'
    message hashes in the order of `contributions`)."""
    def contribution(sender, answers, ct):
        digest = hashlib.sha256(ct).digest()
        return E.seal(epb.Contribution(product_id="P", ciphertext_hash=digest), keys[sender], sender=sender, cid=CID,
                      binding=binding, answers=answers, objects=[digest])

    root, out, supplier, requests = env.message_hash(req), [], [], []
    if len(contributions) > 1:
        weight = b"\x07" * 32
        request = E.seal(epb.Request(supplier="b", product_id="B", quantity_unit="kg", weight_object_hash=weight),
                         keys["a"], sender="a", receiver="b", cid=CID, binding=binding, answers=root, objects=[weight])
        requests.append(request)
        merged = E.seal(epb.MergedRequest(supplier="b", product_id="B", parts=[epb.MergedPart(
            quantity_unit="kg", weight_object_hash=weight, requests=[epb.RequestRef(
                buyer="a", request_hash=env.message_hash(request), weight_object_hash=weight)])]),
            keys["coordinator"], sender="coordinator", receiver="b", cid=CID, binding=binding, objects=[weight])
        leaf = E.seal(E.declared(), keys["b"], sender="b", cid=CID, binding=binding, answers=env.message_hash(merged))
        supplier = [contribution("b", env.message_hash(merged), contributions[1])]
        out += [request, merged, leaf, *supplier]
    declared = E.seal(E.declared(*requests), keys["a"], sender="a", cid=CID, binding=binding, answers=root,
                      objects=[env.parse_unverified(r).payload.weight_object_hash for r in requests])
    out += [declared, contribution("a", root, contributions[0])]
    return out, [env.message_hash(e) for e in (out[-1], *supplier)]


@pytest.fixture
def setup(tmp_path):
    parties = in_memory(("coordinator", "keyholder", "a", "b"))
    keys = parties.keys
    kh = offline_key_holder(tmp_path, parties)
    ck = he_tasks.keygen(1, 1, citation_slots=3)   # a factor set of three factors: slots 8, 9, 10
    kh.store.write_secret(CID, ck.secret_context)
    announced = epb.KeyAnnouncement(preset=ck.preset, width=ck.width, key_fingerprint=ck.key_fingerprint,
                                    ckks_params_hash=ck.params_hash,
                                    context_object_hash=hashlib.sha256(ck.public_context).digest())
    announcement = E.seal(announced, keys["keyholder"], sender="keyholder", cid=CID, binding=REQUESTED,
                          objects=[announced.context_object_hash])
    with kh.store.sessions.begin() as s:
        s.add(KeyedCalculation(calculation_id=CID, preset=ck.preset, state="keyed",
                               announcement=announcement.SerializeToString()))

    def build(check_slot=0.0, committed=True, cited=(8, 10), contributions=1, summed=None, output=None,
              lifetime=1000.0, declaration=""):
        """`summed`: which contributions the aggregate lists (default: all; 0 is a's, 1 is b's);
        `output`: which its output ciphertext adds (default: those it lists); `lifetime` 0 and no
        `declaration`: a product footprint."""
        commitment = hashlib.sha256(b"salt and bill of materials").digest() if committed else b""
        asked = E.calculation("a", ["P"], deadline=timedelta(minutes=5), commitment=commitment,
                              lifetime_energy_kwh=lifetime)
        asked.products[0].declaration_json = declaration
        asked.citation_slots, asked.factor_provider = 3, "factor-lab"
        req = E.seal(asked, keys["a"], sender="a", cid=CID, binding=REQUESTED)
        binding = E.bound(req, announcement)
        own = [600.0, 300.0, 50.0, 50.0, 700.0, 1500.0, 0.0, check_slot]
        cts = [he_tasks.answer(ck.public_context, None, own, 3, [], ck.width, list(cited)).contribution]
        cts += [he_tasks.answer(ck.public_context, None, [0.0] * 8, 0, [], ck.width).contribution] * (contributions - 1)
        envelopes, hashes = evidence(keys, req, cts, binding)
        chosen = list(range(contributions)) if summed is None else summed
        total = he_tasks.add_all(ck.public_context, [cts[i] for i in (chosen if output is None else output)], ck.width)
        objects = {hashlib.sha256(x).digest(): x for x in [total, ck.public_context, *cts]}
        out_hash = hashlib.sha256(total).digest()
        agg = E.seal(epb.Aggregate(output_ciphertext_hash=out_hash, contribution_hashes=[hashes[i] for i in chosen]),
                     keys["coordinator"], sender="coordinator", receiver="keyholder", cid=CID, binding=binding,
                     answers=env.message_hash(req), objects=[out_hash])
        att = E.seal(epb.Attestation(output_ciphertext_hash=out_hash, contribution_hashes=[hashes[i] for i in chosen],
                                     requester_warnings=["a/P activities[0]: example warning"]),
                     keys["a"], sender="a", cid=CID, binding=binding, answers=env.message_hash(agg))
        item = kpb.DecryptionNeeded(calculation_request=req, aggregate=agg, attestations=[att], evidence=envelopes)
        plug(kh, Recorder(objects))
        return item

    yield kh, build
    kh.pool.shutdown()


def test_decrypts_once_then_resends_the_same_result_and_never_decrypts_again(setup):
    kh, build = setup
    item = build()
    kh.decrypt(item)
    (first,) = sent(kh).submitted
    result = env.parse_unverified(first)
    assert result.body.message_type == MT.MESSAGE_TYPE_RESULT and result.body.sender == "keyholder"
    doc = json.loads(result.payload.result_json)
    assert doc["total_kgco2e"] == pytest.approx(1000.0, rel=1e-7) and doc["warnings_count"] == 3
    assert doc["per_kwh_kgco2e"] == pytest.approx(1.0, rel=1e-7) and doc["precision"] == 1e-8
    assert doc["warnings"] == ["a/P activities[0]: example warning"]
    assert not kh.store.secret_path(CID).exists()  # the key is destroyed after its one use
    kh.decrypt(item)  # asked again: the same signed bytes, no second decryption
    assert sent(kh).submitted[-1] == first


def test_a_crash_while_decrypting_never_allows_a_second_decryption(setup):
    kh, build = setup
    item = build()
    with kh.store.sessions.begin() as s:
        s.get(KeyedCalculation, CID).state = "decrypting"  # recorded durably, then the process died
    kh.decrypt(item)
    refusal = env.parse_unverified(sent(kh).submitted[-1])
    assert refusal.body.message_type == MT.MESSAGE_TYPE_REFUSAL
    assert refusal.payload.code == cpb.REFUSAL_CODE_ALREADY_DECRYPTED


def test_a_nonzero_check_slot_withholds_the_result(setup):
    kh, build = setup
    kh.decrypt(build(check_slot=5.0))
    refusal = env.parse_unverified(sent(kh).submitted[-1])
    assert refusal.payload.code == cpb.REFUSAL_CODE_CHECK_SLOT_NONZERO


def test_an_unattested_aggregate_is_not_decrypted(setup):
    kh, build = setup
    item = build()
    del item.attestations[:]
    kh.decrypt(item)
    assert env.parse_unverified(sent(kh).submitted[-1]).payload.code == cpb.REFUSAL_CODE_NOT_ATTESTED
    assert kh.store.secret_path(CID).exists()


def test_citation_counts_go_to_the_factor_provider_signed_and_not_into_the_result(setup):
    kh, build = setup
    item = build(cited=(8, 10, 10), contributions=2)
    kh.decrypt(item)
    result, report = env.parse_unverified(sent(kh).submitted[-1]), sent(kh).reports[-1]
    assert result.body.message_type == MT.MESSAGE_TYPE_RESULT
    assert "citation" not in result.payload.result_json.decode()        # the requester does not get them
    opened = env.parse_unverified(report)
    assert opened.body.message_type == MT.MESSAGE_TYPE_CITATION_REPORT and opened.body.receiver == "factor-lab"
    assert list(opened.payload.counts) == [1, 0, 2] and opened.payload.contributions == 2
    assert opened.body.answers_hash == result.body.answers_hash         # both answer the same aggregate
    kh.decrypt(item)                                                   # resent after a restart: the same report
    assert sent(kh).reports[-1] == report


def test_citation_counts_beyond_the_number_of_contributions_withhold_the_result(setup):
    kh, build = setup
    kh.decrypt(build(cited=(9, 9, 9), contributions=2))   # a node (or a forged ciphertext) inflated a count
    refusal = env.parse_unverified(sent(kh).submitted[-1])
    assert refusal.payload.code == cpb.REFUSAL_CODE_OUT_OF_BOUNDS
    assert sent(kh).reports[-1] is None


def test_a_one_contribution_aggregate_the_requester_attested_is_withheld_by_the_key_holders_own_check(setup):
    """#11 item 1: a requester colluding with the coordinator attests an aggregate of supplier b's
    contribution alone. The key holder re-runs completeness itself and withholds it, key intact."""
    kh, build = setup
    kh.decrypt(build(contributions=2, summed=[1]))
    refusal = env.parse_unverified(sent(kh).submitted[-1])
    assert refusal.body.message_type == MT.MESSAGE_TYPE_REFUSAL
    assert refusal.payload.code == cpb.REFUSAL_CODE_UNEXPECTED
    assert kh.store.secret_path(CID).exists()    # nothing was decrypted


def test_an_attested_aggregate_whose_output_is_one_contribution_alone_is_withheld(setup):
    """The aggregate lists every contribution, but its output ciphertext is b's alone: the key
    holder re-adds the listed contributions itself and finds another ciphertext."""
    kh, build = setup
    kh.decrypt(build(contributions=2, output=[1]))
    refusal = env.parse_unverified(sent(kh).submitted[-1])
    assert refusal.payload.code == cpb.REFUSAL_CODE_HASH_MISMATCH
    assert kh.store.secret_path(CID).exists()


def test_an_aggregate_of_two_contributions_is_released(setup):
    kh, build = setup
    kh.decrypt(build(contributions=2))
    result = env.parse_unverified(sent(kh).submitted[-1])
    assert result.body.message_type == MT.MESSAGE_TYPE_RESULT
    assert json.loads(result.payload.result_json)["total_kgco2e"] == pytest.approx(1000.0, rel=1e-7)


def test_a_product_footprint_is_released_without_per_kwh_figures(setup):
    kh, build = setup
    kh.decrypt(build(lifetime=0.0))
    doc = json.loads(env.parse_unverified(sent(kh).submitted[-1]).payload.result_json)
    assert doc["total_kgco2e"] == pytest.approx(1000.0, rel=1e-7) and doc["declaration"] is None
    assert doc["lifetime_energy_kwh"] is None and doc["per_kwh_kgco2e"] is None
    assert doc["stages_per_kwh_kgco2e"] is None and doc["primary_data_share"] == pytest.approx(0.7, rel=1e-7)


def test_a_declaration_at_0_kwh_is_withheld(setup):
    kh, build = setup
    kh.decrypt(build(lifetime=0.0, declaration='{"method": "miit-2025"}'))
    refusal = env.parse_unverified(sent(kh).submitted[-1])
    assert refusal.body.message_type == MT.MESSAGE_TYPE_REFUSAL
    assert refusal.payload.code == cpb.REFUSAL_CODE_MALFORMED and "product footprint" in refusal.payload.message


def test_a_calculation_without_a_quantity_commitment_is_not_decrypted(setup):
    kh, build = setup
    kh.decrypt(build(committed=False))
    refusal = env.parse_unverified(sent(kh).submitted[-1])
    assert refusal.payload.code == cpb.REFUSAL_CODE_QUANTITIES_UNCOMMITTED
    assert kh.store.secret_path(CID).exists()   # refused before the one decryption: the key is intact


class ObjectStoreRecorder:
    """The coordinator's object and key services as far as make_key uses them (plumbing only)."""

    def __init__(self):
        self.objects, self.announced = {}, []

    def StatObject(self, request, timeout=None):
        return opb.StatObjectResponse(complete=request.object_hash in self.objects)

    def PushObject(self, request, timeout=None):
        self.objects[request.object_hash] = self.objects.get(request.object_hash, b"") + request.data
        done = len(self.objects[request.object_hash]) == request.total_size
        return opb.PushObjectResponse(complete=done, received_bytes=len(self.objects[request.object_hash]))

    def PublishKey(self, request, timeout=None):
        self.announced.append(request.key_announcement)
        return kpb.PublishKeyResponse(outcome=cpb.PushOutcome(status=cpb.PUSH_STATUS_ACCEPTED))


def test_a_re_announced_key_pushes_its_public_context_again(tmp_path):
    parties = in_memory(("coordinator", "keyholder", "a"))
    kh = offline_key_holder(tmp_path, parties)
    plug(kh, ObjectStoreRecorder())
    asked = epb.CalculationRequest(target_organisation="a", key_holder="keyholder", depth_bound=1, citation_slots=5)
    request = E.seal(asked, parties["a"], sender="a", cid="calc-rekey-0000000001")
    try:
        kh.make_key(request)
        (first,) = sent(kh).announced
        ka = env.parse_unverified(first).payload
        assert ka.width == 8 + 5 and ka.context_object_hash in sent(kh).objects
        sent(kh).objects.clear()                      # the coordinator lost the object (restored backup)
        kh.make_key(request)                         # asked again: same announcement, same context bytes
        assert sent(kh).announced[-1] == first
        assert hashlib.sha256(sent(kh).objects[ka.context_object_hash]).digest() == ka.context_object_hash
    finally:
        kh.pool.shutdown()


def test_a_store_written_before_citation_reports_opens_with_its_calculations(tmp_path):
    """A key holder upgraded in place: the released version's table had no citation_report."""
    import sqlite3

    con = sqlite3.connect(tmp_path / "keyholder.db")
    con.execute("CREATE TABLE calculations (calculation_id VARCHAR(64) PRIMARY KEY, preset VARCHAR(64), "
                "state VARCHAR(16), announcement BLOB, submitted BLOB, updated_at DATETIME)")
    con.execute("INSERT INTO calculations VALUES ('calc-1', 'ckks-n16384-d7', 'released', x'01', x'02', "
                "'2026-11-25 08:00:00')")
    con.commit()
    con.close()
    store = KeyHolderStore(tmp_path)
    with store.sessions() as s:
        row = s.get_one(KeyedCalculation, "calc-1")
        assert (row.state, row.submitted, row.citation_report) == ("released", b"\x02", None)
        row.citation_report = b"report"
        s.commit()
    assert KeyHolderStore(tmp_path).sessions().get_one(KeyedCalculation, "calc-1").citation_report == b"report"
