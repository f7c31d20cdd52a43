"""Completeness from signed envelopes (no processes): a supplier routed a request and then
declared dead is one route, answered by its buyer's fallback; a notice naming another merged
request, or a dead supplier whose own answer is summed too, is named. Then the one re-execution
an auditor and `tanji audit verify` run (tanji.protocol.reexecution), on real ciphertexts: each
way an aggregate can be wrong fails its named check with the refusal code an auditor sends."""
import hashlib

import pytest

from tanji.protocol import completeness, reexecution
from tanji.protocol import envelope as env
from tanji.protocol.signing import SigningKey
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tests.harness import envelopes as E

MT = epb.MessageType
KEY = SigningKey.generate()
W = b"w" * 32


def sealed(mt: int, sender: str, receiver: str, answers: bytes = b"", **payload) -> env.Opened:
    """`payload["message"]` from `sender` to `receiver` in calculation calc-1, sealed as its
    sender seals it (tests.harness.envelopes), read as its receiver reads it."""
    opened = E.opened(payload.pop("message"), KEY, sender=sender, receiver=receiver, cid="calc-1", answers=answers)
    assert opened.body.message_type == mt
    return opened


def chain(dead_against: str = "merged", supplier_answers: bool = False) -> list[env.Opened]:
    """pack asks sup for P; the coordinator routes it; sup dies before answering."""
    root = sealed(MT.MESSAGE_TYPE_CALCULATION_REQUEST, "pack", "coordinator", message=epb.CalculationRequest(
        target_organisation="pack", products=[epb.BatchItem(product_id="PACK")]))
    request = sealed(MT.MESSAGE_TYPE_REQUEST, "pack", "sup",
                     message=epb.Request(supplier="sup", product_id="P", quantity_unit="kg", weight_object_hash=W))
    own = sealed(MT.MESSAGE_TYPE_CONTRIBUTION, "pack", "coordinator", root.hash,
                 message=epb.Contribution(product_id="PACK"))
    declared = sealed(MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS, "pack", "coordinator", root.hash,
                      message=epb.Declaration(requests=[epb.DeclaredRequest(
                          supplier="sup", product_id="P", quantity_unit="kg", weight_object_hash=W,
                          request_hash=request.hash)]))
    merged = sealed(MT.MESSAGE_TYPE_MERGED_REQUEST, "coordinator", "sup", message=epb.MergedRequest(
        supplier="sup", product_id="P", parts=[epb.MergedPart(quantity_unit="kg", weight_object_hash=W, requests=[
            epb.RequestRef(buyer="pack", request_hash=request.hash, weight_object_hash=W)])]))
    named = {"merged": merged.hash, "other": b"o" * 32}[dead_against]
    dead = sealed(MT.MESSAGE_TYPE_DEAD_SUPPLIER, "coordinator", "pack", request.hash,
                  message=epb.DeadSupplier(supplier="sup", product_id="P", merged_request_hash=named))
    fallback = sealed(MT.MESSAGE_TYPE_FALLBACK_CONTRIBUTION, "pack", "coordinator", dead.hash,
                      message=epb.FallbackContribution(supplier="sup", product_id="P", request_hash=request.hash))
    out = [root, request, own, declared, merged, dead, fallback]
    if supplier_answers:
        out += [sealed(MT.MESSAGE_TYPE_CONTRIBUTION, "sup", "coordinator", merged.hash,
                       message=epb.Contribution(product_id="P")),
                sealed(MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS, "sup", "coordinator", merged.hash,
                       message=epb.Declaration())]
    return out


def test_a_supplier_that_died_after_its_request_was_routed_is_replaced_once():
    assert completeness.problems(chain()) == []


def test_a_dead_supplier_notice_against_another_merged_request_is_named():
    assert completeness.problems(chain(dead_against="other")) == [
        "request pack->sup/P is declared dead against another merged request than the one it was routed in"]


def test_a_dead_supplier_whose_own_answer_is_summed_too_is_named():
    assert completeness.problems(chain(supplier_answers=True)) == [
        "dead supplier sup/P (notice to pack): sup's own contribution to that request is in the bundle",
        "request to sup/P was answered and also replaced by its buyers' fallbacks"]


def test_a_dead_supplier_whose_own_answer_is_at_hand_but_not_summed_is_named():
    """Its answer proves it was alive; the fallback that replaced it must not stand (decision 0010)."""
    envelopes = chain(supplier_answers=True)
    summed = [o.hash for o in envelopes if o.body.message_type == MT.MESSAGE_TYPE_FALLBACK_CONTRIBUTION
              or (o.body.message_type == MT.MESSAGE_TYPE_CONTRIBUTION and o.body.sender == "pack")]
    assert completeness.problems(envelopes, "delivered", summed) == [
        "dead supplier sup/P (notice to pack): sup's own contribution to that request is delivered"]


def test_a_fallback_resting_on_a_notice_its_supplier_contested_is_named():
    envelopes = chain()
    (notice,) = [o for o in envelopes if o.body.message_type == MT.MESSAGE_TYPE_DEAD_SUPPLIER]
    contest = sealed(MT.MESSAGE_TYPE_REFUSAL, "sup", "coordinator", notice.hash,
                     message=epb.Refusal(code=cpb.REFUSAL_CODE_DECLARED_DEAD, message="alive"))
    assert completeness.problems([*envelopes, contest]) == [
        "dead supplier sup/P (notice to pack): sup contests the notice, signed"]
    # another party's refusal of the notice, or another code, is no contest by the supplier
    other = sealed(MT.MESSAGE_TYPE_REFUSAL, "pack", "coordinator", notice.hash,
                   message=epb.Refusal(code=cpb.REFUSAL_CODE_DECLARED_DEAD, message="?"))
    assert completeness.problems([*envelopes, other]) == []


# --------------------------------------------------------------- the re-execution (real ciphertexts)

class Calculation:
    """pack asks sup for 2.5 kg of P; both answer; the coordinator sums both contributions.
    `doubled`: the coordinator sends sup Enc(2w) = w + w instead of pack's request."""

    def __init__(self, doubled: bool = False):
        from tanji.he import tasks

        self.keys = keys = tasks.keygen(1)
        self.objects: dict[bytes, bytes] = {}
        self.root = sealed(MT.MESSAGE_TYPE_CALCULATION_REQUEST, "pack", "coordinator", message=epb.CalculationRequest(
            target_organisation="pack", products=[epb.BatchItem(product_id="PACK")], key_holder="keyholder"))
        self.key = sealed(MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT, "keyholder", "coordinator", self.root.hash,
                          message=epb.KeyAnnouncement(context_object_hash=self.put(keys.public_context), width=8))
        mine = tasks.answer(keys.public_context, None, [4.0, 1, 0, 0, 2, 3, 0, 0], 0, [2.5])
        request = sealed(MT.MESSAGE_TYPE_REQUEST, "pack", "sup", message=epb.Request(
            supplier="sup", product_id="P", quantity_unit="kg", weight_object_hash=self.put(mine.requests[0])))
        w = request.payload.weight_object_hash
        sent = tasks.add_all(keys.public_context, [mine.requests[0]] * 2, 8) if doubled else mine.requests[0]
        self.own = self.contribution("pack", self.root.hash, mine.contribution)
        merged = sealed(MT.MESSAGE_TYPE_MERGED_REQUEST, "coordinator", "sup", message=epb.MergedRequest(
            supplier="sup", product_id="P", parts=[epb.MergedPart(quantity_unit="kg", weight_object_hash=self.put(sent),
                                                                  requests=[epb.RequestRef(
                                                                      buyer="pack", request_hash=request.hash,
                                                                      weight_object_hash=w)])]))
        theirs = tasks.answer(keys.public_context, [(sent, 1.0)], [1.0, 0, 0, 0, 0.5, 1, 0, 0], 1, [])
        self.sup = self.contribution("sup", merged.hash, theirs.contribution)
        self.evidence = [self.root, self.key, request, merged, self.own, self.sup,
                         sealed(MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS, "pack", "coordinator", self.root.hash,
                                message=epb.Declaration(requests=[epb.DeclaredRequest(
                                    supplier="sup", product_id="P", quantity_unit="kg", weight_object_hash=w,
                                    request_hash=request.hash)])),
                         sealed(MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS, "sup", "coordinator", merged.hash,
                                message=epb.Declaration())]

    def put(self, data: bytes) -> bytes:
        h = hashlib.sha256(data).digest()
        self.objects[h] = data
        return h

    def contribution(self, sender: str, answers: bytes, ct: bytes, cid: str = "calc-1") -> env.Opened:
        o = sealed(MT.MESSAGE_TYPE_CONTRIBUTION, sender, "coordinator", answers,
                   message=epb.Contribution(product_id="X", ciphertext_hash=self.put(ct)))
        if cid != "calc-1":
            o = env.parse_unverified(E.with_fields(o.envelope, KEY, calculation_id=cid))
        return o

    def aggregate(self, listed: list[env.Opened], summed: list[env.Opened] | None = None) -> env.Opened:
        from tanji.he import tasks

        cts = [self.objects[c.payload.ciphertext_hash] for c in (listed if summed is None else summed)]
        return sealed(MT.MESSAGE_TYPE_AGGREGATE, "coordinator", "keyholder", self.root.hash, message=epb.Aggregate(
            output_ciphertext_hash=self.put(tasks.add_all(self.keys.public_context, cts, 8)),
            contribution_hashes=[c.hash for c in listed]))

    def reexecute(self, aggregate: env.Opened, extra=(), fetch=None, **kw) -> list[reexecution.Finding]:
        return list(reexecution.reexecute([*self.evidence, *extra, aggregate], self.keys.public_context,
                                          fetch or self.objects.__getitem__, where="at hand", **kw))


@pytest.fixture(scope="module")
def calc() -> Calculation:
    return Calculation()


def failure(findings) -> tuple[str, int, str]:
    """(check, refusal code, detail) of the first failed check; there must be one."""
    f = reexecution.first_failure(findings)
    assert f is not None, "every check passed"
    return f.check, f.code, f.detail


def test_an_honest_aggregate_passes_every_check(calc):
    for summed_only in (True, False):
        found = calc.reexecute(calc.aggregate([calc.own, calc.sup]), summed_only=summed_only)
        assert [(f.check, f.ok) for f in found] == [(reexecution.ANSWERS, True),
                                                    (reexecution.COMPLETENESS, True),
                                                    (reexecution.MERGED_REQUESTS, True),
                                                    (reexecution.AGGREGATION, True)], found


def test_an_aggregate_answering_another_message_than_the_calculation_request(calc):
    agg = calc.aggregate([calc.own, calc.sup])
    check, code, _ = failure(calc.reexecute(env.parse_unverified(E.with_fields(agg.envelope, KEY,
                                                                               answers_hash=calc.key.hash))))
    assert (check, code) == (reexecution.ANSWERS, cpb.REFUSAL_CODE_UNEXPECTED)


def test_bytes_served_under_another_objects_name_are_never_re_added(calc):
    """Whatever fetcher it is given, the re-execution checks each object against its name."""
    swapped = dict(calc.objects)
    swapped[calc.sup.payload.ciphertext_hash] = calc.objects[calc.own.payload.ciphertext_hash]
    check, code, detail = failure(calc.reexecute(calc.aggregate([calc.own, calc.sup]), fetch=swapped.__getitem__))
    assert (check, code) == (reexecution.AGGREGATION, cpb.REFUSAL_CODE_HASH_MISMATCH)
    assert calc.sup.payload.ciphertext_hash.hex()[:16] in detail   # names the object


def test_another_sum_is_a_hash_mismatch(calc):
    check, code, _ = failure(calc.reexecute(calc.aggregate([calc.own, calc.sup], [calc.own, calc.sup, calc.own])))
    assert (check, code) == (reexecution.AGGREGATION, cpb.REFUSAL_CODE_HASH_MISMATCH)


def test_a_contribution_listed_and_summed_twice_is_refused_though_the_sum_matches(calc):
    check, code, _ = failure(calc.reexecute(calc.aggregate([calc.own, calc.sup, calc.sup])))
    assert (check, code) == (reexecution.AGGREGATION, cpb.REFUSAL_CODE_UNEXPECTED)


def test_a_dropped_supplier_is_incomplete_and_nothing_is_fetched_after_the_refusal(calc):
    fetched: list[bytes] = []

    def fetch(h: bytes) -> bytes:
        fetched.append(h)
        return calc.objects[h]

    found = reexecution.reexecute([*calc.evidence, calc.aggregate([calc.own])], calc.keys.public_context, fetch,
                                  where="at hand")
    check, code, detail = failure(found)
    assert (check, code) == (reexecution.COMPLETENESS, cpb.REFUSAL_CODE_UNEXPECTED)
    assert "sup/P" in detail                      # names the unanswered request
    assert fetched == []                          # lazy: an auditor runs nothing after its refusal


def test_a_contribution_of_another_calculation_in_the_sum(calc):
    old = calc.contribution("sup", calc.sup.body.answers_hash, calc.objects[calc.sup.payload.ciphertext_hash], "calc-0")
    check, code, _ = failure(calc.reexecute(calc.aggregate([calc.own, old], [calc.own, calc.sup]), [old]))
    assert (check, code) == (reexecution.AGGREGATION, cpb.REFUSAL_CODE_UNEXPECTED)


def test_a_summed_contribution_or_its_ciphertext_not_at_hand(calc):
    agg = calc.aggregate([calc.own, calc.sup])
    found = list(reexecution.reexecute([e for e in calc.evidence if e is not calc.sup] + [agg],
                                       calc.keys.public_context, calc.objects.__getitem__, where="at hand"))
    assert failure(found)[:2] == (reexecution.AGGREGATION, cpb.REFUSAL_CODE_MISSING_OBJECT)
    without = {h: data for h, data in calc.objects.items() if h != calc.sup.payload.ciphertext_hash}
    check, code, _ = failure(calc.reexecute(agg, fetch=without.__getitem__))
    assert (check, code) == (reexecution.AGGREGATION, cpb.REFUSAL_CODE_MISSING_OBJECT)


def test_a_bundle_holding_a_contribution_the_aggregate_does_not_sum(calc):
    again = calc.contribution("sup", calc.sup.body.answers_hash, calc.objects[calc.sup.payload.ciphertext_hash])
    found = {f.check: f for f in calc.reexecute(calc.aggregate([calc.own, calc.sup]), [again], summed_only=False)}
    assert (found[reexecution.COMPLETENESS].ok, found[reexecution.COMPLETENESS].code) == (
        False, cpb.REFUSAL_CODE_UNEXPECTED)   # 2 contributions answer one request
    assert not found[reexecution.AGGREGATION].ok   # the aggregate sums 2 contributions, 3 are at hand
    # an auditor counts what is summed: the extra delivery does not make the sum incomplete
    assert reexecution.first_failure(calc.reexecute(calc.aggregate([calc.own, calc.sup]), [again])) is None


def test_a_merged_request_with_another_weight():
    calc = Calculation(doubled=True)
    check, code, detail = failure(calc.reexecute(calc.aggregate([calc.own, calc.sup])))
    assert (check, code) == (reexecution.MERGED_REQUESTS, cpb.REFUSAL_CODE_HASH_MISMATCH)
    assert "sup/P" in detail                      # names the merged request


def test_a_context_other_than_the_announced_one(calc):
    from tanji.he import tasks

    found = reexecution.reexecute([*calc.evidence, calc.aggregate([calc.own, calc.sup])],
                                  tasks.keygen(1).public_context, calc.objects.__getitem__, where="at hand")
    assert failure(found)[:2] == (reexecution.AGGREGATION, cpb.REFUSAL_CODE_HASH_MISMATCH)
