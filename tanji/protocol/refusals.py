"""One refusal model for every party: `Refusal(code, message)` and the catalogue of codes.

A refusal carries a wire `RefusalCode` (what tests and peers act on) and a detail message for
the party it concerns. The catalogue maps each code to the gRPC status an RPC ends with and
to the public text anyone may read, so that no caller picks a status or a code by matching
prose. Decrypted values and other parties' names belong in the detail, never in public text.
"""
from __future__ import annotations

from dataclasses import dataclass

import grpc

from tanji.errors import TanjiError
from tanji.v1 import common_pb2 as cpb

SC = grpc.StatusCode


@dataclass(frozen=True)
class Entry:
    status: grpc.StatusCode
    public: str


#: code -> (gRPC status when an RPC itself is refused, text safe to show any party)
CATALOGUE: dict[int, Entry] = {
    cpb.REFUSAL_CODE_MALFORMED: Entry(SC.INVALID_ARGUMENT, "the message is malformed"),
    cpb.REFUSAL_CODE_BAD_SIGNATURE: Entry(SC.UNAUTHENTICATED, "the signature does not verify"),
    cpb.REFUSAL_CODE_UNKNOWN_PARTY: Entry(SC.PERMISSION_DENIED, "the party is not allowed here"),
    cpb.REFUSAL_CODE_VERSION_MISMATCH: Entry(SC.FAILED_PRECONDITION, "the protocol version is not spoken"),
    cpb.REFUSAL_CODE_UNKNOWN_MESSAGE_TYPE: Entry(SC.INVALID_ARGUMENT, "the message type is unknown"),
    cpb.REFUSAL_CODE_WRONG_RECEIVER: Entry(SC.INVALID_ARGUMENT, "the message is addressed to another party"),
    cpb.REFUSAL_CODE_REPLAY: Entry(SC.ALREADY_EXISTS, "the message was seen before or is out of its time window"),
    cpb.REFUSAL_CODE_DUPLICATE: Entry(SC.ALREADY_EXISTS, "the request was already answered"),
    cpb.REFUSAL_CODE_UNKNOWN_CALCULATION: Entry(SC.NOT_FOUND, "the calculation is unknown"),
    cpb.REFUSAL_CODE_UNEXPECTED: Entry(SC.FAILED_PRECONDITION, "the message answers nothing that was asked"),
    cpb.REFUSAL_CODE_WRONG_KEY: Entry(SC.FAILED_PRECONDITION, "the key is not the calculation's key"),
    cpb.REFUSAL_CODE_UNTRUSTED_KEY_HOLDER: Entry(SC.PERMISSION_DENIED, "the key holder is not a listed key holder"),
    cpb.REFUSAL_CODE_WRONG_PARAMETERS: Entry(SC.FAILED_PRECONDITION, "the encryption parameters are not pinned"),
    cpb.REFUSAL_CODE_FACTOR_SET_MISMATCH: Entry(SC.FAILED_PRECONDITION, "the factor set differs"),
    cpb.REFUSAL_CODE_METHOD_MISMATCH: Entry(SC.FAILED_PRECONDITION, "the method profile differs"),
    cpb.REFUSAL_CODE_SLOT_LAYOUT_MISMATCH: Entry(SC.FAILED_PRECONDITION, "the slot layout differs"),
    cpb.REFUSAL_CODE_WRONG_LEVEL: Entry(SC.FAILED_PRECONDITION, "the ciphertext is not at the transit level"),
    cpb.REFUSAL_CODE_MISSING_OBJECT: Entry(SC.FAILED_PRECONDITION, "a named object is missing"),
    cpb.REFUSAL_CODE_HASH_MISMATCH: Entry(SC.INVALID_ARGUMENT, "a hash does not match"),
    cpb.REFUSAL_CODE_TOO_LARGE: Entry(SC.RESOURCE_EXHAUSTED, "the message or object is above the limit"),
    cpb.REFUSAL_CODE_UNKNOWN_PRODUCT: Entry(SC.NOT_FOUND, "the product is not served"),
    cpb.REFUSAL_CODE_UNIT_MISMATCH: Entry(SC.INVALID_ARGUMENT, "the unit cannot be converted"),
    cpb.REFUSAL_CODE_INSUFFICIENT_LEVELS: Entry(SC.FAILED_PRECONDITION, "the key has too few levels for the depth"),
    cpb.REFUSAL_CODE_CUSTOMER_NOT_APPROVED: Entry(SC.PERMISSION_DENIED, "the supplier does not answer this customer"),
    cpb.REFUSAL_CODE_RATE_LIMITED: Entry(SC.RESOURCE_EXHAUSTED, "the rate limit is reached"),
    cpb.REFUSAL_CODE_TOO_FEW_CONTRIBUTORS: Entry(SC.FAILED_PRECONDITION, "too few contributors"),
    cpb.REFUSAL_CODE_DEPTH_EXCEEDED: Entry(SC.FAILED_PRECONDITION, "the declared depth bound is exceeded"),
    cpb.REFUSAL_CODE_QUANTITIES_UNCOMMITTED: Entry(SC.FAILED_PRECONDITION, "the requester committed no quantities"),
    cpb.REFUSAL_CODE_COMMITMENT_MISMATCH: Entry(SC.FAILED_PRECONDITION, "the quantities differ from their commitment"),
    cpb.REFUSAL_CODE_DECLARED_DEAD: Entry(SC.FAILED_PRECONDITION, "the supplier was declared dead"),
    cpb.REFUSAL_CODE_DEADLINE_EXCEEDED: Entry(SC.DEADLINE_EXCEEDED, "the calculation's deadline passed"),
    cpb.REFUSAL_CODE_NOT_ATTESTED: Entry(SC.FAILED_PRECONDITION, "the aggregate is not attested"),
    cpb.REFUSAL_CODE_ALREADY_DECRYPTED: Entry(SC.ALREADY_EXISTS, "the result was already decrypted"),
    cpb.REFUSAL_CODE_CHECK_SLOT_NONZERO: Entry(SC.FAILED_PRECONDITION, "the check slot is not zero"),
    cpb.REFUSAL_CODE_OUT_OF_BOUNDS: Entry(SC.FAILED_PRECONDITION, "the decrypted figures are out of bounds"),
    cpb.REFUSAL_CODE_PRECISION_NOT_REACHED: Entry(SC.FAILED_PRECONDITION,
                                                  "the decrypted figures are below the encryption's noise"),
    cpb.REFUSAL_CODE_INTERNAL: Entry(SC.INTERNAL, "internal error"),
}
_UNKNOWN = Entry(SC.UNKNOWN, "refused")


def entry(code: int) -> Entry:
    return CATALOGUE.get(code, _UNKNOWN)


def code_name(code: int) -> str:
    try:
        return cpb.RefusalCode.Name(code)
    except ValueError:
        return f"REFUSAL_CODE_{code}"


def grpc_status(code: int) -> grpc.StatusCode:
    return entry(code).status


def public_text(code: int) -> str:
    return entry(code).public


class Refusal(TanjiError):
    """Something is refused by rule; `code` is the wire RefusalCode, `message` the detail."""

    def __init__(self, code: int, message: str):
        self.code = code
        self.message = message
        super().__init__(f"{code_name(code)}: {message}")

    @property
    def name(self) -> str:
        return code_name(self.code)

    @property
    def status(self) -> grpc.StatusCode:
        return grpc_status(self.code)

    @property
    def public(self) -> str:
        return public_text(self.code)
