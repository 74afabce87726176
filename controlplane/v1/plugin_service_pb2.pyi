from controlplane.v1 import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListPluginsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Plugin(_message.Message):
    __slots__ = ("name", "version", "source", "module", "status", "error", "provisions")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[Plugin.Status]
        STATUS_LOADED: _ClassVar[Plugin.Status]
        STATUS_DISABLED: _ClassVar[Plugin.Status]
        STATUS_FAILED: _ClassVar[Plugin.Status]
    STATUS_UNSPECIFIED: Plugin.Status
    STATUS_LOADED: Plugin.Status
    STATUS_DISABLED: Plugin.Status
    STATUS_FAILED: Plugin.Status
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    MODULE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PROVISIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    source: str
    module: str
    status: Plugin.Status
    error: str
    provisions: _containers.RepeatedCompositeFieldContainer[Provision]
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., source: _Optional[str] = ..., module: _Optional[str] = ..., status: _Optional[_Union[Plugin.Status, str]] = ..., error: _Optional[str] = ..., provisions: _Optional[_Iterable[_Union[Provision, _Mapping]]] = ...) -> None: ...

class Provision(_message.Message):
    __slots__ = ("kind", "name", "active")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    active: bool
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ..., active: _Optional[bool] = ...) -> None: ...

class ListPluginsResponse(_message.Message):
    __slots__ = ("plugins", "artifact_store")
    PLUGINS_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_STORE_FIELD_NUMBER: _ClassVar[int]
    plugins: _containers.RepeatedCompositeFieldContainer[Plugin]
    artifact_store: str
    def __init__(self, plugins: _Optional[_Iterable[_Union[Plugin, _Mapping]]] = ..., artifact_store: _Optional[str] = ...) -> None: ...
