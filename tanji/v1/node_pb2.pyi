import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tanji.v1 import common_pb2 as _common_pb2
from tanji.v1 import envelope_pb2 as _envelope_pb2
from tanji.v1 import objects_pb2 as _objects_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RegisterRequest(_message.Message):
    __slots__ = ("registration",)
    REGISTRATION_FIELD_NUMBER: _ClassVar[int]
    registration: _envelope_pb2.Envelope
    def __init__(self, registration: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ...) -> None: ...

class RegisterResponse(_message.Message):
    __slots__ = ("outcome", "coordinator_id", "protocol_version", "software_version", "limits", "customers")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    COORDINATOR_ID_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_VERSION_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    outcome: _common_pb2.PushOutcome
    coordinator_id: str
    protocol_version: int
    software_version: str
    limits: _common_pb2.Limits
    customers: _containers.RepeatedCompositeFieldContainer[Customer]
    def __init__(self, outcome: _Optional[_Union[_common_pb2.PushOutcome, _Mapping]] = ..., coordinator_id: _Optional[str] = ..., protocol_version: _Optional[int] = ..., software_version: _Optional[str] = ..., limits: _Optional[_Union[_common_pb2.Limits, _Mapping]] = ..., customers: _Optional[_Iterable[_Union[Customer, _Mapping]]] = ...) -> None: ...

class Customer(_message.Message):
    __slots__ = ("buyer", "buyer_product", "supplier_product", "buyer_suppliers")
    BUYER_FIELD_NUMBER: _ClassVar[int]
    BUYER_PRODUCT_FIELD_NUMBER: _ClassVar[int]
    SUPPLIER_PRODUCT_FIELD_NUMBER: _ClassVar[int]
    BUYER_SUPPLIERS_FIELD_NUMBER: _ClassVar[int]
    buyer: str
    buyer_product: str
    supplier_product: str
    buyer_suppliers: int
    def __init__(self, buyer: _Optional[str] = ..., buyer_product: _Optional[str] = ..., supplier_product: _Optional[str] = ..., buyer_suppliers: _Optional[int] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("party_id", "software_version")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_VERSION_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    software_version: str
    def __init__(self, party_id: _Optional[str] = ..., software_version: _Optional[str] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("lease_expires_at", "next_heartbeat_seconds", "messages_waiting", "granted_at")
    LEASE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_HEARTBEAT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_WAITING_FIELD_NUMBER: _ClassVar[int]
    GRANTED_AT_FIELD_NUMBER: _ClassVar[int]
    lease_expires_at: _timestamp_pb2.Timestamp
    next_heartbeat_seconds: int
    messages_waiting: bool
    granted_at: _timestamp_pb2.Timestamp
    def __init__(self, lease_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_heartbeat_seconds: _Optional[int] = ..., messages_waiting: _Optional[bool] = ..., granted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PullMessagesRequest(_message.Message):
    __slots__ = ("party_id", "ack_cursor", "max_messages", "wait_ms")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    ACK_CURSOR_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    ack_cursor: int
    max_messages: int
    wait_ms: int
    def __init__(self, party_id: _Optional[str] = ..., ack_cursor: _Optional[int] = ..., max_messages: _Optional[int] = ..., wait_ms: _Optional[int] = ...) -> None: ...

class DeliveredEnvelope(_message.Message):
    __slots__ = ("sequence", "envelope")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    envelope: _envelope_pb2.Envelope
    def __init__(self, sequence: _Optional[int] = ..., envelope: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ...) -> None: ...

class PullMessagesResponse(_message.Message):
    __slots__ = ("messages", "more")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[DeliveredEnvelope]
    more: bool
    def __init__(self, messages: _Optional[_Iterable[_Union[DeliveredEnvelope, _Mapping]]] = ..., more: _Optional[bool] = ...) -> None: ...

class PushMessagesRequest(_message.Message):
    __slots__ = ("party_id", "envelopes")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    ENVELOPES_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    envelopes: _containers.RepeatedCompositeFieldContainer[_envelope_pb2.Envelope]
    def __init__(self, party_id: _Optional[str] = ..., envelopes: _Optional[_Iterable[_Union[_envelope_pb2.Envelope, _Mapping]]] = ...) -> None: ...

class PushMessagesResponse(_message.Message):
    __slots__ = ("outcomes",)
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedCompositeFieldContainer[_common_pb2.PushOutcome]
    def __init__(self, outcomes: _Optional[_Iterable[_Union[_common_pb2.PushOutcome, _Mapping]]] = ...) -> None: ...

class ProveInclusionRequest(_message.Message):
    __slots__ = ("party_id", "envelope_hashes")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_HASHES_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    envelope_hashes: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, party_id: _Optional[str] = ..., envelope_hashes: _Optional[_Iterable[bytes]] = ...) -> None: ...

class SignedTreeHead(_message.Message):
    __slots__ = ("log_id", "tree_size", "root", "timestamp_ms", "signature")
    LOG_ID_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    log_id: str
    tree_size: int
    root: bytes
    timestamp_ms: int
    signature: bytes
    def __init__(self, log_id: _Optional[str] = ..., tree_size: _Optional[int] = ..., root: _Optional[bytes] = ..., timestamp_ms: _Optional[int] = ..., signature: _Optional[bytes] = ...) -> None: ...

class InclusionProof(_message.Message):
    __slots__ = ("envelope_hash", "found", "index", "path")
    ENVELOPE_HASH_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    envelope_hash: bytes
    found: bool
    index: int
    path: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, envelope_hash: _Optional[bytes] = ..., found: _Optional[bool] = ..., index: _Optional[int] = ..., path: _Optional[_Iterable[bytes]] = ...) -> None: ...

class ProveInclusionResponse(_message.Message):
    __slots__ = ("tree_head", "proofs")
    TREE_HEAD_FIELD_NUMBER: _ClassVar[int]
    PROOFS_FIELD_NUMBER: _ClassVar[int]
    tree_head: SignedTreeHead
    proofs: _containers.RepeatedCompositeFieldContainer[InclusionProof]
    def __init__(self, tree_head: _Optional[_Union[SignedTreeHead, _Mapping]] = ..., proofs: _Optional[_Iterable[_Union[InclusionProof, _Mapping]]] = ...) -> None: ...
