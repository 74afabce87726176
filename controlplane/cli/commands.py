"""The client commands of ``mlctl``: each calls the API through :class:`Client` and prints
the result as text or JSON."""

from __future__ import annotations

import argparse
import functools
import json
import uuid
from collections.abc import Callable, Generator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import field_mask_pb2, timestamp_pb2

from controlplane.cli import output
from controlplane.client import ApiError, Client
from controlplane.v1 import experiment_service_pb2 as exp_pb
from controlplane.v1 import metadata_service_pb2 as md_pb
from controlplane.v1 import tenant_service_pb2 as tenant_pb

Command = Callable[[argparse.Namespace], int]


# -- plumbing -------------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> Client:
    return Client(
        args.target,
        args.token,
        tls_ca=args.tls_ca,
        tls=args.tls,
        timeout=args.timeout if args.timeout and args.timeout > 0 else None,
    )


def report(args: argparse.Namespace, error: ApiError, admin_key_withheld: str = "") -> int:
    """Prints a failed call to stderr, as text or (``-o json``) one JSON error object; an
    UNAUTHENTICATED one says why the local admin key was not sent, if it was not; returns 1."""
    message = error.message
    if (
        error.code.name == "UNAUTHENTICATED"
        and admin_key_withheld
        and admin_key_withheld not in message
    ):
        message = f"{message} ({admin_key_withheld})"
    output.print_failure(
        _json(args),
        error.code.name,
        message,
        reason=error.reason,
        field_violations=[(v.field, v.description) for v in error.field_violations],
        metadata=error.metadata,
    )
    return 1


def _local_code(error: Exception) -> str:
    """The status code name a failure on this side is reported with in JSON."""
    if isinstance(error, FileNotFoundError | NotADirectoryError):
        return "NOT_FOUND"
    if isinstance(error, FileExistsError):
        return "ALREADY_EXISTS"
    if isinstance(error, PermissionError):
        return "PERMISSION_DENIED"
    if isinstance(error, ValueError):
        return "INVALID_ARGUMENT"
    return "UNKNOWN"


def report_local(args: argparse.Namespace, error: Exception) -> int:
    """Prints a failure on this side (bad input, a file) like ``report``; returns 1."""
    output.print_failure(_json(args), _local_code(error), str(error), code_in_text=False)
    return 1


def command(function: Callable[[argparse.Namespace, Client], None]) -> Command:
    """Runs ``function`` with a connected client; an API or input error becomes exit 1."""

    @functools.wraps(function)
    def run(args: argparse.Namespace) -> int:
        client: Client | None = None
        try:
            with _client(args) as client:
                function(args, client)
        except ApiError as error:
            return report(args, error, client.admin_key_withheld if client else "")
        except (ValueError, OSError) as error:
            return report_local(args, error)
        return 0

    return run


def _json(args: argparse.Namespace) -> bool:
    return bool(args.output == "json")


def _show(args: argparse.Namespace, message: Any) -> None:
    if _json(args):
        output.print_json(output.to_dict(message))
    else:
        output.print_record(message)


def _deleted(args: argparse.Namespace, name: str) -> None:
    if _json(args):
        output.print_json({})
    else:
        print(f"deleted {name}")


def _list(
    args: argparse.Namespace,
    field: str,
    items: Iterator[Any],
    headers: list[str],
    row: Callable[[Any], list[str]],
) -> None:
    if _json(args):
        output.print_json({field: [output.to_dict(item) for item in items]})
    else:
        output.print_table(headers, (row(item) for item in items))


def _follow(
    args: argparse.Namespace,
    followed: Generator[Any, None, None],
    headers: list[str],
    row: Callable[[Any], list[str]],
) -> None:
    """Prints a watch's items as they come, one line each (tab-separated under a header line,
    or JSON Lines with -o json), until ``args.limit`` items or Ctrl-C."""
    try:
        if not _json(args):
            print("\t".join(headers), flush=True)
        for count, item in enumerate(followed, start=1):
            if _json(args):
                print(json.dumps(output.to_dict(item)), flush=True)
            else:
                print("\t".join(row(item)), flush=True)
            if count == args.limit:
                break
    except KeyboardInterrupt:
        pass
    finally:
        followed.close()


def watch_limit(args: argparse.Namespace) -> None:
    if args.limit is not None and args.limit <= 0:
        raise ValueError("--limit must be positive")


def tenant_name(value: str) -> str:
    """``tenants/{id}`` for an id or a tenant name."""
    value = value.strip("/")
    return value if value.startswith("tenants/") else f"tenants/{value}"


def principal_name(tenant: str, value: str) -> str:
    """A principal's resource name; a bare id is taken to be in ``tenant``."""
    if "/" in value:
        return value
    return f"{tenant_name(tenant)}/principals/{value}"


def role_value(text: str) -> tenant_pb.Role:
    """``editor``, ``EDITOR``, ``ROLE_EDITOR`` or ``platform-admin`` to the Role enum."""
    name = text.strip().upper().replace("-", "_")
    if not name.startswith("ROLE_"):
        name = "ROLE_" + name
    names = [n for n in tenant_pb.Role.keys() if n != "ROLE_UNSPECIFIED"]  # noqa: SIM118
    if name not in names:
        known = ", ".join(n.removeprefix("ROLE_").lower() for n in names)
        raise ValueError(f"unknown role {text!r}; use one of {known}")
    return tenant_pb.Role.Value(name)  # type: ignore[return-value]


def _enum(enum: Any, value: int, prefix: str = "") -> str:
    try:
        return str(enum.Name(value)).removeprefix(prefix)
    except ValueError:
        return str(value)


def _mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


# -- whoami ---------------------------------------------------------------------------------


@command
def whoami(args: argparse.Namespace, client: Client) -> None:
    _show(args, client.whoami())


# -- tenants --------------------------------------------------------------------------------


def _tenant_row(tenant: tenant_pb.Tenant) -> list[str]:
    return [tenant.name, tenant.display_name, output.timestamp(tenant.create_time)]


@command
def tenants_create(args: argparse.Namespace, client: Client) -> None:
    tenant = client.tenants.CreateTenant(
        tenant_pb.CreateTenantRequest(
            tenant_id=args.tenant_id.removeprefix("tenants/"),
            tenant=tenant_pb.Tenant(display_name=args.display_name, description=args.description),
            request_id=str(uuid.uuid4()),
        )
    )
    _show(args, tenant)


@command
def tenants_list(args: argparse.Namespace, client: Client) -> None:
    request = tenant_pb.ListTenantsRequest(
        page_size=1000, filter=args.filter, order_by=args.order_by
    )
    items = client.paginate(client.tenants.ListTenants, request, "tenants")
    _list(args, "tenants", items, ["NAME", "DISPLAY NAME", "CREATED"], _tenant_row)


@command
def tenants_get(args: argparse.Namespace, client: Client) -> None:
    _show(args, client.tenants.GetTenant(tenant_pb.GetTenantRequest(name=tenant_name(args.tenant))))


@command
def tenants_delete(args: argparse.Namespace, client: Client) -> None:
    name = tenant_name(args.tenant)
    client.tenants.DeleteTenant(tenant_pb.DeleteTenantRequest(name=name))
    _deleted(args, name)


# -- principals -----------------------------------------------------------------------------


def _principal_row(principal: tenant_pb.Principal) -> list[str]:
    return [
        principal.name,
        principal.display_name,
        _enum(tenant_pb.Principal.Kind, principal.kind, "KIND_").lower(),
        "disabled" if principal.disabled else "enabled",
        output.timestamp(principal.create_time),
    ]


@command
def principals_create(args: argparse.Namespace, client: Client) -> None:
    kind = (
        tenant_pb.Principal.KIND_SERVICE_ACCOUNT
        if args.service_account
        else tenant_pb.Principal.KIND_USER
    )
    principal = client.tenants.CreatePrincipal(
        tenant_pb.CreatePrincipalRequest(
            parent=tenant_name(args.tenant),
            principal_id=args.principal_id,
            principal=tenant_pb.Principal(display_name=args.display_name, kind=kind),
            request_id=str(uuid.uuid4()),
        )
    )
    _show(args, principal)


@command
def principals_list(args: argparse.Namespace, client: Client) -> None:
    request = tenant_pb.ListPrincipalsRequest(
        parent=tenant_name(args.tenant), page_size=1000, filter=args.filter, order_by=args.order_by
    )
    items = client.paginate(client.tenants.ListPrincipals, request, "principals")
    _list(
        args,
        "principals",
        items,
        ["NAME", "DISPLAY NAME", "KIND", "STATE", "CREATED"],
        _principal_row,
    )


@command
def principals_get(args: argparse.Namespace, client: Client) -> None:
    _show(args, client.tenants.GetPrincipal(tenant_pb.GetPrincipalRequest(name=args.name)))


def _set_disabled(args: argparse.Namespace, client: Client, disabled: bool) -> None:
    principal = client.tenants.UpdatePrincipal(
        tenant_pb.UpdatePrincipalRequest(
            principal=tenant_pb.Principal(name=args.name, disabled=disabled),
            update_mask=_mask("disabled"),
        )
    )
    _show(args, principal)


@command
def principals_disable(args: argparse.Namespace, client: Client) -> None:
    _set_disabled(args, client, True)


@command
def principals_enable(args: argparse.Namespace, client: Client) -> None:
    _set_disabled(args, client, False)


@command
def principals_delete(args: argparse.Namespace, client: Client) -> None:
    client.tenants.DeletePrincipal(tenant_pb.DeletePrincipalRequest(name=args.name))
    _deleted(args, args.name)


# -- API keys -------------------------------------------------------------------------------


def _key_row(key: tenant_pb.ApiKey) -> list[str]:
    return [
        key.name,
        key.display_name,
        output.timestamp(key.create_time),
        output.timestamp(key.expire_time) if key.HasField("expire_time") else "never",
    ]


@command
def keys_create(args: argparse.Namespace, client: Client) -> None:
    key = tenant_pb.ApiKey(display_name=args.display_name)
    if args.expires_in_days is not None:
        if args.expires_in_days <= 0:
            raise ValueError("--expires-in-days must be positive")
        expire = timestamp_pb2.Timestamp()
        expire.FromDatetime(datetime.now(UTC) + timedelta(days=args.expires_in_days))
        key.expire_time.CopyFrom(expire)
    response = client.tenants.CreateApiKey(
        tenant_pb.CreateApiKeyRequest(
            parent=args.principal, api_key=key, request_id=str(uuid.uuid4())
        )
    )
    _show(args, response)
    if not _json(args):
        output.print_error("The secret is shown once: the server keeps only a hash of it.")


@command
def keys_list(args: argparse.Namespace, client: Client) -> None:
    request = tenant_pb.ListApiKeysRequest(parent=args.principal, page_size=1000)
    items = client.paginate(client.tenants.ListApiKeys, request, "api_keys")
    _list(args, "apiKeys", items, ["NAME", "DISPLAY NAME", "CREATED", "EXPIRES"], _key_row)


@command
def keys_revoke(args: argparse.Namespace, client: Client) -> None:
    client.tenants.DeleteApiKey(tenant_pb.DeleteApiKeyRequest(name=args.name))
    _deleted(args, args.name)


# -- role bindings --------------------------------------------------------------------------


def _binding_row(binding: tenant_pb.RoleBinding) -> list[str]:
    return [
        binding.name,
        binding.principal,
        _enum(tenant_pb.Role, binding.role, "ROLE_").lower(),
        output.timestamp(binding.create_time),
    ]


@command
def roles_grant(args: argparse.Namespace, client: Client) -> None:
    role = role_value(args.role)
    binding = client.tenants.CreateRoleBinding(
        tenant_pb.CreateRoleBindingRequest(
            parent=tenant_name(args.tenant),
            role_binding=tenant_pb.RoleBinding(
                principal=principal_name(args.tenant, args.principal), role=role
            ),
            request_id=str(uuid.uuid4()),
        )
    )
    _show(args, binding)


@command
def roles_list(args: argparse.Namespace, client: Client) -> None:
    request = tenant_pb.ListRoleBindingsRequest(
        parent=tenant_name(args.tenant), page_size=1000, filter=args.filter
    )
    items = client.paginate(client.tenants.ListRoleBindings, request, "role_bindings")
    _list(args, "roleBindings", items, ["NAME", "PRINCIPAL", "ROLE", "CREATED"], _binding_row)


@command
def roles_revoke(args: argparse.Namespace, client: Client) -> None:
    client.tenants.DeleteRoleBinding(tenant_pb.DeleteRoleBindingRequest(name=args.name))
    _deleted(args, args.name)


# -- experiments ----------------------------------------------------------------------------


def _experiment_row(experiment: exp_pb.Experiment) -> list[str]:
    return [
        experiment.name,
        experiment.display_name,
        output.timestamp(experiment.create_time),
        output.timestamp(experiment.update_time),
    ]


@command
def experiments_create(args: argparse.Namespace, client: Client) -> None:
    experiment = client.experiments.CreateExperiment(
        exp_pb.CreateExperimentRequest(
            parent=tenant_name(args.tenant),
            experiment_id=args.experiment_id,
            experiment=exp_pb.Experiment(
                display_name=args.display_name, description=args.description
            ),
            request_id=str(uuid.uuid4()),
        )
    )
    _show(args, experiment)


@command
def experiments_list(args: argparse.Namespace, client: Client) -> None:
    request = exp_pb.ListExperimentsRequest(
        parent=tenant_name(args.tenant), page_size=1000, filter=args.filter, order_by=args.order_by
    )
    items = client.paginate(client.experiments.ListExperiments, request, "experiments")
    _list(
        args, "experiments", items, ["NAME", "DISPLAY NAME", "CREATED", "UPDATED"], _experiment_row
    )


@command
def experiments_get(args: argparse.Namespace, client: Client) -> None:
    _show(args, client.experiments.GetExperiment(exp_pb.GetExperimentRequest(name=args.name)))


@command
def experiments_delete(args: argparse.Namespace, client: Client) -> None:
    client.experiments.DeleteExperiment(exp_pb.DeleteExperimentRequest(name=args.name))
    _deleted(args, args.name)


# -- runs -----------------------------------------------------------------------------------


def _run_row(run: exp_pb.Run) -> list[str]:
    metrics = " ".join(f"{m.key}={output.number(m.value)}" for m in run.latest_metrics)
    return [
        run.name,
        run.display_name,
        _enum(exp_pb.RunState, run.state, "RUN_STATE_").lower(),
        output.timestamp(run.start_time),
        metrics,
    ]


def search_parent(value: str) -> str:
    """An experiment's name as it is; a tenant (id or name) means all its experiments."""
    value = value.strip("/")
    if "/experiments/" in value:
        return value
    return f"{tenant_name(value)}/experiments/-"


@command
def runs_search(args: argparse.Namespace, client: Client) -> None:
    if args.limit is not None and args.limit < 0:
        raise ValueError("--limit must not be negative")
    page_size = min(args.limit, 1000) if args.limit else 1000
    request = exp_pb.SearchRunsRequest(
        parent=search_parent(args.parent),
        filter=args.filter,
        order_by=args.order_by,
        page_size=page_size,
    )
    items = client.paginate(client.experiments.SearchRuns, request, "runs", limit=args.limit)
    _list(args, "runs", items, ["NAME", "DISPLAY NAME", "STATE", "STARTED", "METRICS"], _run_row)


@command
def runs_get(args: argparse.Namespace, client: Client) -> None:
    _show(args, client.get_run(args.name))


@command
def runs_history(args: argparse.Namespace, client: Client) -> None:
    steps, values, stamps = client.get_metric_history(args.run, args.key)
    if _json(args):
        history = exp_pb.MetricHistory(
            metric_key=args.key, steps=steps, values=values, timestamps_ms=stamps
        )
        output.print_json(output.to_dict(history))
        return
    output.print_table(
        ["STEP", "VALUE", "TIME"],
        (
            [str(step), output.number(value), output.timestamp(stamp, milliseconds=True)]
            for step, value, stamp in zip(steps, values, stamps, strict=True)
        ),
    )


# -- lineage --------------------------------------------------------------------------------

DIRECTIONS = {
    "upstream": md_pb.QueryLineageSubgraphRequest.DIRECTION_UPSTREAM,
    "downstream": md_pb.QueryLineageSubgraphRequest.DIRECTION_DOWNSTREAM,
    "both": md_pb.QueryLineageSubgraphRequest.DIRECTION_BOTH,
}


@command
def lineage(args: argparse.Namespace, client: Client) -> None:
    graph: md_pb.LineageSubgraph = client.metadata.QueryLineageSubgraph(
        md_pb.QueryLineageSubgraphRequest(
            node=args.node, direction=DIRECTIONS[args.direction], max_hops=args.max_hops
        )
    )
    if _json(args):
        output.print_json(output.to_dict(graph))
        return
    print("ARTIFACTS")
    output.print_table(
        ["NAME", "TYPE", "STATE", "URI"],
        (
            [a.name, a.type, _enum(md_pb.Artifact.State, a.state, "STATE_").lower(), a.uri]
            for a in graph.artifacts
        ),
    )
    print()
    print("EXECUTIONS")
    output.print_table(
        ["NAME", "TYPE", "STATE"],
        (
            [e.name, e.type, _enum(md_pb.Execution.State, e.state, "STATE_").lower()]
            for e in graph.executions
        ),
    )
    print()
    print("EVENTS")
    output.print_table(
        ["EXECUTION", "TYPE", "ARTIFACT"],
        (
            [e.execution, _enum(md_pb.Event.Type, e.type, "TYPE_").lower(), e.artifact]
            for e in graph.events
        ),
    )
    if graph.truncated:
        print()
        print("(truncated: --max-hops stopped the walk before the graph ended)")
