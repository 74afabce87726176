from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor
AUTHORIZATION_FIELD_NUMBER: _ClassVar[int]
authorization: _descriptor.FieldDescriptor

class MethodAuthorization(_message.Message):
    __slots__ = ("permission", "resource_field", "public")
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_FIELD_NUMBER: _ClassVar[int]
    permission: str
    resource_field: str
    public: bool
    def __init__(self, permission: _Optional[str] = ..., resource_field: _Optional[str] = ..., public: _Optional[bool] = ...) -> None: ...
