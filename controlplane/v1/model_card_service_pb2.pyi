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

class ModelCardFacts(_message.Message):
    __slots__ = ("model_version", "source_run", "run_params", "run_metrics", "training_dataset", "training_dataset_uri", "training_dataset_properties", "evaluation", "fairness", "upstream_artifacts", "upstream_executions", "reviews", "online_evaluation")
    class RunParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class RunMetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_RUN_FIELD_NUMBER: _ClassVar[int]
    RUN_PARAMS_FIELD_NUMBER: _ClassVar[int]
    RUN_METRICS_FIELD_NUMBER: _ClassVar[int]
    TRAINING_DATASET_FIELD_NUMBER: _ClassVar[int]
    TRAINING_DATASET_URI_FIELD_NUMBER: _ClassVar[int]
    TRAINING_DATASET_PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    FAIRNESS_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_EXECUTIONS_FIELD_NUMBER: _ClassVar[int]
    REVIEWS_FIELD_NUMBER: _ClassVar[int]
    ONLINE_EVALUATION_FIELD_NUMBER: _ClassVar[int]
    model_version: _registry_service_pb2.ModelVersion
    source_run: str
    run_params: _containers.ScalarMap[str, str]
    run_metrics: _containers.ScalarMap[str, float]
    training_dataset: str
    training_dataset_uri: str
    training_dataset_properties: _struct_pb2.Struct
    evaluation: _containers.RepeatedCompositeFieldContainer[_registry_service_pb2.EvaluationMetric]
    fairness: _containers.RepeatedCompositeFieldContainer[_registry_service_pb2.EvaluationMetric]
    upstream_artifacts: _containers.RepeatedScalarFieldContainer[str]
    upstream_executions: _containers.RepeatedScalarFieldContainer[str]
    reviews: _containers.RepeatedCompositeFieldContainer[ModelCardReview]
    online_evaluation: _containers.RepeatedCompositeFieldContainer[_registry_service_pb2.EvaluationMetric]
    def __init__(self, model_version: _Optional[_Union[_registry_service_pb2.ModelVersion, _Mapping]] = ..., source_run: _Optional[str] = ..., run_params: _Optional[_Mapping[str, str]] = ..., run_metrics: _Optional[_Mapping[str, float]] = ..., training_dataset: _Optional[str] = ..., training_dataset_uri: _Optional[str] = ..., training_dataset_properties: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., evaluation: _Optional[_Iterable[_Union[_registry_service_pb2.EvaluationMetric, _Mapping]]] = ..., fairness: _Optional[_Iterable[_Union[_registry_service_pb2.EvaluationMetric, _Mapping]]] = ..., upstream_artifacts: _Optional[_Iterable[str]] = ..., upstream_executions: _Optional[_Iterable[str]] = ..., reviews: _Optional[_Iterable[_Union[ModelCardReview, _Mapping]]] = ..., online_evaluation: _Optional[_Iterable[_Union[_registry_service_pb2.EvaluationMetric, _Mapping]]] = ...) -> None: ...

class ModelCardReview(_message.Message):
    __slots__ = ("principal", "decision", "reason", "time")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    principal: str
    decision: str
    reason: str
    time: _timestamp_pb2.Timestamp
    def __init__(self, principal: _Optional[str] = ..., decision: _Optional[str] = ..., reason: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ModelCard(_message.Message):
    __slots__ = ("name", "intended_use", "out_of_scope_use", "limitations", "ethical_considerations", "training_data_description", "caveats_and_recommendations", "facts", "update_time", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INTENDED_USE_FIELD_NUMBER: _ClassVar[int]
    OUT_OF_SCOPE_USE_FIELD_NUMBER: _ClassVar[int]
    LIMITATIONS_FIELD_NUMBER: _ClassVar[int]
    ETHICAL_CONSIDERATIONS_FIELD_NUMBER: _ClassVar[int]
    TRAINING_DATA_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CAVEATS_AND_RECOMMENDATIONS_FIELD_NUMBER: _ClassVar[int]
    FACTS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    intended_use: str
    out_of_scope_use: str
    limitations: str
    ethical_considerations: str
    training_data_description: str
    caveats_and_recommendations: str
    facts: ModelCardFacts
    update_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, name: _Optional[str] = ..., intended_use: _Optional[str] = ..., out_of_scope_use: _Optional[str] = ..., limitations: _Optional[str] = ..., ethical_considerations: _Optional[str] = ..., training_data_description: _Optional[str] = ..., caveats_and_recommendations: _Optional[str] = ..., facts: _Optional[_Union[ModelCardFacts, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...

class GetModelCardRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class UpdateModelCardRequest(_message.Message):
    __slots__ = ("model_card", "update_mask")
    MODEL_CARD_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    model_card: ModelCard
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, model_card: _Optional[_Union[ModelCard, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class RenderModelCardRequest(_message.Message):
    __slots__ = ("name", "format")
    class Format(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        FORMAT_UNSPECIFIED: _ClassVar[RenderModelCardRequest.Format]
        FORMAT_MARKDOWN: _ClassVar[RenderModelCardRequest.Format]
        FORMAT_HTML: _ClassVar[RenderModelCardRequest.Format]
    FORMAT_UNSPECIFIED: RenderModelCardRequest.Format
    FORMAT_MARKDOWN: RenderModelCardRequest.Format
    FORMAT_HTML: RenderModelCardRequest.Format
    NAME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    name: str
    format: RenderModelCardRequest.Format
    def __init__(self, name: _Optional[str] = ..., format: _Optional[_Union[RenderModelCardRequest.Format, str]] = ...) -> None: ...

class RenderedModelCard(_message.Message):
    __slots__ = ("content_type", "content")
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    content_type: str
    content: str
    def __init__(self, content_type: _Optional[str] = ..., content: _Optional[str] = ...) -> None: ...
