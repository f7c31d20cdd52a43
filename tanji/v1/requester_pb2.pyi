import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tanji.v1 import common_pb2 as _common_pb2
from tanji.v1 import envelope_pb2 as _envelope_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CalculationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CALCULATION_STATE_UNSPECIFIED: _ClassVar[CalculationState]
    CALCULATION_STATE_AWAITING_KEY: _ClassVar[CalculationState]
    CALCULATION_STATE_RUNNING: _ClassVar[CalculationState]
    CALCULATION_STATE_AWAITING_ATTESTATION: _ClassVar[CalculationState]
    CALCULATION_STATE_AWAITING_DECRYPTION: _ClassVar[CalculationState]
    CALCULATION_STATE_DONE: _ClassVar[CalculationState]
    CALCULATION_STATE_WITHHELD: _ClassVar[CalculationState]
    CALCULATION_STATE_FAILED: _ClassVar[CalculationState]
CALCULATION_STATE_UNSPECIFIED: CalculationState
CALCULATION_STATE_AWAITING_KEY: CalculationState
CALCULATION_STATE_RUNNING: CalculationState
CALCULATION_STATE_AWAITING_ATTESTATION: CalculationState
CALCULATION_STATE_AWAITING_DECRYPTION: CalculationState
CALCULATION_STATE_DONE: CalculationState
CALCULATION_STATE_WITHHELD: CalculationState
CALCULATION_STATE_FAILED: CalculationState

class StartCalculationRequest(_message.Message):
    __slots__ = ("calculation_request",)
    CALCULATION_REQUEST_FIELD_NUMBER: _ClassVar[int]
    calculation_request: _envelope_pb2.Envelope
    def __init__(self, calculation_request: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ...) -> None: ...

class StartCalculationResponse(_message.Message):
    __slots__ = ("outcome", "calculation_id")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    CALCULATION_ID_FIELD_NUMBER: _ClassVar[int]
    outcome: _common_pb2.PushOutcome
    calculation_id: str
    def __init__(self, outcome: _Optional[_Union[_common_pb2.PushOutcome, _Mapping]] = ..., calculation_id: _Optional[str] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ("party_id", "calculation_id")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    CALCULATION_ID_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    calculation_id: str
    def __init__(self, party_id: _Optional[str] = ..., calculation_id: _Optional[str] = ...) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("calculation_id", "state", "deadline", "updated_at", "requests_declared", "requests_answered", "dead_suppliers", "attestations", "failure_code", "failure_message", "failure_party", "tiers")
    CALCULATION_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_DECLARED_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_ANSWERED_FIELD_NUMBER: _ClassVar[int]
    DEAD_SUPPLIERS_FIELD_NUMBER: _ClassVar[int]
    ATTESTATIONS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_CODE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_PARTY_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    calculation_id: str
    state: CalculationState
    deadline: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    requests_declared: int
    requests_answered: int
    dead_suppliers: int
    attestations: int
    failure_code: _common_pb2.RefusalCode
    failure_message: str
    failure_party: str
    tiers: _containers.RepeatedCompositeFieldContainer[TierProgress]
    def __init__(self, calculation_id: _Optional[str] = ..., state: _Optional[_Union[CalculationState, str]] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., requests_declared: _Optional[int] = ..., requests_answered: _Optional[int] = ..., dead_suppliers: _Optional[int] = ..., attestations: _Optional[int] = ..., failure_code: _Optional[_Union[_common_pb2.RefusalCode, str]] = ..., failure_message: _Optional[str] = ..., failure_party: _Optional[str] = ..., tiers: _Optional[_Iterable[_Union[TierProgress, _Mapping]]] = ...) -> None: ...

class TierProgress(_message.Message):
    __slots__ = ("tier", "declared", "answered")
    TIER_FIELD_NUMBER: _ClassVar[int]
    DECLARED_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_FIELD_NUMBER: _ClassVar[int]
    tier: int
    declared: int
    answered: int
    def __init__(self, tier: _Optional[int] = ..., declared: _Optional[int] = ..., answered: _Optional[int] = ...) -> None: ...

class GetResultRequest(_message.Message):
    __slots__ = ("party_id", "calculation_id")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    CALCULATION_ID_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    calculation_id: str
    def __init__(self, party_id: _Optional[str] = ..., calculation_id: _Optional[str] = ...) -> None: ...

class GetResultResponse(_message.Message):
    __slots__ = ("state", "result", "calculation_request")
    STATE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    CALCULATION_REQUEST_FIELD_NUMBER: _ClassVar[int]
    state: CalculationState
    result: _envelope_pb2.Envelope
    calculation_request: _envelope_pb2.Envelope
    def __init__(self, state: _Optional[_Union[CalculationState, str]] = ..., result: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ..., calculation_request: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ...) -> None: ...

class GetCitationsRequest(_message.Message):
    __slots__ = ("provider_id", "factor_set_hash")
    PROVIDER_ID_FIELD_NUMBER: _ClassVar[int]
    FACTOR_SET_HASH_FIELD_NUMBER: _ClassVar[int]
    provider_id: str
    factor_set_hash: bytes
    def __init__(self, provider_id: _Optional[str] = ..., factor_set_hash: _Optional[bytes] = ...) -> None: ...

class GetCitationsResponse(_message.Message):
    __slots__ = ("reports",)
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    reports: _containers.RepeatedCompositeFieldContainer[_envelope_pb2.Envelope]
    def __init__(self, reports: _Optional[_Iterable[_Union[_envelope_pb2.Envelope, _Mapping]]] = ...) -> None: ...
