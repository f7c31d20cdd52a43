from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ObjectKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OBJECT_KIND_UNSPECIFIED: _ClassVar[ObjectKind]
    OBJECT_KIND_CIPHERTEXT: _ClassVar[ObjectKind]
    OBJECT_KIND_PUBLIC_CONTEXT: _ClassVar[ObjectKind]
OBJECT_KIND_UNSPECIFIED: ObjectKind
OBJECT_KIND_CIPHERTEXT: ObjectKind
OBJECT_KIND_PUBLIC_CONTEXT: ObjectKind

class StatObjectRequest(_message.Message):
    __slots__ = ("party_id", "calculation_id", "object_hash")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    CALCULATION_ID_FIELD_NUMBER: _ClassVar[int]
    OBJECT_HASH_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    calculation_id: str
    object_hash: bytes
    def __init__(self, party_id: _Optional[str] = ..., calculation_id: _Optional[str] = ..., object_hash: _Optional[bytes] = ...) -> None: ...

class StatObjectResponse(_message.Message):
    __slots__ = ("complete", "kind", "total_size", "received_bytes")
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_BYTES_FIELD_NUMBER: _ClassVar[int]
    complete: bool
    kind: ObjectKind
    total_size: int
    received_bytes: int
    def __init__(self, complete: _Optional[bool] = ..., kind: _Optional[_Union[ObjectKind, str]] = ..., total_size: _Optional[int] = ..., received_bytes: _Optional[int] = ...) -> None: ...

class PushObjectRequest(_message.Message):
    __slots__ = ("party_id", "calculation_id", "object_hash", "kind", "total_size", "offset", "data")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    CALCULATION_ID_FIELD_NUMBER: _ClassVar[int]
    OBJECT_HASH_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    calculation_id: str
    object_hash: bytes
    kind: ObjectKind
    total_size: int
    offset: int
    data: bytes
    def __init__(self, party_id: _Optional[str] = ..., calculation_id: _Optional[str] = ..., object_hash: _Optional[bytes] = ..., kind: _Optional[_Union[ObjectKind, str]] = ..., total_size: _Optional[int] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class PushObjectResponse(_message.Message):
    __slots__ = ("received_bytes", "complete")
    RECEIVED_BYTES_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    received_bytes: int
    complete: bool
    def __init__(self, received_bytes: _Optional[int] = ..., complete: _Optional[bool] = ...) -> None: ...

class PullObjectRequest(_message.Message):
    __slots__ = ("party_id", "calculation_id", "object_hash", "offset", "max_bytes")
    PARTY_ID_FIELD_NUMBER: _ClassVar[int]
    CALCULATION_ID_FIELD_NUMBER: _ClassVar[int]
    OBJECT_HASH_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    party_id: str
    calculation_id: str
    object_hash: bytes
    offset: int
    max_bytes: int
    def __init__(self, party_id: _Optional[str] = ..., calculation_id: _Optional[str] = ..., object_hash: _Optional[bytes] = ..., offset: _Optional[int] = ..., max_bytes: _Optional[int] = ...) -> None: ...

class PullObjectResponse(_message.Message):
    __slots__ = ("object_hash", "kind", "total_size", "offset", "data")
    OBJECT_HASH_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    object_hash: bytes
    kind: ObjectKind
    total_size: int
    offset: int
    data: bytes
    def __init__(self, object_hash: _Optional[bytes] = ..., kind: _Optional[_Union[ObjectKind, str]] = ..., total_size: _Optional[int] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...
