import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tanji.v1 import common_pb2 as _common_pb2
from tanji.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MessageType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MESSAGE_TYPE_UNSPECIFIED: _ClassVar[MessageType]
    MESSAGE_TYPE_REGISTRATION: _ClassVar[MessageType]
    MESSAGE_TYPE_CALCULATION_REQUEST: _ClassVar[MessageType]
    MESSAGE_TYPE_KEY_ANNOUNCEMENT: _ClassVar[MessageType]
    MESSAGE_TYPE_REQUEST: _ClassVar[MessageType]
    MESSAGE_TYPE_MERGED_REQUEST: _ClassVar[MessageType]
    MESSAGE_TYPE_CONTRIBUTION: _ClassVar[MessageType]
    MESSAGE_TYPE_DECLARATION_OF_REQUESTS: _ClassVar[MessageType]
    MESSAGE_TYPE_DEAD_SUPPLIER: _ClassVar[MessageType]
    MESSAGE_TYPE_FALLBACK_CONTRIBUTION: _ClassVar[MessageType]
    MESSAGE_TYPE_AGGREGATE: _ClassVar[MessageType]
    MESSAGE_TYPE_ATTESTATION: _ClassVar[MessageType]
    MESSAGE_TYPE_RESULT: _ClassVar[MessageType]
    MESSAGE_TYPE_REFUSAL: _ClassVar[MessageType]
    MESSAGE_TYPE_CITATION_REPORT: _ClassVar[MessageType]

class DeathReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEATH_REASON_UNSPECIFIED: _ClassVar[DeathReason]
    DEATH_REASON_LEASE_EXPIRED: _ClassVar[DeathReason]
    DEATH_REASON_DEADLINE_MISSED: _ClassVar[DeathReason]
MESSAGE_TYPE_UNSPECIFIED: MessageType
MESSAGE_TYPE_REGISTRATION: MessageType
MESSAGE_TYPE_CALCULATION_REQUEST: MessageType
MESSAGE_TYPE_KEY_ANNOUNCEMENT: MessageType
MESSAGE_TYPE_REQUEST: MessageType
MESSAGE_TYPE_MERGED_REQUEST: MessageType
MESSAGE_TYPE_CONTRIBUTION: MessageType
MESSAGE_TYPE_DECLARATION_OF_REQUESTS: MessageType
MESSAGE_TYPE_DEAD_SUPPLIER: MessageType
MESSAGE_TYPE_FALLBACK_CONTRIBUTION: MessageType
MESSAGE_TYPE_AGGREGATE: MessageType
MESSAGE_TYPE_ATTESTATION: MessageType
MESSAGE_TYPE_RESULT: MessageType
MESSAGE_TYPE_REFUSAL: MessageType
MESSAGE_TYPE_CITATION_REPORT: MessageType
DEATH_REASON_UNSPECIFIED: DeathReason
DEATH_REASON_LEASE_EXPIRED: DeathReason
DEATH_REASON_DEADLINE_MISSED: DeathReason

class Envelope(_message.Message):
    __slots__ = ("body", "signature")
    BODY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    body: bytes
    signature: bytes
    def __init__(self, body: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class EnvelopeBody(_message.Message):
    __slots__ = ("protocol_version", "software_version", "message_type", "calculation_id", "sender", "receiver", "message_id", "created_at", "answers_hash", "object_hashes", "key_fingerprint", "ckks_params_hash", "factor_set_hash", "method_profile", "slot_layout_version", "signer_key_fingerprint", "registration", "calculation_request", "key_announcement", "request", "merged_request", "contribution", "declaration", "dead_supplier", "fallback_contribution", "aggregate", "attestation", "result", "refusal", "citation_report")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_VERSION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    CALCULATION_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    RECEIVER_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    ANSWERS_HASH_FIELD_NUMBER: _ClassVar[int]
    OBJECT_HASHES_FIELD_NUMBER: _ClassVar[int]
    KEY_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    CKKS_PARAMS_HASH_FIELD_NUMBER: _ClassVar[int]
    FACTOR_SET_HASH_FIELD_NUMBER: _ClassVar[int]
    METHOD_PROFILE_FIELD_NUMBER: _ClassVar[int]
    SLOT_LAYOUT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SIGNER_KEY_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_FIELD_NUMBER: _ClassVar[int]
    CALCULATION_REQUEST_FIELD_NUMBER: _ClassVar[int]
    KEY_ANNOUNCEMENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    MERGED_REQUEST_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    DECLARATION_FIELD_NUMBER: _ClassVar[int]
    DEAD_SUPPLIER_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_CONTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    AGGREGATE_FIELD_NUMBER: _ClassVar[int]
    ATTESTATION_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_FIELD_NUMBER: _ClassVar[int]
    CITATION_REPORT_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    software_version: str
    message_type: MessageType
    calculation_id: str
    sender: str
    receiver: str
    message_id: bytes
    created_at: _timestamp_pb2.Timestamp
    answers_hash: bytes
    object_hashes: _containers.RepeatedScalarFieldContainer[bytes]
    key_fingerprint: bytes
    ckks_params_hash: bytes
    factor_set_hash: bytes
    method_profile: _common_pb2.MethodProfile
    slot_layout_version: str
    signer_key_fingerprint: bytes
    registration: Registration
    calculation_request: CalculationRequest
    key_announcement: KeyAnnouncement
    request: Request
    merged_request: MergedRequest
    contribution: Contribution
    declaration: Declaration
    dead_supplier: DeadSupplier
    fallback_contribution: FallbackContribution
    aggregate: Aggregate
    attestation: Attestation
    result: Result
    refusal: Refusal
    citation_report: CitationReport
    def __init__(self, protocol_version: _Optional[int] = ..., software_version: _Optional[str] = ..., message_type: _Optional[_Union[MessageType, str]] = ..., calculation_id: _Optional[str] = ..., sender: _Optional[str] = ..., receiver: _Optional[str] = ..., message_id: _Optional[bytes] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., answers_hash: _Optional[bytes] = ..., object_hashes: _Optional[_Iterable[bytes]] = ..., key_fingerprint: _Optional[bytes] = ..., ckks_params_hash: _Optional[bytes] = ..., factor_set_hash: _Optional[bytes] = ..., method_profile: _Optional[_Union[_common_pb2.MethodProfile, _Mapping]] = ..., slot_layout_version: _Optional[str] = ..., signer_key_fingerprint: _Optional[bytes] = ..., registration: _Optional[_Union[Registration, _Mapping]] = ..., calculation_request: _Optional[_Union[CalculationRequest, _Mapping]] = ..., key_announcement: _Optional[_Union[KeyAnnouncement, _Mapping]] = ..., request: _Optional[_Union[Request, _Mapping]] = ..., merged_request: _Optional[_Union[MergedRequest, _Mapping]] = ..., contribution: _Optional[_Union[Contribution, _Mapping]] = ..., declaration: _Optional[_Union[Declaration, _Mapping]] = ..., dead_supplier: _Optional[_Union[DeadSupplier, _Mapping]] = ..., fallback_contribution: _Optional[_Union[FallbackContribution, _Mapping]] = ..., aggregate: _Optional[_Union[Aggregate, _Mapping]] = ..., attestation: _Optional[_Union[Attestation, _Mapping]] = ..., result: _Optional[_Union[Result, _Mapping]] = ..., refusal: _Optional[_Union[Refusal, _Mapping]] = ..., citation_report: _Optional[_Union[CitationReport, _Mapping]] = ...) -> None: ...

class Registration(_message.Message):
    __slots__ = ("organisation_id", "envelope_public_key", "product_ids", "roles", "supply_edges", "approved_customers", "approves_everyone")
    ORGANISATION_ID_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_IDS_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    SUPPLY_EDGES_FIELD_NUMBER: _ClassVar[int]
    APPROVED_CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    APPROVES_EVERYONE_FIELD_NUMBER: _ClassVar[int]
    organisation_id: str
    envelope_public_key: bytes
    product_ids: _containers.RepeatedScalarFieldContainer[str]
    roles: _containers.RepeatedScalarFieldContainer[_common_pb2.PartyRole]
    supply_edges: _containers.RepeatedCompositeFieldContainer[SupplyEdge]
    approved_customers: _containers.RepeatedScalarFieldContainer[str]
    approves_everyone: bool
    def __init__(self, organisation_id: _Optional[str] = ..., envelope_public_key: _Optional[bytes] = ..., product_ids: _Optional[_Iterable[str]] = ..., roles: _Optional[_Iterable[_Union[_common_pb2.PartyRole, str]]] = ..., supply_edges: _Optional[_Iterable[_Union[SupplyEdge, _Mapping]]] = ..., approved_customers: _Optional[_Iterable[str]] = ..., approves_everyone: _Optional[bool] = ...) -> None: ...

class SupplyEdge(_message.Message):
    __slots__ = ("buyer_product", "supplier", "supplier_product")
    BUYER_PRODUCT_FIELD_NUMBER: _ClassVar[int]
    SUPPLIER_FIELD_NUMBER: _ClassVar[int]
    SUPPLIER_PRODUCT_FIELD_NUMBER: _ClassVar[int]
    buyer_product: str
    supplier: str
    supplier_product: str
    def __init__(self, buyer_product: _Optional[str] = ..., supplier: _Optional[str] = ..., supplier_product: _Optional[str] = ...) -> None: ...

class BatchItem(_message.Message):
    __slots__ = ("product_id", "lifetime_energy_kwh", "declared_unit", "declaration_json")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    LIFETIME_ENERGY_KWH_FIELD_NUMBER: _ClassVar[int]
    DECLARED_UNIT_FIELD_NUMBER: _ClassVar[int]
    DECLARATION_JSON_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    lifetime_energy_kwh: float
    declared_unit: str
    declaration_json: str
    def __init__(self, product_id: _Optional[str] = ..., lifetime_energy_kwh: _Optional[float] = ..., declared_unit: _Optional[str] = ..., declaration_json: _Optional[str] = ...) -> None: ...

class CalculationRequest(_message.Message):
    __slots__ = ("target_organisation", "products", "depth_bound", "batch_size", "deadline", "key_holder", "quantity_commitment", "auditors", "min_attestations", "factor_set_id", "citation_slots", "factor_provider")
    TARGET_ORGANISATION_FIELD_NUMBER: _ClassVar[int]
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    DEPTH_BOUND_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    KEY_HOLDER_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    AUDITORS_FIELD_NUMBER: _ClassVar[int]
    MIN_ATTESTATIONS_FIELD_NUMBER: _ClassVar[int]
    FACTOR_SET_ID_FIELD_NUMBER: _ClassVar[int]
    CITATION_SLOTS_FIELD_NUMBER: _ClassVar[int]
    FACTOR_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    target_organisation: str
    products: _containers.RepeatedCompositeFieldContainer[BatchItem]
    depth_bound: int
    batch_size: int
    deadline: _timestamp_pb2.Timestamp
    key_holder: str
    quantity_commitment: bytes
    auditors: _containers.RepeatedScalarFieldContainer[str]
    min_attestations: int
    factor_set_id: str
    citation_slots: int
    factor_provider: str
    def __init__(self, target_organisation: _Optional[str] = ..., products: _Optional[_Iterable[_Union[BatchItem, _Mapping]]] = ..., depth_bound: _Optional[int] = ..., batch_size: _Optional[int] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., key_holder: _Optional[str] = ..., quantity_commitment: _Optional[bytes] = ..., auditors: _Optional[_Iterable[str]] = ..., min_attestations: _Optional[int] = ..., factor_set_id: _Optional[str] = ..., citation_slots: _Optional[int] = ..., factor_provider: _Optional[str] = ...) -> None: ...

class KeyAnnouncement(_message.Message):
    __slots__ = ("key_fingerprint", "ckks_params_hash", "preset", "context_object_hash", "transit_level", "width", "unit_weight_object_hash")
    KEY_FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    CKKS_PARAMS_HASH_FIELD_NUMBER: _ClassVar[int]
    PRESET_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_OBJECT_HASH_FIELD_NUMBER: _ClassVar[int]
    TRANSIT_LEVEL_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    UNIT_WEIGHT_OBJECT_HASH_FIELD_NUMBER: _ClassVar[int]
    key_fingerprint: bytes
    ckks_params_hash: bytes
    preset: str
    context_object_hash: bytes
    transit_level: int
    width: int
    unit_weight_object_hash: bytes
    def __init__(self, key_fingerprint: _Optional[bytes] = ..., ckks_params_hash: _Optional[bytes] = ..., preset: _Optional[str] = ..., context_object_hash: _Optional[bytes] = ..., transit_level: _Optional[int] = ..., width: _Optional[int] = ..., unit_weight_object_hash: _Optional[bytes] = ...) -> None: ...

class Request(_message.Message):
    __slots__ = ("supplier", "product_id", "quantity_unit", "depth_remaining", "weight_object_hash", "level", "blocks")
    SUPPLIER_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_UNIT_FIELD_NUMBER: _ClassVar[int]
    DEPTH_REMAINING_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_OBJECT_HASH_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    supplier: str
    product_id: str
    quantity_unit: str
    depth_remaining: int
    weight_object_hash: bytes
    level: int
    blocks: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, supplier: _Optional[str] = ..., product_id: _Optional[str] = ..., quantity_unit: _Optional[str] = ..., depth_remaining: _Optional[int] = ..., weight_object_hash: _Optional[bytes] = ..., level: _Optional[int] = ..., blocks: _Optional[_Iterable[int]] = ...) -> None: ...

class RequestRef(_message.Message):
    __slots__ = ("buyer", "request_hash", "weight_object_hash")
    BUYER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_HASH_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_OBJECT_HASH_FIELD_NUMBER: _ClassVar[int]
    buyer: str
    request_hash: bytes
    weight_object_hash: bytes
    def __init__(self, buyer: _Optional[str] = ..., request_hash: _Optional[bytes] = ..., weight_object_hash: _Optional[bytes] = ...) -> None: ...

class MergedPart(_message.Message):
    __slots__ = ("quantity_unit", "weight_object_hash", "requests", "level")
    QUANTITY_UNIT_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_OBJECT_HASH_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    quantity_unit: str
    weight_object_hash: bytes
    requests: _containers.RepeatedCompositeFieldContainer[RequestRef]
    level: int
    def __init__(self, quantity_unit: _Optional[str] = ..., weight_object_hash: _Optional[bytes] = ..., requests: _Optional[_Iterable[_Union[RequestRef, _Mapping]]] = ..., level: _Optional[int] = ...) -> None: ...

class MergedRequest(_message.Message):
    __slots__ = ("supplier", "product_id", "depth_remaining", "parts", "buyer_fan_out", "declaration_hashes")
    SUPPLIER_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    DEPTH_REMAINING_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    BUYER_FAN_OUT_FIELD_NUMBER: _ClassVar[int]
    DECLARATION_HASHES_FIELD_NUMBER: _ClassVar[int]
    supplier: str
    product_id: str
    depth_remaining: int
    parts: _containers.RepeatedCompositeFieldContainer[MergedPart]
    buyer_fan_out: _containers.RepeatedCompositeFieldContainer[BuyerFanOut]
    declaration_hashes: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, supplier: _Optional[str] = ..., product_id: _Optional[str] = ..., depth_remaining: _Optional[int] = ..., parts: _Optional[_Iterable[_Union[MergedPart, _Mapping]]] = ..., buyer_fan_out: _Optional[_Iterable[_Union[BuyerFanOut, _Mapping]]] = ..., declaration_hashes: _Optional[_Iterable[bytes]] = ...) -> None: ...

class BuyerFanOut(_message.Message):
    __slots__ = ("buyer", "inputs")
    BUYER_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    buyer: str
    inputs: int
    def __init__(self, buyer: _Optional[str] = ..., inputs: _Optional[int] = ...) -> None: ...

class Contribution(_message.Message):
    __slots__ = ("product_id", "ciphertext_hash", "record_commitment", "level")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_HASH_FIELD_NUMBER: _ClassVar[int]
    RECORD_COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    product_id: str
    ciphertext_hash: bytes
    record_commitment: bytes
    level: int
    def __init__(self, product_id: _Optional[str] = ..., ciphertext_hash: _Optional[bytes] = ..., record_commitment: _Optional[bytes] = ..., level: _Optional[int] = ...) -> None: ...

class DeclaredRequest(_message.Message):
    __slots__ = ("supplier", "product_id", "quantity_unit", "weight_object_hash", "request_hash", "blocks")
    SUPPLIER_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_UNIT_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_OBJECT_HASH_FIELD_NUMBER: _ClassVar[int]
    REQUEST_HASH_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    supplier: str
    product_id: str
    quantity_unit: str
    weight_object_hash: bytes
    request_hash: bytes
    blocks: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, supplier: _Optional[str] = ..., product_id: _Optional[str] = ..., quantity_unit: _Optional[str] = ..., weight_object_hash: _Optional[bytes] = ..., request_hash: _Optional[bytes] = ..., blocks: _Optional[_Iterable[int]] = ...) -> None: ...

class Declaration(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[DeclaredRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[DeclaredRequest, _Mapping]]] = ...) -> None: ...

class DeadSupplier(_message.Message):
    __slots__ = ("supplier", "product_id", "reason", "declared_at", "merged_request_hash")
    SUPPLIER_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DECLARED_AT_FIELD_NUMBER: _ClassVar[int]
    MERGED_REQUEST_HASH_FIELD_NUMBER: _ClassVar[int]
    supplier: str
    product_id: str
    reason: DeathReason
    declared_at: _timestamp_pb2.Timestamp
    merged_request_hash: bytes
    def __init__(self, supplier: _Optional[str] = ..., product_id: _Optional[str] = ..., reason: _Optional[_Union[DeathReason, str]] = ..., declared_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., merged_request_hash: _Optional[bytes] = ...) -> None: ...

class FallbackContribution(_message.Message):
    __slots__ = ("supplier", "product_id", "ciphertext_hash", "record_commitment", "level", "request_hash")
    SUPPLIER_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_HASH_FIELD_NUMBER: _ClassVar[int]
    RECORD_COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_HASH_FIELD_NUMBER: _ClassVar[int]
    supplier: str
    product_id: str
    ciphertext_hash: bytes
    record_commitment: bytes
    level: int
    request_hash: bytes
    def __init__(self, supplier: _Optional[str] = ..., product_id: _Optional[str] = ..., ciphertext_hash: _Optional[bytes] = ..., record_commitment: _Optional[bytes] = ..., level: _Optional[int] = ..., request_hash: _Optional[bytes] = ...) -> None: ...

class Aggregate(_message.Message):
    __slots__ = ("output_ciphertext_hash", "contribution_hashes", "declaration_hashes", "dead_supplier_hashes")
    OUTPUT_CIPHERTEXT_HASH_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTION_HASHES_FIELD_NUMBER: _ClassVar[int]
    DECLARATION_HASHES_FIELD_NUMBER: _ClassVar[int]
    DEAD_SUPPLIER_HASHES_FIELD_NUMBER: _ClassVar[int]
    output_ciphertext_hash: bytes
    contribution_hashes: _containers.RepeatedScalarFieldContainer[bytes]
    declaration_hashes: _containers.RepeatedScalarFieldContainer[bytes]
    dead_supplier_hashes: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, output_ciphertext_hash: _Optional[bytes] = ..., contribution_hashes: _Optional[_Iterable[bytes]] = ..., declaration_hashes: _Optional[_Iterable[bytes]] = ..., dead_supplier_hashes: _Optional[_Iterable[bytes]] = ...) -> None: ...

class Attestation(_message.Message):
    __slots__ = ("output_ciphertext_hash", "contribution_hashes", "requester_warnings", "requester_fallbacks")
    OUTPUT_CIPHERTEXT_HASH_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTION_HASHES_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_WARNINGS_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_FALLBACKS_FIELD_NUMBER: _ClassVar[int]
    output_ciphertext_hash: bytes
    contribution_hashes: _containers.RepeatedScalarFieldContainer[bytes]
    requester_warnings: _containers.RepeatedScalarFieldContainer[str]
    requester_fallbacks: _containers.RepeatedCompositeFieldContainer[RequesterFallback]
    def __init__(self, output_ciphertext_hash: _Optional[bytes] = ..., contribution_hashes: _Optional[_Iterable[bytes]] = ..., requester_warnings: _Optional[_Iterable[str]] = ..., requester_fallbacks: _Optional[_Iterable[_Union[RequesterFallback, _Mapping]]] = ...) -> None: ...

class RequesterFallback(_message.Message):
    __slots__ = ("supplier", "product_id")
    SUPPLIER_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    supplier: str
    product_id: str
    def __init__(self, supplier: _Optional[str] = ..., product_id: _Optional[str] = ...) -> None: ...

class Result(_message.Message):
    __slots__ = ("result_json", "attestation_hashes", "batch_results_json")
    RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    ATTESTATION_HASHES_FIELD_NUMBER: _ClassVar[int]
    BATCH_RESULTS_JSON_FIELD_NUMBER: _ClassVar[int]
    result_json: bytes
    attestation_hashes: _containers.RepeatedScalarFieldContainer[bytes]
    batch_results_json: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, result_json: _Optional[bytes] = ..., attestation_hashes: _Optional[_Iterable[bytes]] = ..., batch_results_json: _Optional[_Iterable[bytes]] = ...) -> None: ...

class CitationReport(_message.Message):
    __slots__ = ("counts", "contributions")
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    counts: _containers.RepeatedScalarFieldContainer[int]
    contributions: int
    def __init__(self, counts: _Optional[_Iterable[int]] = ..., contributions: _Optional[int] = ...) -> None: ...

class Refusal(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: _common_pb2.RefusalCode
    message: str
    def __init__(self, code: _Optional[_Union[_common_pb2.RefusalCode, str]] = ..., message: _Optional[str] = ...) -> None: ...
