"""The synchronous Python client."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import grpc
from google.protobuf import field_mask_pb2

from controlplane.client import artifacts as transfers
from controlplane.client._stubs import Metadata, Service, retrying
from controlplane.client.errors import ApiError
from controlplane.client.tracking import (
    DEFAULT_FLUSH_INTERVAL,
    DEFAULT_FLUSH_POINTS,
    ActiveRun,
    run_state,
)
from controlplane.client.watch import follow
from controlplane.v1 import (
    artifact_service_pb2,
    artifact_service_pb2_grpc,
    audit_service_pb2_grpc,
    experiment_service_pb2,
    experiment_service_pb2_grpc,
    governance_service_pb2,
    governance_service_pb2_grpc,
    metadata_service_pb2,
    metadata_service_pb2_grpc,
    model_card_service_pb2_grpc,
    plugin_service_pb2,
    plugin_service_pb2_grpc,
    registry_service_pb2,
    registry_service_pb2_grpc,
    tenant_service_pb2,
    tenant_service_pb2_grpc,
)

__all__ = ["DEFAULT_TARGET", "Client", "MetricHistory"]

DEFAULT_TARGET = "127.0.0.1:7470"
ENV_TARGET = "CONTROLPLANE_TARGET"
ENV_TOKEN = "CONTROLPLANE_TOKEN"
ENV_TENANT = "CONTROLPLANE_TENANT"
ENV_TLS_CA = "CONTROLPLANE_TLS_CA"
# The server accepts messages up to 64 MiB; so does the client.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MAX_PAGE_SIZE = 1000


class MetricHistory(NamedTuple):
    """All points of one metric of a run, ordered by step then timestamp."""

    steps: list[int]
    values: list[float]
    timestamps_ms: list[int]


def _read_bytes(value: str | os.PathLike[str] | bytes) -> bytes:
    return value if isinstance(value, bytes) else Path(value).read_bytes()


# Host names of this machine's loopback interface; a server listening on a wildcard address
# (0.0.0.0, [::]) is reached through them.
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "ip6-localhost"})
_WILDCARD = frozenset({"", "0.0.0.0", "::", "*"})


def _host_port(address: str) -> tuple[str, str]:
    """``(host, port)`` of ``host:port``, ``[v6]:port`` or a gRPC ``dns:///host:port`` target,
    the host lowercased, loopback names as ``localhost``, wildcards as ``*``."""
    for scheme in ("dns:///", "dns:", "ipv4:", "ipv6:"):
        address = address.removeprefix(scheme)
    host, _, port = address.rpartition(":")
    host = host.strip("[]").lower()
    if host in _LOOPBACK:
        host = "localhost"
    elif host in _WILDCARD:
        host = "*"
    return host, port


def _is_server(target: str, address: str) -> bool:
    """Whether ``target`` reaches the server that listens on ``address``: the same host and
    port, every loopback name being the same host, which is also how a server listening on
    every interface is reached (the key never goes to another machine's name for it)."""
    if target.startswith("unix") or address.startswith("unix"):
        return target == address
    target_host, target_port = _host_port(target)
    host, port = _host_port(address)
    if target_port != port or not port:
        return False
    return target_host == host or (host == "*" and target_host == "localhost")


def _admin_key(target: str) -> tuple[str | None, str]:
    """The platform administrator's key that ``mlctl server`` wrote in its data directory on
    first start, when ``target`` is that server (its ``server.address`` file says where it
    listens): ``(key, "")``. Otherwise ``(None, why not)``, the reason empty when this
    machine has no key file. The key is never sent anywhere else."""
    from controlplane.config import ADMIN_KEY_FILE, SERVER_ADDRESS_FILE, default_data_dir

    data_dir = default_data_dir()
    try:
        key = (data_dir / ADMIN_KEY_FILE).read_text().strip()
    except OSError:
        return None, ""
    if not key:
        return None, ""
    try:
        addresses = (data_dir / SERVER_ADDRESS_FILE).read_text().split()
    except OSError:
        addresses = []
    if any(_is_server(target, address) for address in addresses):
        return key, ""
    if addresses:
        whose = f"is for the server on {' or '.join(addresses)}, not {target}"
    else:
        whose = "is sent only to its server, which recorded no address (restart it)"
    return None, (
        f"the admin key in {data_dir} {whose}: no API key was sent "
        f"(give one with --token, token= or ${ENV_TOKEN})"
    )


def _version() -> str:
    import controlplane

    return controlplane.__version__


class Client:
    """A connection to a control plane server.

    ``target``, ``token`` and ``tenant`` default to ``$CONTROLPLANE_TARGET`` (else
    ``127.0.0.1:7470``), ``$CONTROLPLANE_TOKEN`` (else the ``admin.key`` a local server wrote
    in its data directory, only when ``target`` is that server: ``admin_key_withheld`` says
    why it was not sent, and so does an UNAUTHENTICATED error) and ``$CONTROLPLANE_TENANT``.
    TLS is used when ``tls_ca`` (a PEM file or its bytes) or ``tls=True`` (the system's
    roots) is given; ``tls_cert`` and ``tls_key`` add a client certificate for servers that
    require one.

    ``tenants``, ``metadata``, ``experiments``, ``artifacts`` and ``plugins`` are the generated
    stubs, sending the token
    with every call and raising :class:`ApiError`. ``timeout`` is the default deadline of each
    call in seconds (None: no deadline).
    """

    def __init__(
        self,
        target: str | None = None,
        token: str | None = None,
        *,
        tenant: str | None = None,
        tls_ca: str | os.PathLike[str] | bytes | None = None,
        tls: bool = False,
        tls_cert: str | os.PathLike[str] | bytes | None = None,
        tls_key: str | os.PathLike[str] | bytes | None = None,
        timeout: float | None = None,
        options: list[tuple[str, Any]] | None = None,
    ) -> None:
        self.target = target or os.environ.get(ENV_TARGET) or DEFAULT_TARGET
        self.token = token or os.environ.get(ENV_TOKEN) or None
        # Why the local admin key was not used (empty when it was, or there is none); an
        # UNAUTHENTICATED error says it.
        self.admin_key_withheld = ""
        if self.token is None:
            self.token, self.admin_key_withheld = _admin_key(self.target)
        tenant = tenant or os.environ.get(ENV_TENANT) or None
        self.tenant = tenant.removeprefix("tenants/") if tenant else None
        self.timeout = timeout
        tls_ca = tls_ca or os.environ.get(ENV_TLS_CA) or None
        channel_options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.primary_user_agent", f"controlplane-python/{_version()}"),
            *(options or []),
        ]
        if tls or tls_ca or tls_cert:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read_bytes(tls_ca) if tls_ca else None,
                private_key=_read_bytes(tls_key) if tls_key else None,
                certificate_chain=_read_bytes(tls_cert) if tls_cert else None,
            )
            self.channel = grpc.secure_channel(self.target, credentials, options=channel_options)
        else:
            self.channel = grpc.insecure_channel(self.target, options=channel_options)
        metadata = self._auth_metadata
        hint = self._unauthenticated_hint
        self.tenants = Service(
            tenant_service_pb2_grpc.TenantServiceStub(self.channel),  # type: ignore[no-untyped-call]
            metadata,
            timeout,
            hint,
        )
        self.metadata = Service(
            metadata_service_pb2_grpc.MetadataServiceStub(self.channel),  # type: ignore[no-untyped-call]
            metadata,
            timeout,
            hint,
        )
        self.experiments = Service(
            experiment_service_pb2_grpc.ExperimentServiceStub(self.channel),  # type: ignore[no-untyped-call]
            metadata,
            timeout,
            hint,
        )
        self.artifacts = Service(
            artifact_service_pb2_grpc.ArtifactServiceStub(self.channel),  # type: ignore[no-untyped-call]
            metadata,
            timeout,
            hint,
        )
        self.plugins = Service(
            plugin_service_pb2_grpc.PluginServiceStub(self.channel),  # type: ignore[no-untyped-call]
            metadata,
            timeout,
            hint,
        )
        self.audit = Service(
            audit_service_pb2_grpc.AuditServiceStub(self.channel),  # type: ignore[no-untyped-call]
            metadata,
            timeout,
            hint,
        )
        self.governance = Service(
            governance_service_pb2_grpc.GovernanceServiceStub(self.channel),  # type: ignore[no-untyped-call]
            metadata,
            timeout,
            hint,
        )
        self.cards = Service(
            model_card_service_pb2_grpc.ModelCardServiceStub(self.channel),  # type: ignore[no-untyped-call]
            metadata,
            timeout,
            hint,
        )
        self.registry = Service(
            registry_service_pb2_grpc.RegistryServiceStub(self.channel),  # type: ignore[no-untyped-call]
            metadata,
            timeout,
            hint,
        )

    def _unauthenticated_hint(self) -> str:
        return "" if self.token else self.admin_key_withheld

    def _auth_metadata(self) -> Metadata:
        if not self.token:
            return ()
        return (("authorization", f"Bearer {self.token}"),)

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(target={self.target!r}, tenant={self.tenant!r})"

    # -- names --------------------------------------------------------------------------------

    def _require_tenant(self) -> str:
        if not self.tenant:
            raise ValueError(
                "no tenant: pass Client(tenant=...) or set CONTROLPLANE_TENANT "
                "(or give a full resource name such as tenants/acme/experiments/churn)"
            )
        return self.tenant

    def experiment_name(self, experiment: str) -> str:
        """``tenants/{tenant}/experiments/{experiment}`` for an experiment id (a full name is
        returned as it is)."""
        if experiment.startswith("tenants/"):
            return experiment
        return f"tenants/{self._require_tenant()}/experiments/{experiment}"

    # -- generic helpers ----------------------------------------------------------------------

    def paginate(
        self, method: Callable[[Any], Any], request: Any, field: str, *, limit: int | None = None
    ) -> Iterator[Any]:
        """Yields the items of every page of a List/Search RPC, for example
        ``client.paginate(client.tenants.ListTenants, ListTenantsRequest(), "tenants")``."""
        if limit is not None and limit <= 0:
            return
        request = type(request).FromString(request.SerializeToString())
        returned = 0
        while True:
            response = retrying(lambda: method(request), idempotent=True)
            for item in getattr(response, field):
                if limit is not None and returned >= limit:
                    return
                returned += 1
                yield item
            if not response.next_page_token or (limit is not None and returned >= limit):
                return
            request.page_token = response.next_page_token

    # -- convenience calls --------------------------------------------------------------------

    def whoami(self) -> tenant_service_pb2.Caller:
        """The calling principal and its roles."""
        caller: tenant_service_pb2.Caller = retrying(
            lambda: self.tenants.GetCaller(tenant_service_pb2.GetCallerRequest()), idempotent=True
        )
        return caller

    def list_plugins(self) -> plugin_service_pb2.ListPluginsResponse:
        """The server's plugins and what each provides."""
        listed: plugin_service_pb2.ListPluginsResponse = retrying(
            lambda: self.plugins.ListPlugins(plugin_service_pb2.ListPluginsRequest()),
            idempotent=True,
        )
        return listed

    def artifact_name(self, artifact: str) -> str:
        """``tenants/{tenant}/artifacts/{artifact}`` for an artifact id (a full name is
        returned as it is)."""
        if artifact.startswith("tenants/"):
            return artifact
        return f"tenants/{self._require_tenant()}/artifacts/{artifact}"

    def log_artifact(
        self,
        source: str | os.PathLike[str] | bytes,
        artifact_type: str,
        *,
        artifact_id: str | None = None,
        display_name: str = "",
        media_type: str = "",
    ) -> metadata_service_pb2.Artifact:
        """Records an artifact in the metadata graph and uploads ``source`` (a file path or
        bytes) as its content, in one call; returns the artifact, now LIVE with uri
        ``sha256:<hex>``. Link it to executions with ``metadata.AddExecutionEvents``."""
        artifact = metadata_service_pb2.Artifact(type=artifact_type, display_name=display_name)
        request = metadata_service_pb2.CreateArtifactRequest(
            parent=f"tenants/{self._require_tenant()}",
            artifact_id=artifact_id or "",
            artifact=artifact,
            request_id=str(uuid.uuid4()),
        )
        created: metadata_service_pb2.Artifact = retrying(
            lambda: self.metadata.CreateArtifact(request), idempotent=True
        )
        self.upload_artifact(created.name, source, media_type=media_type)
        latest: metadata_service_pb2.Artifact = self.metadata.GetArtifact(
            metadata_service_pb2.GetArtifactRequest(name=created.name)
        )
        return latest

    def upload_artifact(
        self,
        artifact: str,
        source: str | os.PathLike[str] | bytes,
        *,
        media_type: str = "",
        timeout: float = transfers.DEFAULT_TRANSFER_TIMEOUT,
    ) -> artifact_service_pb2.ArtifactContent:
        """Uploads ``source`` (a file path or bytes) as the content of an existing artifact
        (an id in the client's tenant, or a resource name) that has none yet."""
        return transfers.upload(
            self.artifacts,
            self.artifact_name(artifact),
            source,
            media_type=media_type,
            timeout=timeout,
        )

    def download_artifact(
        self,
        artifact: str,
        destination: str | os.PathLike[str],
        *,
        timeout: float = transfers.DEFAULT_TRANSFER_TIMEOUT,
    ) -> artifact_service_pb2.ArtifactContent:
        """Downloads an artifact's content to ``destination``, verifying its sha256; the file
        appears only when the whole content arrived intact."""
        return transfers.download(
            self.artifacts, self.artifact_name(artifact), destination, timeout=timeout
        )

    def get_run(self, name: str) -> experiment_service_pb2.Run:
        run: experiment_service_pb2.Run = retrying(
            lambda: self.experiments.GetRun(experiment_service_pb2.GetRunRequest(name=name)),
            idempotent=True,
        )
        return run

    def set_run_state(self, name: str, state: int | str) -> experiment_service_pb2.Run:
        """Moves a run to ``state`` (for example ``"FINISHED"`` or ``RUN_STATE_KILLED``)."""
        request = experiment_service_pb2.UpdateRunRequest(
            run=experiment_service_pb2.Run(name=name, state=run_state(state)),
            update_mask=field_mask_pb2.FieldMask(paths=["state"]),
        )
        # Moving to the state a run is already in is accepted, so a retry is harmless.
        run: experiment_service_pb2.Run = retrying(
            lambda: self.experiments.UpdateRun(request), idempotent=True
        )
        return run

    def search_runs(
        self,
        parent: str | None = None,
        filter: str = "",
        order_by: str = "",
        page_size: int = MAX_PAGE_SIZE,
        *,
        limit: int | None = None,
    ) -> Iterator[experiment_service_pb2.Run]:
        """Yields the runs that match ``filter`` across all pages. ``parent`` is an experiment
        (id or resource name); None searches every experiment of the client's tenant."""
        if parent is None:
            parent = self.experiment_name("-")
        request = experiment_service_pb2.SearchRunsRequest(
            parent=self.experiment_name(parent),
            filter=filter,
            order_by=order_by,
            page_size=page_size,
        )
        yield from self.paginate(self.experiments.SearchRuns, request, "runs", limit=limit)

    def get_metric_history(self, run_name: str, key: str) -> MetricHistory:
        """Every point of metric ``key`` of a run: ``steps, values, timestamps_ms = ...``."""
        steps: list[int] = []
        values: list[float] = []
        stamps: list[int] = []
        request = experiment_service_pb2.GetMetricHistoryRequest(run=run_name, metric_key=key)
        while True:
            page = retrying(lambda: self.experiments.GetMetricHistory(request), idempotent=True)
            steps.extend(page.steps)
            values.extend(page.values)
            stamps.extend(page.timestamps_ms)
            if not page.next_page_token:
                return MetricHistory(steps, values, stamps)
            request.page_token = page.next_page_token

    # -- tracking -----------------------------------------------------------------------------

    def create_experiment(
        self, experiment: str, *, display_name: str | None = None, exist_ok: bool = True
    ) -> str:
        """Creates an experiment (id or resource name) and returns its resource name; one that
        already exists is fine when ``exist_ok``."""
        name = self.experiment_name(experiment)
        parent, _, experiment_id = name.rpartition("/experiments/")
        request = experiment_service_pb2.CreateExperimentRequest(
            parent=parent,
            experiment_id=experiment_id,
            experiment=experiment_service_pb2.Experiment(
                display_name=experiment_id if display_name is None else display_name
            ),
            request_id=str(uuid.uuid4()),
        )
        try:
            retrying(lambda: self.experiments.CreateExperiment(request), idempotent=True)
        except ApiError as error:
            if not (exist_ok and error.code == grpc.StatusCode.ALREADY_EXISTS):
                raise
        return name

    def start_run(
        self,
        experiment: str,
        run_name: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        flush_points: int = DEFAULT_FLUSH_POINTS,
    ) -> ActiveRun:
        """Starts a RUNNING run in ``experiment`` (an id in the client's tenant, created when
        missing, or a resource name) and returns it as an :class:`ActiveRun`.

        ``run_name`` is the run's display name; ``run_id`` its id (generated when None).
        Param and tag values are converted with ``str()``.

        The run is created first: only when the experiment is not found is it created and
        the run created again, so a run in an experiment that exists costs one call."""
        parent = self.experiment_name(experiment)
        request = experiment_service_pb2.CreateRunRequest(
            parent=parent,
            run=experiment_service_pb2.Run(
                display_name=run_name or "",
                tags={k: str(v) for k, v in (tags or {}).items()},
            ),
            params={k: str(v) for k, v in (params or {}).items()},
            run_id=run_id or "",
            # The same request_id on every attempt: a retried create returns the first run.
            request_id=str(uuid.uuid4()),
        )
        try:
            run: experiment_service_pb2.Run = retrying(
                lambda: self.experiments.CreateRun(request), idempotent=True
            )
        except ApiError as error:
            missing = error.code == grpc.StatusCode.NOT_FOUND
            if not (missing and error.metadata.get("resource") == parent):
                raise
            self.create_experiment(experiment)
            run = retrying(lambda: self.experiments.CreateRun(request), idempotent=True)
        return ActiveRun(self, run, flush_interval=flush_interval, flush_points=flush_points)

    # -- model registry -----------------------------------------------------------------------

    def model_name(self, model: str) -> str:
        """``tenants/{tenant}/models/{model}`` for a model id (a full name is returned as it
        is)."""
        if model.startswith("tenants/"):
            return model
        return f"tenants/{self._require_tenant()}/models/{model}"

    def watch_governance_events(
        self,
        parent: str,
        *,
        after: str = "",
        from_beginning: bool = False,
        filter: str = "",
        timeout: float | None = None,
    ) -> Generator[governance_service_pb2.GovernanceEvent, None, None]:
        """Yields the governance events of ``parent`` (a model id or name, a version name, or
        ``-`` for every model) as they are recorded, oldest first: what a deployment follows
        to act on a release. Starts after the event named ``after``, or with every recorded
        event (``from_beginning``), or with those recorded from now on. Runs until
        ``timeout`` seconds have passed (None: for ever) or the caller stops iterating; when
        the server ends a stream it reopens it after the last event received."""
        request = governance_service_pb2.WatchGovernanceEventsRequest(
            parent=self.model_name(parent),
            after=after,
            from_beginning=from_beginning,
            filter=filter,
        )

        def resume_after(
            request: governance_service_pb2.WatchGovernanceEventsRequest, event: str
        ) -> None:
            request.after = event
            request.from_beginning = not event

        return follow(self.governance.WatchGovernanceEvents, request, resume_after, timeout=timeout)

    def watch_alias_changes(
        self,
        parent: str,
        *,
        after: str = "",
        from_beginning: bool = False,
        timeout: float | None = None,
    ) -> Generator[registry_service_pb2.ModelAliasChange, None, None]:
        """Yields the changes of an alias (``model/aliases/alias``), of a model's aliases (a
        model id or name) or of every model's (``-``) as they commit, oldest first: what a
        deployment serving an alias follows. Starts, runs and resumes as
        :meth:`watch_governance_events` does."""
        request = registry_service_pb2.WatchModelAliasChangesRequest(
            parent=self.model_name(parent), after=after, from_beginning=from_beginning
        )

        def resume_after(
            request: registry_service_pb2.WatchModelAliasChangesRequest, change: str
        ) -> None:
            request.after = change
            request.from_beginning = not change

        return follow(self.registry.WatchModelAliasChanges, request, resume_after, timeout=timeout)

    def create_model(
        self, model: str, *, display_name: str = "", description: str = "", exist_ok: bool = True
    ) -> str:
        """Creates a registered model (id or resource name) and returns its resource name; one
        that already exists is fine when ``exist_ok``."""
        name = self.model_name(model)
        parent, _, model_id = name.rpartition("/models/")
        request = registry_service_pb2.CreateRegisteredModelRequest(
            parent=parent,
            model_id=model_id,
            registered_model=registry_service_pb2.RegisteredModel(
                display_name=display_name, description=description
            ),
            request_id=str(uuid.uuid4()),
        )
        try:
            retrying(lambda: self.registry.CreateRegisteredModel(request), idempotent=True)
        except ApiError as error:
            if not (exist_ok and error.code == grpc.StatusCode.ALREADY_EXISTS):
                raise
        return name

    def _model_file(self, source: str | os.PathLike[str] | bytes, role: str) -> str:
        """An artifact name for a version file: bytes and existing paths are uploaded as new
        artifacts; any other string names an existing artifact (id or resource name)."""
        if isinstance(source, bytes):
            return str(self.log_artifact(source, "Model", display_name=role).name)
        text = os.fsdecode(source)
        if not text.startswith("tenants/") and Path(text).is_file():
            return str(self.log_artifact(text, "Model", display_name=role).name)
        return self.artifact_name(text)

    def register_model(
        self,
        run: str | ActiveRun | None,
        files: Mapping[str, str | os.PathLike[str] | bytes],
        model: str,
        *,
        framework: str = "",
        signature: registry_service_pb2.ModelSignature | None = None,
        runtime: registry_service_pb2.RuntimeRequirements | None = None,
        evaluation: Mapping[str, float] | list[registry_service_pb2.EvaluationMetric] | None = None,
        description: str = "",
        tags: Mapping[str, Any] | None = None,
        code_version: str = "",
        training_dataset: str = "",
        alias: str | None = None,
        reason: str = "",
    ) -> registry_service_pb2.ModelVersion:
        """Registers a new version of ``model`` (created when missing) in one call.

        ``files`` maps each role ("model", "tokenizer", ...) to a local file path or bytes
        (uploaded as a new artifact with :meth:`log_artifact`) or to an existing artifact with
        content (an id or resource name). ``run`` (an :class:`ActiveRun` or a run name) becomes
        the version's ``source_run``. ``evaluation`` is recorded as given: a mapping is
        ``{key: value}`` with no split, a list holds ``EvaluationMetric`` messages; nothing is
        taken from the run's metrics by default. With ``alias``, the alias moves to the new
        version in the same call and transaction (``CreateModelVersion.aliases``: it moves
        whatever is there; ``reason`` goes to its history). Returns the version (with
        ``aliases`` filled when ``alias`` was moved)."""
        parent = self.create_model(model)
        run_name = run if isinstance(run, str) or run is None else run.name
        if isinstance(evaluation, Mapping):
            metrics = [
                registry_service_pb2.EvaluationMetric(key=k, value=float(v))
                for k, v in evaluation.items()
            ]
        else:
            metrics = list(evaluation or [])
        version = registry_service_pb2.ModelVersion(
            description=description,
            tags={k: str(v) for k, v in (tags or {}).items()},
            files=[
                registry_service_pb2.ModelFile(role=role, artifact=self._model_file(source, role))
                for role, source in files.items()
            ],
            source_run=run_name or "",
            training_dataset=self.artifact_name(training_dataset) if training_dataset else "",
            code_version=code_version,
            framework=framework,
            evaluation=metrics,
        )
        if signature is not None:
            version.signature.CopyFrom(signature)
        if runtime is not None:
            version.runtime.CopyFrom(runtime)
        request = registry_service_pb2.CreateModelVersionRequest(
            parent=parent,
            model_version=version,
            request_id=str(uuid.uuid4()),
            aliases=[alias] if alias else [],
            alias_reason=reason if alias else "",
        )
        created: registry_service_pb2.ModelVersion = retrying(
            lambda: self.registry.CreateModelVersion(request), idempotent=True
        )
        return created

    def record_online_evaluation(
        self,
        version: str,
        results: Mapping[str, float] | list[registry_service_pb2.EvaluationMetric],
        *,
        split: str = "online",
        window: tuple[datetime, datetime] | None = None,
    ) -> registry_service_pb2.OnlineEvaluation:
        """Records results measured while ``version`` (a version's resource name, or
        ``model/versions/N``) serves: ``{key: value}`` on ``split``, or ``EvaluationMetric``
        messages as given. ``window`` is the (start, end) they cover; the end is now when
        not given. Retried safely: the request carries a fresh ``request_id``."""
        if isinstance(results, Mapping):
            metrics = [
                registry_service_pb2.EvaluationMetric(key=k, value=float(v), split=split)
                for k, v in results.items()
            ]
        else:
            metrics = list(results)
        evaluation = registry_service_pb2.OnlineEvaluation(metrics=metrics)
        if window is not None:
            evaluation.window_start_time.FromDatetime(window[0])
            evaluation.window_end_time.FromDatetime(window[1])
        request = registry_service_pb2.RecordOnlineEvaluationRequest(
            parent=self.model_name(version),
            online_evaluation=evaluation,
            request_id=str(uuid.uuid4()),
        )
        recorded: registry_service_pb2.OnlineEvaluation = retrying(
            lambda: self.registry.RecordOnlineEvaluation(request), idempotent=True
        )
        return recorded
