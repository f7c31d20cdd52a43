from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor
DOMAIN_TAG_FIELD_NUMBER: _ClassVar[int]
domain_tag: _descriptor.FieldDescriptor
PAYLOAD_FIELD_FIELD_NUMBER: _ClassVar[int]
payload_field: _descriptor.FieldDescriptor
