from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PartyRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PARTY_ROLE_UNSPECIFIED: _ClassVar[PartyRole]
    PARTY_ROLE_NODE: _ClassVar[PartyRole]
    PARTY_ROLE_REQUESTER: _ClassVar[PartyRole]
    PARTY_ROLE_KEY_HOLDER: _ClassVar[PartyRole]
    PARTY_ROLE_AUDITOR: _ClassVar[PartyRole]
    PARTY_ROLE_COORDINATOR: _ClassVar[PartyRole]
    PARTY_ROLE_FACTOR_PROVIDER: _ClassVar[PartyRole]

class RefusalCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REFUSAL_CODE_UNSPECIFIED: _ClassVar[RefusalCode]
    REFUSAL_CODE_MALFORMED: _ClassVar[RefusalCode]
    REFUSAL_CODE_BAD_SIGNATURE: _ClassVar[RefusalCode]
    REFUSAL_CODE_UNKNOWN_PARTY: _ClassVar[RefusalCode]
    REFUSAL_CODE_VERSION_MISMATCH: _ClassVar[RefusalCode]
    REFUSAL_CODE_UNKNOWN_MESSAGE_TYPE: _ClassVar[RefusalCode]
    REFUSAL_CODE_WRONG_RECEIVER: _ClassVar[RefusalCode]
    REFUSAL_CODE_REPLAY: _ClassVar[RefusalCode]
    REFUSAL_CODE_DUPLICATE: _ClassVar[RefusalCode]
    REFUSAL_CODE_UNKNOWN_CALCULATION: _ClassVar[RefusalCode]
    REFUSAL_CODE_UNEXPECTED: _ClassVar[RefusalCode]
    REFUSAL_CODE_WRONG_KEY: _ClassVar[RefusalCode]
    REFUSAL_CODE_UNTRUSTED_KEY_HOLDER: _ClassVar[RefusalCode]
    REFUSAL_CODE_WRONG_PARAMETERS: _ClassVar[RefusalCode]
    REFUSAL_CODE_FACTOR_SET_MISMATCH: _ClassVar[RefusalCode]
    REFUSAL_CODE_METHOD_MISMATCH: _ClassVar[RefusalCode]
    REFUSAL_CODE_SLOT_LAYOUT_MISMATCH: _ClassVar[RefusalCode]
    REFUSAL_CODE_WRONG_LEVEL: _ClassVar[RefusalCode]
    REFUSAL_CODE_MISSING_OBJECT: _ClassVar[RefusalCode]
    REFUSAL_CODE_HASH_MISMATCH: _ClassVar[RefusalCode]
    REFUSAL_CODE_TOO_LARGE: _ClassVar[RefusalCode]
    REFUSAL_CODE_UNKNOWN_PRODUCT: _ClassVar[RefusalCode]
    REFUSAL_CODE_UNIT_MISMATCH: _ClassVar[RefusalCode]
    REFUSAL_CODE_INSUFFICIENT_LEVELS: _ClassVar[RefusalCode]
    REFUSAL_CODE_CUSTOMER_NOT_APPROVED: _ClassVar[RefusalCode]
    REFUSAL_CODE_RATE_LIMITED: _ClassVar[RefusalCode]
    REFUSAL_CODE_TOO_FEW_CONTRIBUTORS: _ClassVar[RefusalCode]
    REFUSAL_CODE_DEPTH_EXCEEDED: _ClassVar[RefusalCode]
    REFUSAL_CODE_QUANTITIES_UNCOMMITTED: _ClassVar[RefusalCode]
    REFUSAL_CODE_COMMITMENT_MISMATCH: _ClassVar[RefusalCode]
    REFUSAL_CODE_DECLARED_DEAD: _ClassVar[RefusalCode]
    REFUSAL_CODE_DEADLINE_EXCEEDED: _ClassVar[RefusalCode]
    REFUSAL_CODE_NOT_ATTESTED: _ClassVar[RefusalCode]
    REFUSAL_CODE_ALREADY_DECRYPTED: _ClassVar[RefusalCode]
    REFUSAL_CODE_CHECK_SLOT_NONZERO: _ClassVar[RefusalCode]
    REFUSAL_CODE_OUT_OF_BOUNDS: _ClassVar[RefusalCode]
    REFUSAL_CODE_PRECISION_NOT_REACHED: _ClassVar[RefusalCode]
    REFUSAL_CODE_INTERNAL: _ClassVar[RefusalCode]

class PushStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PUSH_STATUS_UNSPECIFIED: _ClassVar[PushStatus]
    PUSH_STATUS_ACCEPTED: _ClassVar[PushStatus]
    PUSH_STATUS_ALREADY_ACCEPTED: _ClassVar[PushStatus]
    PUSH_STATUS_REFUSED: _ClassVar[PushStatus]
PARTY_ROLE_UNSPECIFIED: PartyRole
PARTY_ROLE_NODE: PartyRole
PARTY_ROLE_REQUESTER: PartyRole
PARTY_ROLE_KEY_HOLDER: PartyRole
PARTY_ROLE_AUDITOR: PartyRole
PARTY_ROLE_COORDINATOR: PartyRole
PARTY_ROLE_FACTOR_PROVIDER: PartyRole
REFUSAL_CODE_UNSPECIFIED: RefusalCode
REFUSAL_CODE_MALFORMED: RefusalCode
REFUSAL_CODE_BAD_SIGNATURE: RefusalCode
REFUSAL_CODE_UNKNOWN_PARTY: RefusalCode
REFUSAL_CODE_VERSION_MISMATCH: RefusalCode
REFUSAL_CODE_UNKNOWN_MESSAGE_TYPE: RefusalCode
REFUSAL_CODE_WRONG_RECEIVER: RefusalCode
REFUSAL_CODE_REPLAY: RefusalCode
REFUSAL_CODE_DUPLICATE: RefusalCode
REFUSAL_CODE_UNKNOWN_CALCULATION: RefusalCode
REFUSAL_CODE_UNEXPECTED: RefusalCode
REFUSAL_CODE_WRONG_KEY: RefusalCode
REFUSAL_CODE_UNTRUSTED_KEY_HOLDER: RefusalCode
REFUSAL_CODE_WRONG_PARAMETERS: RefusalCode
REFUSAL_CODE_FACTOR_SET_MISMATCH: RefusalCode
REFUSAL_CODE_METHOD_MISMATCH: RefusalCode
REFUSAL_CODE_SLOT_LAYOUT_MISMATCH: RefusalCode
REFUSAL_CODE_WRONG_LEVEL: RefusalCode
REFUSAL_CODE_MISSING_OBJECT: RefusalCode
REFUSAL_CODE_HASH_MISMATCH: RefusalCode
REFUSAL_CODE_TOO_LARGE: RefusalCode
REFUSAL_CODE_UNKNOWN_PRODUCT: RefusalCode
REFUSAL_CODE_UNIT_MISMATCH: RefusalCode
REFUSAL_CODE_INSUFFICIENT_LEVELS: RefusalCode
REFUSAL_CODE_CUSTOMER_NOT_APPROVED: RefusalCode
REFUSAL_CODE_RATE_LIMITED: RefusalCode
REFUSAL_CODE_TOO_FEW_CONTRIBUTORS: RefusalCode
REFUSAL_CODE_DEPTH_EXCEEDED: RefusalCode
REFUSAL_CODE_QUANTITIES_UNCOMMITTED: RefusalCode
REFUSAL_CODE_COMMITMENT_MISMATCH: RefusalCode
REFUSAL_CODE_DECLARED_DEAD: RefusalCode
REFUSAL_CODE_DEADLINE_EXCEEDED: RefusalCode
REFUSAL_CODE_NOT_ATTESTED: RefusalCode
REFUSAL_CODE_ALREADY_DECRYPTED: RefusalCode
REFUSAL_CODE_CHECK_SLOT_NONZERO: RefusalCode
REFUSAL_CODE_OUT_OF_BOUNDS: RefusalCode
REFUSAL_CODE_PRECISION_NOT_REACHED: RefusalCode
REFUSAL_CODE_INTERNAL: RefusalCode
PUSH_STATUS_UNSPECIFIED: PushStatus
PUSH_STATUS_ACCEPTED: PushStatus
PUSH_STATUS_ALREADY_ACCEPTED: PushStatus
PUSH_STATUS_REFUSED: PushStatus

class MethodProfile(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class PushOutcome(_message.Message):
    __slots__ = ("message_hash", "status", "code", "message")
    MESSAGE_HASH_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message_hash: bytes
    status: PushStatus
    code: RefusalCode
    message: str
    def __init__(self, message_hash: _Optional[bytes] = ..., status: _Optional[_Union[PushStatus, str]] = ..., code: _Optional[_Union[RefusalCode, str]] = ..., message: _Optional[str] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("max_message_bytes", "max_chunk_bytes", "max_envelope_bytes", "max_envelopes_per_call", "max_ciphertext_bytes", "max_context_bytes", "heartbeat_interval_seconds", "lease_seconds", "max_clock_skew_seconds")
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_ENVELOPE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_ENVELOPES_PER_CALL_FIELD_NUMBER: _ClassVar[int]
    MAX_CIPHERTEXT_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_CONTEXT_BYTES_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_CLOCK_SKEW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    max_message_bytes: int
    max_chunk_bytes: int
    max_envelope_bytes: int
    max_envelopes_per_call: int
    max_ciphertext_bytes: int
    max_context_bytes: int
    heartbeat_interval_seconds: int
    lease_seconds: int
    max_clock_skew_seconds: int
    def __init__(self, max_message_bytes: _Optional[int] = ..., max_chunk_bytes: _Optional[int] = ..., max_envelope_bytes: _Optional[int] = ..., max_envelopes_per_call: _Optional[int] = ..., max_ciphertext_bytes: _Optional[int] = ..., max_context_bytes: _Optional[int] = ..., heartbeat_interval_seconds: _Optional[int] = ..., lease_seconds: _Optional[int] = ..., max_clock_skew_seconds: _Optional[int] = ...) -> None: ...
