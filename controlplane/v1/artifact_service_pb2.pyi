import datetime

from controlplane.v1 import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ArtifactContentHeader(_message.Message):
    __slots__ = ("artifact", "sha256", "size_bytes", "media_type")
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    artifact: str
    sha256: str
    size_bytes: int
    media_type: str
    def __init__(self, artifact: _Optional[str] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., media_type: _Optional[str] = ...) -> None: ...

class UploadArtifactContentRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: ArtifactContentHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[ArtifactContentHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class ArtifactContent(_message.Message):
    __slots__ = ("artifact", "sha256", "size_bytes", "media_type", "create_time")
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    artifact: str
    sha256: str
    size_bytes: int
    media_type: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, artifact: _Optional[str] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., media_type: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DownloadArtifactContentRequest(_message.Message):
    __slots__ = ("artifact", "offset")
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    artifact: str
    offset: int
    def __init__(self, artifact: _Optional[str] = ..., offset: _Optional[int] = ...) -> None: ...

class DownloadArtifactContentResponse(_message.Message):
    __slots__ = ("content", "chunk")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    content: ArtifactContent
    chunk: bytes
    def __init__(self, content: _Optional[_Union[ArtifactContent, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class GetArtifactContentRequest(_message.Message):
    __slots__ = ("artifact",)
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    artifact: str
    def __init__(self, artifact: _Optional[str] = ...) -> None: ...

class ArtifactQuota(_message.Message):
    __slots__ = ("name", "limit_bytes", "used_bytes", "blob_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LIMIT_BYTES_FIELD_NUMBER: _ClassVar[int]
    USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    BLOB_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    limit_bytes: int
    used_bytes: int
    blob_count: int
    def __init__(self, name: _Optional[str] = ..., limit_bytes: _Optional[int] = ..., used_bytes: _Optional[int] = ..., blob_count: _Optional[int] = ...) -> None: ...

class GetArtifactQuotaRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class UpdateArtifactQuotaRequest(_message.Message):
    __slots__ = ("quota", "update_mask")
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    quota: ArtifactQuota
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, quota: _Optional[_Union[ArtifactQuota, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class CollectArtifactGarbageRequest(_message.Message):
    __slots__ = ("dry_run",)
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    dry_run: bool
    def __init__(self, dry_run: _Optional[bool] = ...) -> None: ...

class CollectArtifactGarbageResponse(_message.Message):
    __slots__ = ("unreferenced_blob_count", "orphaned_object_count", "freed_bytes")
    UNREFERENCED_BLOB_COUNT_FIELD_NUMBER: _ClassVar[int]
    ORPHANED_OBJECT_COUNT_FIELD_NUMBER: _ClassVar[int]
    FREED_BYTES_FIELD_NUMBER: _ClassVar[int]
    unreferenced_blob_count: int
    orphaned_object_count: int
    freed_bytes: int
    def __init__(self, unreferenced_blob_count: _Optional[int] = ..., orphaned_object_count: _Optional[int] = ..., freed_bytes: _Optional[int] = ...) -> None: ...
