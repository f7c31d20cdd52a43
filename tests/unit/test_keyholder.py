"""The key holder decrypts an attested aggregate once — never twice, also after a crash —
and withholds a result whose check slot or bounds show tampering. Real CKKS, real signatures;
only the gRPC stubs are replaced by recorders (pure plumbing)."""
import hashlib
import json
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from tanji.he import tasks as he_tasks
from tanji.keyholder.daemon import KeyHolder
from tanji.keyholder.store import KeyedCalculation, KeyHolderStore
from tanji.protocol import envelope as env
from tanji.protocol.federation import Federation, ListedParty
from tanji.protocol.signing import SigningKey
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import key_holder_pb2 as kpb
from tanji.v1 import objects_pb2 as opb

MT = epb.MessageType
CID = "calc-keyholder-000000000001"


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


def evidence(keys, req, contributions: list[bytes]):
    """A complete calculation's signed evidence: a's own product (the root, `contributions[0]`) and,
    with a second contribution, the one supplier b it requests from. (envelopes, the contributions'
    message hashes in the order of `contributions`)."""
    def sealed(mt, sender, answers, receiver="coordinator"):
        b = env.new_body(mt, calculation_id=CID, sender=sender, receiver=receiver)
        b.answers_hash = answers
        return b

    def contribution(sender, answers, ct):
        b = sealed(MT.MESSAGE_TYPE_CONTRIBUTION, sender, answers)
        b.contribution.product_id, b.contribution.ciphertext_hash = "P", hashlib.sha256(ct).digest()
        return env.seal(b, keys[sender])

    root, out, supplier = env.message_hash(req), [], []
    declared = sealed(MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS, "a", root)
    declared.declaration.SetInParent()
    if len(contributions) > 1:
        b = sealed(MT.MESSAGE_TYPE_REQUEST, "a", root, receiver="b")
        b.request.supplier, b.request.product_id, b.request.quantity_unit = "b", "B", "kg"
        b.request.weight_object_hash = weight = b"\x07" * 32
        request = env.seal(b, keys["a"])
        declared.declaration.requests.add(supplier="b", product_id="B", quantity_unit="kg", weight_object_hash=weight,
                                          request_hash=env.message_hash(request))
        b = sealed(MT.MESSAGE_TYPE_MERGED_REQUEST, "coordinator", b"", receiver="b")
        b.merged_request.supplier, b.merged_request.product_id = "b", "B"
        b.merged_request.parts.add(quantity_unit="kg", weight_object_hash=weight).requests.add(
            buyer="a", request_hash=env.message_hash(request), weight_object_hash=weight)
        merged = env.seal(b, keys["coordinator"])
        leaf = sealed(MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS, "b", env.message_hash(merged))
        leaf.declaration.SetInParent()
        supplier = [contribution("b", env.message_hash(merged), contributions[1])]
        out += [request, merged, env.seal(leaf, keys["b"]), *supplier]
    out += [env.seal(declared, keys["a"]), contribution("a", root, contributions[0])]
    return out, [env.message_hash(e) for e in (out[-1], *supplier)]


@pytest.fixture
def setup(tmp_path):
    keys = {p: SigningKey.generate() for p in ("coordinator", "keyholder", "a", "b")}
    roles = {"coordinator": "coordinator", "keyholder": "key_holder", "a": "node", "b": "node"}
    fed = Federation({p: ListedParty(p, roles[p], k.public_raw) for p, k in keys.items()})
    kh = KeyHolder("keyholder", KeyHolderStore(tmp_path), keys["keyholder"], fed, grpc.insecure_channel("127.0.0.1:9"))
    ck = he_tasks.keygen(1, 1, citation_slots=3)   # a factor set of three factors: slots 8, 9, 10
    kh.store.write_secret(CID, ck.secret_context)
    b = env.new_body(MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT, calculation_id=CID, sender="keyholder", receiver="coordinator")
    b.key_announcement.preset, b.key_announcement.width = ck.preset, ck.width
    b.key_announcement.context_object_hash = hashlib.sha256(ck.public_context).digest()
    b.key_announcement.key_fingerprint, b.key_announcement.ckks_params_hash = ck.key_fingerprint, ck.params_hash
    with kh.store.sessions.begin() as s:
        s.add(KeyedCalculation(calculation_id=CID, preset=ck.preset, state="keyed",
                               announcement=env.seal(b, keys["keyholder"]).SerializeToString()))

    def build(check_slot=0.0, committed=True, cited=(8, 10), contributions=1, summed=None, output=None):
        """`summed`: which contributions the aggregate lists (default: all; 0 is a's, 1 is b's);
        `output`: which its output ciphertext adds (default: those it lists)."""
        b = env.new_body(MT.MESSAGE_TYPE_CALCULATION_REQUEST, calculation_id=CID, sender="a", receiver="coordinator")
        b.method_profile.name, b.method_profile.version = "miit-2025", "1"
        b.factor_set_hash = b"\x05" * 32
        r = b.calculation_request
        r.target_organisation, r.key_holder, r.factor_set_id, r.depth_bound = "a", "keyholder", "fs", 1
        r.products.add(product_id="P", lifetime_energy_kwh=1000.0)
        r.deadline.FromDatetime(datetime.now(UTC) + timedelta(minutes=5))
        r.citation_slots, r.factor_provider = 3, "factor-lab"
        if committed:
            r.quantity_commitment = hashlib.sha256(b"salt and bill of materials").digest()
        req = env.seal(b, keys["a"])
        own = [600.0, 300.0, 50.0, 50.0, 700.0, 1500.0, 0.0, check_slot]
        cts = [he_tasks.answer(ck.public_context, None, own, 3, [], ck.width, list(cited)).contribution]
        cts += [he_tasks.answer(ck.public_context, None, [0.0] * 8, 0, [], ck.width).contribution] * (contributions - 1)
        envelopes, hashes = evidence(keys, req, cts)
        chosen = list(range(contributions)) if summed is None else summed
        total = he_tasks.add_all(ck.public_context, [cts[i] for i in (chosen if output is None else output)], ck.width)
        objects = {hashlib.sha256(x).digest(): x for x in [total, ck.public_context, *cts]}
        out_hash = hashlib.sha256(total).digest()
        b = env.new_body(MT.MESSAGE_TYPE_AGGREGATE, calculation_id=CID, sender="coordinator", receiver="keyholder")
        b.answers_hash = env.message_hash(req)
        b.factor_set_hash, b.key_fingerprint, b.ckks_params_hash = b"\x05" * 32, ck.key_fingerprint, ck.params_hash
        b.method_profile.name, b.method_profile.version = "miit-2025", "1"
        b.aggregate.output_ciphertext_hash = out_hash
        b.aggregate.contribution_hashes.extend(hashes[i] for i in chosen)
        agg = env.seal(b, keys["coordinator"])
        b = env.new_body(MT.MESSAGE_TYPE_ATTESTATION, calculation_id=CID, sender="a", receiver="coordinator")
        b.answers_hash = env.message_hash(agg)
        b.attestation.output_ciphertext_hash = out_hash
        b.attestation.contribution_hashes.extend(hashes[i] for i in chosen)
        b.attestation.requester_warnings.append("a/P activities[0]: example warning")
        att = env.seal(b, keys["a"])
        item = kpb.DecryptionNeeded(calculation_request=req, aggregate=agg, attestations=[att], evidence=envelopes)
        kh.client.key_holder_service = kh.client.node_service = Recorder(objects)
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
    assert refusal.payload.code == cpb.REFUSAL_CODE_CHECK_SLOT_NONZERO and "detected" in refusal.payload.message


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
    assert refusal.payload.code == cpb.REFUSAL_CODE_OUT_OF_BOUNDS and "citation counts" in refusal.payload.message
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
    keys = {p: SigningKey.generate() for p in ("coordinator", "keyholder", "a")}
    roles = {"coordinator": "coordinator", "keyholder": "key_holder", "a": "node"}
    fed = Federation({p: ListedParty(p, roles[p], k.public_raw) for p, k in keys.items()})
    kh = KeyHolder("keyholder", KeyHolderStore(tmp_path), keys["keyholder"], fed, grpc.insecure_channel("127.0.0.1:9"))
    kh.client.key_holder_service = kh.client.node_service = ObjectStoreRecorder()
    b = env.new_body(MT.MESSAGE_TYPE_CALCULATION_REQUEST, calculation_id="calc-rekey-0000000001", sender="a",
                     receiver="coordinator")
    r = b.calculation_request
    r.target_organisation, r.key_holder, r.depth_bound, r.citation_slots = "a", "keyholder", 1, 5
    request = env.seal(b, keys["a"])
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
        row = s.get(KeyedCalculation, "calc-1")
        assert (row.state, row.submitted, row.citation_report) == ("released", b"\x02", None)
        row.citation_report = b"report"
        s.commit()
    assert KeyHolderStore(tmp_path).sessions().get(KeyedCalculation, "calc-1").citation_report == b"report"
