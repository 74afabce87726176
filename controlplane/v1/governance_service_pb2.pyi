import datetime

from controlplane.v1 import annotations_pb2 as _annotations_pb2
from controlplane.v1 import registry_service_pb2 as _registry_service_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Comparator(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPARATOR_UNSPECIFIED: _ClassVar[Comparator]
    COMPARATOR_GREATER_OR_EQUAL: _ClassVar[Comparator]
    COMPARATOR_GREATER: _ClassVar[Comparator]
    COMPARATOR_LESS_OR_EQUAL: _ClassVar[Comparator]
    COMPARATOR_LESS: _ClassVar[Comparator]
COMPARATOR_UNSPECIFIED: Comparator
COMPARATOR_GREATER_OR_EQUAL: Comparator
COMPARATOR_GREATER: Comparator
COMPARATOR_LESS_OR_EQUAL: Comparator
COMPARATOR_LESS: Comparator

class MetricThreshold(_message.Message):
    __slots__ = ("key", "comparator", "threshold", "split", "slice")
    KEY_FIELD_NUMBER: _ClassVar[int]
    COMPARATOR_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    SLICE_FIELD_NUMBER: _ClassVar[int]
    key: str
    comparator: Comparator
    threshold: float
    split: str
    slice: str
    def __init__(self, key: _Optional[str] = ..., comparator: _Optional[_Union[Comparator, str]] = ..., threshold: _Optional[float] = ..., split: _Optional[str] = ..., slice: _Optional[str] = ...) -> None: ...

class ChampionRule(_message.Message):
    __slots__ = ("key", "max_regression", "split", "lower_is_better", "alias")
    KEY_FIELD_NUMBER: _ClassVar[int]
    MAX_REGRESSION_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    LOWER_IS_BETTER_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    key: str
    max_regression: float
    split: str
    lower_is_better: bool
    alias: str
    def __init__(self, key: _Optional[str] = ..., max_regression: _Optional[float] = ..., split: _Optional[str] = ..., lower_is_better: _Optional[bool] = ..., alias: _Optional[str] = ...) -> None: ...

class ReleasePolicy(_message.Message):
    __slots__ = ("name", "thresholds", "champion_rules", "required_approvals", "required_card_fields", "require_signature", "update_time", "etag", "protected_aliases", "require_non_admin_approvers")
    NAME_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_RULES_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_APPROVALS_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_CARD_FIELDS_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    PROTECTED_ALIASES_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_NON_ADMIN_APPROVERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    thresholds: _containers.RepeatedCompositeFieldContainer[MetricThreshold]
    champion_rules: _containers.RepeatedCompositeFieldContainer[ChampionRule]
    required_approvals: int
    required_card_fields: _containers.RepeatedScalarFieldContainer[str]
    require_signature: bool
    update_time: _timestamp_pb2.Timestamp
    etag: str
    protected_aliases: _containers.RepeatedScalarFieldContainer[str]
    require_non_admin_approvers: bool
    def __init__(self, name: _Optional[str] = ..., thresholds: _Optional[_Iterable[_Union[MetricThreshold, _Mapping]]] = ..., champion_rules: _Optional[_Iterable[_Union[ChampionRule, _Mapping]]] = ..., required_approvals: _Optional[int] = ..., required_card_fields: _Optional[_Iterable[str]] = ..., require_signature: _Optional[bool] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ..., protected_aliases: _Optional[_Iterable[str]] = ..., require_non_admin_approvers: _Optional[bool] = ...) -> None: ...

class PolicyCheck(_message.Message):
    __slots__ = ("name", "passed", "detail")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    passed: bool
    detail: str
    def __init__(self, name: _Optional[str] = ..., passed: _Optional[bool] = ..., detail: _Optional[str] = ...) -> None: ...

class PolicyEvaluation(_message.Message):
    __slots__ = ("model_version", "passed", "checks")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    model_version: str
    passed: bool
    checks: _containers.RepeatedCompositeFieldContainer[PolicyCheck]
    def __init__(self, model_version: _Optional[str] = ..., passed: _Optional[bool] = ..., checks: _Optional[_Iterable[_Union[PolicyCheck, _Mapping]]] = ...) -> None: ...

class GetReleasePolicyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class UpdateReleasePolicyRequest(_message.Message):
    __slots__ = ("release_policy", "update_mask")
    RELEASE_POLICY_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    release_policy: ReleasePolicy
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, release_policy: _Optional[_Union[ReleasePolicy, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class SubmitModelVersionRequest(_message.Message):
    __slots__ = ("name", "reason", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ApproveModelVersionRequest(_message.Message):
    __slots__ = ("name", "reason", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RejectModelVersionRequest(_message.Message):
    __slots__ = ("name", "reason", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ReleaseModelVersionRequest(_message.Message):
    __slots__ = ("name", "alias", "reason", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    alias: str
    reason: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., alias: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RetireModelVersionRequest(_message.Message):
    __slots__ = ("name", "reason", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RollbackModelAliasRequest(_message.Message):
    __slots__ = ("alias", "reason", "request_id")
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    alias: str
    reason: str
    request_id: str
    def __init__(self, alias: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class EvaluateReleasePolicyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class CompareModelVersionsRequest(_message.Message):
    __slots__ = ("candidate", "baseline")
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    candidate: str
    baseline: str
    def __init__(self, candidate: _Optional[str] = ..., baseline: _Optional[str] = ...) -> None: ...

class MetricComparison(_message.Message):
    __slots__ = ("key", "split", "slice", "candidate", "baseline", "delta")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    SLICE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    key: str
    split: str
    slice: str
    candidate: float
    baseline: float
    delta: float
    def __init__(self, key: _Optional[str] = ..., split: _Optional[str] = ..., slice: _Optional[str] = ..., candidate: _Optional[float] = ..., baseline: _Optional[float] = ..., delta: _Optional[float] = ...) -> None: ...

class ModelComparison(_message.Message):
    __slots__ = ("candidate", "baseline", "metrics")
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    candidate: str
    baseline: str
    metrics: _containers.RepeatedCompositeFieldContainer[MetricComparison]
    def __init__(self, candidate: _Optional[str] = ..., baseline: _Optional[str] = ..., metrics: _Optional[_Iterable[_Union[MetricComparison, _Mapping]]] = ...) -> None: ...

class GovernanceEvent(_message.Message):
    __slots__ = ("name", "action", "from_state", "to_state", "principal", "reason", "request_id", "time", "detail")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    FROM_STATE_FIELD_NUMBER: _ClassVar[int]
    TO_STATE_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    action: str
    from_state: _registry_service_pb2.ModelVersion.State
    to_state: _registry_service_pb2.ModelVersion.State
    principal: str
    reason: str
    request_id: str
    time: _timestamp_pb2.Timestamp
    detail: _struct_pb2.Struct
    def __init__(self, name: _Optional[str] = ..., action: _Optional[str] = ..., from_state: _Optional[_Union[_registry_service_pb2.ModelVersion.State, str]] = ..., to_state: _Optional[_Union[_registry_service_pb2.ModelVersion.State, str]] = ..., principal: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., detail: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ListGovernanceEventsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "filter")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    filter: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[str] = ...) -> None: ...

class ListGovernanceEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[GovernanceEvent]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[GovernanceEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchGovernanceEventsRequest(_message.Message):
    __slots__ = ("parent", "filter", "after", "from_beginning")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    FROM_BEGINNING_FIELD_NUMBER: _ClassVar[int]
    parent: str
    filter: str
    after: str
    from_beginning: bool
    def __init__(self, parent: _Optional[str] = ..., filter: _Optional[str] = ..., after: _Optional[str] = ..., from_beginning: _Optional[bool] = ...) -> None: ...
