"""The model registry's rules: alias names, version numbers, what a new version may hold
(files, signature, runtime, evaluation) and when a version or model may be deleted."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from controlplane import clock, names
from controlplane.domain import validation as check
from controlplane.errors import EtagMismatch, FailedPrecondition, InvalidArgument, NotFound
from controlplane.v1 import registry_service_pb2 as pb

# An alias is never all digits, so "3" always means version 3 and never an alias.
ALIAS_RE = re.compile(r"^[a-z0-9-]{1,63}$")
ALIAS_CREATE_ONLY = "new"  # the etag of SetModelAlias that creates an alias only if absent

REGISTERED = pb.ModelVersion.STATE_REGISTERED
RELEASED = pb.ModelVersion.STATE_RELEASED

MAX_FILES = 64
MAX_FEATURES = 1000
MAX_TENSORS = 1000
MAX_DIMENSIONS = 32
MAX_PACKAGES = 500
MAX_EVALUATION = 1000
MAX_FRAMEWORK = 100
MAX_CODE_VERSION = 200
MAX_SPLIT = 100
MAX_SLICE = 250
MAX_SHORT = 100  # python_version, accelerator
MAX_PACKAGE = 500
MAX_REASON = 1000

DTYPES = frozenset(
    {
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "bfloat16",
        "float32",
        "float64",
        "complex64",
        "complex128",
        "string",
        "bytes",
        "datetime64",
    }
)


MAX_ALIASES_PER_VERSION = 10


def new_version_aliases(aliases: list[str], field: str) -> list[str]:
    """The aliases a new version is registered with: valid, distinct, at most 10."""
    if len(aliases) > MAX_ALIASES_PER_VERSION:
        raise InvalidArgument.for_field(field, f"has more than {MAX_ALIASES_PER_VERSION}")
    for index, alias in enumerate(aliases):
        alias_id(alias, f"{field}[{index}]")
        if alias in aliases[:index]:
            raise InvalidArgument.for_field(f"{field}[{index}]", f"{alias!r} is listed twice")
    return aliases


def alias_id(value: str, field: str) -> str:
    if not ALIAS_RE.match(value) or value.startswith("-") or value.endswith("-"):
        raise InvalidArgument.for_field(
            field,
            "an alias uses lowercase letters, digits and hyphens, 1-63 characters, "
            "not starting or ending with a hyphen",
        )
    if value.isdigit():
        raise InvalidArgument.for_field(
            field, "an alias cannot be all digits (it would read as a version number)"
        )
    return value


def check_alias_etag(etag: str, current: int | None, name: str) -> None:
    """SetModelAlias's etag against the alias's ``version`` (None when it does not exist):
    empty creates or moves whatever is there, ``"new"`` only creates, any other must be the
    alias's current etag."""
    if current is None:
        if etag and etag != ALIAS_CREATE_ONLY:
            raise EtagMismatch.resource(name)
        return
    if etag == ALIAS_CREATE_ONLY:
        raise EtagMismatch.resource(name)
    check.check_etag(etag, current, name)


def version_number(value: str, field: str) -> int:
    """The number in the last part of a version name: a positive integer without a leading
    zero."""
    if not value.isdigit() or value.startswith("0"):
        raise InvalidArgument.for_field(field, f"{value!r} is not a version number (1, 2, ...)")
    return check.integer(int(value), field, minimum=1)


def parse_version(name: str, field: str) -> tuple[str, str, int]:
    tenant, model_id, number = names.MODEL_VERSION.parse(name, field)
    return tenant, model_id, version_number(number, field)


def parse_alias(name: str, field: str) -> tuple[str, str, str]:
    tenant, model_id, alias = names.MODEL_ALIAS.parse(name, field)
    return tenant, model_id, alias_id(alias, field)


@dataclass
class NewVersion:
    """A CreateModelVersion request's content, checked."""

    description: str
    tags: dict[str, str]
    files: list[tuple[str, str, str]]  # (role, artifact id, request field)
    source_run: tuple[str, str] | None  # (experiment id, run id)
    source_run_name: str
    training_dataset: str  # artifact id, "" for none
    training_dataset_name: str
    code_version: str
    framework: str
    features: list[str]
    signature: dict[str, Any]
    runtime: dict[str, Any]
    evaluation: list[tuple[str, str, str, float]] = field(default_factory=list)


def _tensors(specs: Any, path: str) -> list[dict[str, Any]]:
    if len(specs) > MAX_TENSORS:
        raise InvalidArgument.for_field(path, f"has more than {MAX_TENSORS} entries")
    out = []
    for index, spec in enumerate(specs):
        where = f"{path}[{index}]"
        check.string(spec.name, f"{where}.name", maximum=check.MAX_KEY, required=True)
        if spec.dtype not in DTYPES:
            raise InvalidArgument.for_field(
                f"{where}.dtype", f"{spec.dtype!r} is not one of {', '.join(sorted(DTYPES))}"
            )
        if len(spec.shape) > MAX_DIMENSIONS:
            raise InvalidArgument.for_field(
                f"{where}.shape", f"has more than {MAX_DIMENSIONS} dimensions"
            )
        if any(size < -1 for size in spec.shape):
            raise InvalidArgument.for_field(
                f"{where}.shape", "sizes are non-negative, or -1 for any size"
            )
        out.append({"name": spec.name, "dtype": spec.dtype, "shape": list(spec.shape)})
    return out


def signature_proto(data: dict[str, Any]) -> pb.ModelSignature:
    return pb.ModelSignature(
        inputs=[pb.TensorSpec(**spec) for spec in data.get("inputs", [])],
        outputs=[pb.TensorSpec(**spec) for spec in data.get("outputs", [])],
    )


def runtime_proto(data: dict[str, Any]) -> pb.RuntimeRequirements:
    return pb.RuntimeRequirements(**data)


def new_version(version: pb.ModelVersion, tenant: str) -> NewVersion:
    """Checks what CreateModelVersion registers; ``tenant`` is the parent's. Output-only
    fields (state, author, version, sha256s) are ignored, as AIP-203 says."""
    prefix = "model_version"
    description = check.string(
        version.description, f"{prefix}.description", maximum=check.MAX_DESCRIPTION
    )
    tags = check.string_map(version.tags, f"{prefix}.tags", max_value=check.MAX_TAG_VALUE)
    if not version.files:
        raise InvalidArgument.for_field(f"{prefix}.files", "needs at least one file")
    if len(version.files) > MAX_FILES:
        raise InvalidArgument.for_field(f"{prefix}.files", f"has more than {MAX_FILES} files")
    files: list[tuple[str, str, str]] = []
    roles: set[str] = set()
    for index, file in enumerate(version.files):
        where = f"{prefix}.files[{index}]"
        if not names.ID_RE.match(file.role):
            raise InvalidArgument.for_field(
                f"{where}.role", "uses lowercase letters, digits and hyphens, 1-63 characters"
            )
        if file.role in roles:
            raise InvalidArgument.for_field(f"{where}.role", f"{file.role!r} is used twice")
        roles.add(file.role)
        artifact_tenant, artifact_id = names.ARTIFACT.parse(file.artifact, f"{where}.artifact")
        files.append(
            (file.role, _same_tenant(artifact_tenant, tenant, artifact_id, file.artifact), where)
        )
    source_run = None
    if version.source_run:
        run_tenant, experiment_id, run_id = names.RUN.parse(
            version.source_run, f"{prefix}.source_run"
        )
        source_run = (_same_tenant(run_tenant, tenant, experiment_id, version.source_run), run_id)
    training_dataset = ""
    if version.training_dataset:
        dataset_tenant, dataset_id = names.ARTIFACT.parse(
            version.training_dataset, f"{prefix}.training_dataset"
        )
        training_dataset = _same_tenant(
            dataset_tenant, tenant, dataset_id, version.training_dataset
        )
    code_version = check.string(
        version.code_version, f"{prefix}.code_version", maximum=MAX_CODE_VERSION
    )
    framework = check.string(version.framework, f"{prefix}.framework", maximum=MAX_FRAMEWORK)
    if len(version.features) > MAX_FEATURES:
        raise InvalidArgument.for_field(
            f"{prefix}.features", f"has more than {MAX_FEATURES} entries"
        )
    features = [
        check.string(f, f"{prefix}.features[{i}]", maximum=check.MAX_KEY, required=True)
        for i, f in enumerate(version.features)
    ]
    signature: dict[str, Any] = {}
    if version.HasField("signature"):
        signature = {
            "inputs": _tensors(version.signature.inputs, f"{prefix}.signature.inputs"),
            "outputs": _tensors(version.signature.outputs, f"{prefix}.signature.outputs"),
        }
    runtime: dict[str, Any] = {}
    if version.HasField("runtime"):
        rt = version.runtime
        if len(rt.packages) > MAX_PACKAGES:
            raise InvalidArgument.for_field(
                f"{prefix}.runtime.packages", f"has more than {MAX_PACKAGES} entries"
            )
        runtime = {
            "python_version": check.string(
                rt.python_version, f"{prefix}.runtime.python_version", maximum=MAX_SHORT
            ),
            "packages": [
                check.string(p, f"{prefix}.runtime.packages[{i}]", maximum=MAX_PACKAGE)
                for i, p in enumerate(rt.packages)
            ],
            "accelerator": check.string(
                rt.accelerator, f"{prefix}.runtime.accelerator", maximum=MAX_SHORT
            ),
        }
    evaluation = evaluation_metrics(version.evaluation, f"{prefix}.evaluation")
    return NewVersion(
        description=description,
        tags=tags,
        files=files,
        source_run=source_run,
        source_run_name=version.source_run,
        training_dataset=training_dataset,
        training_dataset_name=version.training_dataset,
        code_version=code_version,
        framework=framework,
        features=features,
        signature=signature,
        runtime=runtime,
        evaluation=evaluation,
    )


def evaluation_metrics(
    metrics: Sequence[pb.EvaluationMetric], field: str, *, default_split: str = ""
) -> list[tuple[str, str, str, float]]:
    """Checks evaluation results: (key, split, slice, value) each; the split is
    ``default_split`` when empty."""
    if len(metrics) > MAX_EVALUATION:
        raise InvalidArgument.for_field(field, f"has more than {MAX_EVALUATION} entries")
    checked = []
    for index, metric in enumerate(metrics):
        where = f"{field}[{index}]"
        checked.append(
            (
                check.string(metric.key, f"{where}.key", maximum=check.MAX_KEY, required=True),
                check.string(metric.split, f"{where}.split", maximum=MAX_SPLIT) or default_split,
                check.string(metric.slice, f"{where}.slice", maximum=MAX_SLICE),
                check.finite(metric.value, f"{where}.value"),
            )
        )
    return checked


# The split of an online result recorded without one.
ONLINE_SPLIT = "online"


@dataclass(frozen=True)
class NewOnlineEvaluation:
    metrics: list[tuple[str, str, str, float]]
    window_start: int | None  # microseconds since the epoch
    window_end: int


def new_online_evaluation(message: pb.OnlineEvaluation, now: int) -> NewOnlineEvaluation:
    """Checks what RecordOnlineEvaluation records; ``now`` ends a window not given."""
    prefix = "online_evaluation"
    if not message.metrics:
        raise InvalidArgument.for_field(f"{prefix}.metrics", "needs at least one result")
    metrics = evaluation_metrics(message.metrics, f"{prefix}.metrics", default_split=ONLINE_SPLIT)
    given: set[tuple[str, str, str]] = set()
    for index, (key, split, slice_, _) in enumerate(metrics):
        if (key, split, slice_) in given:
            raise InvalidArgument.for_field(
                f"{prefix}.metrics[{index}]", "repeats a key, split and slice given before"
            )
        given.add((key, split, slice_))
    end = now
    if message.HasField("window_end_time"):
        end = clock.from_timestamp(message.window_end_time, f"{prefix}.window_end_time")
    start = None
    if message.HasField("window_start_time"):
        start = clock.from_timestamp(message.window_start_time, f"{prefix}.window_start_time")
        if start > end:
            raise InvalidArgument.for_field(
                f"{prefix}.window_start_time", "is after the window's end"
            )
    return NewOnlineEvaluation(metrics, start, end)


def check_not_registered(
    new: NewOnlineEvaluation, registered: Collection[tuple[str, str, str]]
) -> None:
    """Online results never stand in for the registered evaluation, which never changes."""
    for index, (key, split, slice_, _) in enumerate(new.metrics):
        if (key, split, slice_) in registered:
            where = f"{split}, slice {slice_}" if slice_ else split or "no split"
            raise InvalidArgument.for_field(
                f"online_evaluation.metrics[{index}]",
                f"{key} on {where} is part of the version's registered evaluation, which never "
                f"changes; record online results under another split (for example "
                f"{ONLINE_SPLIT!r})",
            )


def _same_tenant(resource_tenant: str, tenant: str, value: str, name: str) -> str:
    """A reference to another tenant's resource is answered like a missing one: the caller
    never learns whether it exists."""
    if resource_tenant != tenant:
        raise NotFound.resource(name)
    return value


def check_version_deletable(name: str, state: int, aliases: list[str]) -> None:
    if aliases:
        raise FailedPrecondition(
            f"{name} is the target of the aliases {', '.join(sorted(aliases))}; move or delete "
            "them first (SetModelAlias, DeleteModelAlias)",
            metadata={"resource": name, "aliases": ",".join(sorted(aliases))},
        )
    if state == RELEASED:
        raise FailedPrecondition(
            f"{name} is STATE_RELEASED; retire it before deleting it",
            metadata={"resource": name, "state": pb.ModelVersion.State.Name(state)},
        )


def check_model_deletable(name: str, aliases: list[str]) -> None:
    if aliases:
        raise FailedPrecondition(
            f"{name} still has the aliases {', '.join(sorted(aliases))}; delete them first "
            "(DeleteModelAlias)",
            metadata={"resource": name, "aliases": ",".join(sorted(aliases))},
        )
