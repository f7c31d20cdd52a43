"""Completeness from signed envelopes (no processes): a supplier routed a request and then
declared dead is one route, answered by its buyer's fallback; a notice naming another merged
request, or a dead supplier whose own answer is summed too, is named."""
from tanji.protocol import completeness
from tanji.protocol import envelope as env
from tanji.protocol.signing import SigningKey
from tanji.v1 import envelope_pb2 as epb

MT = epb.MessageType
KEY = SigningKey.generate()
W = b"w" * 32


def sealed(mt: int, sender: str, receiver: str, answers: bytes = b"", **payload) -> env.Opened:
    body = env.new_body(mt, calculation_id="calc-1", sender=sender, receiver=receiver)
    body.answers_hash = answers
    getattr(body, env.payload_field(mt)).MergeFrom(payload.pop("message"))
    return env.parse_unverified(env.seal(body, KEY))


def chain(dead_against: str = "merged", supplier_answers: bool = False) -> list[env.Opened]:
    """pack asks sup for P; the coordinator routes it; sup dies before answering."""
    root = sealed(MT.MESSAGE_TYPE_CALCULATION_REQUEST, "pack", "coordinator",
                  message=epb.CalculationRequest(target_organisation="pack", products=[epb.BatchItem(product_id="PACK")]))
    request = sealed(MT.MESSAGE_TYPE_REQUEST, "pack", "sup",
                     message=epb.Request(supplier="sup", product_id="P", quantity_unit="kg", weight_object_hash=W))
    own = sealed(MT.MESSAGE_TYPE_CONTRIBUTION, "pack", "coordinator", root.hash, message=epb.Contribution(product_id="PACK"))
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
        "request to sup/P was answered and also replaced by its buyers' fallbacks"]
