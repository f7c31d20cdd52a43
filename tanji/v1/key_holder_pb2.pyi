from tanji.v1 import common_pb2 as _common_pb2
from tanji.v1 import envelope_pb2 as _envelope_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PullWorkRequest(_message.Message):
    __slots__ = ("party_id", "ack_cursor", "max_items", "wait_ms")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    ACK_CURSOR_FIELD_NUMBER: _ClassVar[int]
    MAX_ITEMS_FIELD_NUMBER: _ClassVar[int]
    WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    ack_cursor: int
    max_items: int
    wait_ms: int
    def __init__(self, party_id: _Optional[str] = ..., ack_cursor: _Optional[int] = ..., max_items: _Optional[int] = ..., wait_ms: _Optional[int] = ...) -> None: ...

class KeyNeeded(_message.Message):
    __slots__ = ("calculation_request",)
    CALCULATION_REQUEST_FIELD_NUMBER: _ClassVar[int]
    calculation_request: _envelope_pb2.Envelope
    def __init__(self, calculation_request: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ...) -> None: ...

class DecryptionNeeded(_message.Message):
    __slots__ = ("calculation_request", "key_announcement", "aggregate", "attestations", "evidence")
    CALCULATION_REQUEST_FIELD_NUMBER: _ClassVar[int]
    KEY_ANNOUNCEMENT_FIELD_NUMBER: _ClassVar[int]
    AGGREGATE_FIELD_NUMBER: _ClassVar[int]
    ATTESTATIONS_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    calculation_request: _envelope_pb2.Envelope
    key_announcement: _envelope_pb2.Envelope
    aggregate: _envelope_pb2.Envelope
    attestations: _containers.RepeatedCompositeFieldContainer[_envelope_pb2.Envelope]
    evidence: _containers.RepeatedCompositeFieldContainer[_envelope_pb2.Envelope]
    def __init__(self, calculation_request: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ..., key_announcement: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ..., aggregate: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ..., attestations: _Optional[_Iterable[_Union[_envelope_pb2.Envelope, _Mapping]]] = ..., evidence: _Optional[_Iterable[_Union[_envelope_pb2.Envelope, _Mapping]]] = ...) -> None: ...

class WorkItem(_message.Message):
    __slots__ = ("sequence", "key_needed", "decryption_needed")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    KEY_NEEDED_FIELD_NUMBER: _ClassVar[int]
    DECRYPTION_NEEDED_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    key_needed: KeyNeeded
    decryption_needed: DecryptionNeeded
    def __init__(self, sequence: _Optional[int] = ..., key_needed: _Optional[_Union[KeyNeeded, _Mapping]] = ..., decryption_needed: _Optional[_Union[DecryptionNeeded, _Mapping]] = ...) -> None: ...

class PullWorkResponse(_message.Message):
    __slots__ = ("items", "more")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[WorkItem]
    more: bool
    def __init__(self, items: _Optional[_Iterable[_Union[WorkItem, _Mapping]]] = ..., more: _Optional[bool] = ...) -> None: ...

class PublishKeyRequest(_message.Message):
    __slots__ = ("key_announcement",)
    KEY_ANNOUNCEMENT_FIELD_NUMBER: _ClassVar[int]
    key_announcement: _envelope_pb2.Envelope
    def __init__(self, key_announcement: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ...) -> None: ...

class PublishKeyResponse(_message.Message):
    __slots__ = ("outcome",)
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    outcome: _common_pb2.PushOutcome
    def __init__(self, outcome: _Optional[_Union[_common_pb2.PushOutcome, _Mapping]] = ...) -> None: ...

class SubmitResultRequest(_message.Message):
    __slots__ = ("result", "citation_report")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    CITATION_REPORT_FIELD_NUMBER: _ClassVar[int]
    result: _envelope_pb2.Envelope
    citation_report: _envelope_pb2.Envelope
    def __init__(self, result: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ..., citation_report: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ...) -> None: ...

class SubmitResultResponse(_message.Message):
    __slots__ = ("outcome",)
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    outcome: _common_pb2.PushOutcome
    def __init__(self, outcome: _Optional[_Union[_common_pb2.PushOutcome, _Mapping]] = ...) -> None: ...
