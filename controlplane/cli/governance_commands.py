"""``mlctl models submit|approve|reject|release|retire|rollback|evaluate|compare|events|watch`` and
``mlctl models policy get|set``: governance of model versions (GovernanceService)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from google.protobuf import field_mask_pb2, json_format

from controlplane.cli import output
from controlplane.cli.commands import (
    _follow,
    _list,
    _show,
    command,
    tenant_name,
    watch_limit,
)
from controlplane.client import Client
from controlplane.client._stubs import Service
from controlplane.v1 import governance_service_pb2 as pb
from controlplane.v1 import registry_service_pb2 as registry_pb


def _governance(client: Client) -> Service:
    return client.governance


def _policy_name(tenant: str) -> str:
    return f"{tenant_name(tenant)}/releasePolicy"


@command
def submit(args: argparse.Namespace, client: Client) -> None:
    request = pb.SubmitModelVersionRequest(name=args.version, reason=args.reason)
    _show(args, _governance(client).SubmitModelVersion(request))


@command
def approve(args: argparse.Namespace, client: Client) -> None:
    request = pb.ApproveModelVersionRequest(name=args.version, reason=args.reason)
    _show(args, _governance(client).ApproveModelVersion(request))


@command
def reject(args: argparse.Namespace, client: Client) -> None:
    request = pb.RejectModelVersionRequest(name=args.version, reason=args.reason)
    _show(args, _governance(client).RejectModelVersion(request))


@command
def release(args: argparse.Namespace, client: Client) -> None:
    request = pb.ReleaseModelVersionRequest(name=args.version, alias=args.alias, reason=args.reason)
    _show(args, _governance(client).ReleaseModelVersion(request))


@command
def retire(args: argparse.Namespace, client: Client) -> None:
    request = pb.RetireModelVersionRequest(name=args.version, reason=args.reason)
    _show(args, _governance(client).RetireModelVersion(request))


@command
def rollback(args: argparse.Namespace, client: Client) -> None:
    request = pb.RollbackModelAliasRequest(alias=args.alias, reason=args.reason)
    _show(args, _governance(client).RollbackModelAlias(request))


@command
def policy_get(args: argparse.Namespace, client: Client) -> None:
    request = pb.GetReleasePolicyRequest(name=_policy_name(args.tenant))
    _show(args, _governance(client).GetReleasePolicy(request))


@command
def policy_set(args: argparse.Namespace, client: Client) -> None:
    """Sets the policy from a JSON file shaped like the ReleasePolicy message; only the
    fields the file names are changed (unless --mask says otherwise)."""
    try:
        document = json.loads(Path(args.file).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{args.file} is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise ValueError(f"{args.file} must hold a JSON object (a ReleasePolicy)")
    policy = pb.ReleasePolicy()
    try:
        json_format.ParseDict(document, policy)
    except json_format.ParseError as error:
        raise ValueError(f"{args.file}: {error}") from None
    policy.name = _policy_name(args.tenant)
    if args.etag:
        policy.etag = args.etag
    fields = {f.name for f in pb.ReleasePolicy.DESCRIPTOR.fields}
    paths = args.mask.split(",") if args.mask else []
    if not paths:
        by_json = {f.json_name: f.name for f in pb.ReleasePolicy.DESCRIPTOR.fields}
        paths = [by_json.get(key, key) for key in document if by_json.get(key, key) in fields]
        paths = [p for p in paths if p not in ("name", "etag", "update_time")]
    request = pb.UpdateReleasePolicyRequest(
        release_policy=policy, update_mask=field_mask_pb2.FieldMask(paths=paths)
    )
    _show(args, _governance(client).UpdateReleasePolicy(request))


@command
def evaluate(args: argparse.Namespace, client: Client) -> None:
    result = _governance(client).EvaluateReleasePolicy(
        pb.EvaluateReleasePolicyRequest(name=args.version)
    )
    if args.output == "json":
        output.print_json(output.to_dict(result))
        return
    print(f"{result.model_version}: {'passes' if result.passed else 'FAILS'} the release policy")
    output.print_table(
        ["CHECK", "PASSED", "DETAIL"],
        ([c.name, "yes" if c.passed else "NO", c.detail] for c in result.checks),
    )


def _optional(message: pb.MetricComparison, field: str) -> str:
    return output.number(getattr(message, field)) if message.HasField(field) else "-"


@command
def compare(args: argparse.Namespace, client: Client) -> None:
    result = _governance(client).CompareModelVersions(
        pb.CompareModelVersionsRequest(candidate=args.candidate, baseline=args.baseline)
    )
    _list(
        args,
        "metrics",
        iter(result.metrics),
        ["KEY", "SPLIT", "SLICE", "CANDIDATE", "BASELINE", "DELTA"],
        lambda m: [
            m.key,
            m.split,
            m.slice,
            _optional(m, "candidate"),
            _optional(m, "baseline"),
            _optional(m, "delta"),
        ],
    )


def _state(value: int) -> str:
    return str(registry_pb.ModelVersion.State.Name(value)).removeprefix("STATE_")


EVENT_HEADERS = ["TIME", "ACTION", "VERSION", "FROM", "TO", "PRINCIPAL", "REASON"]


def _event_row(event: pb.GovernanceEvent) -> list[str]:
    return [
        output.timestamp(event.time),
        event.action,
        event.name.rsplit("/events/", 1)[0],
        _state(event.from_state),
        _state(event.to_state),
        event.principal,
        event.reason,
    ]


@command
def events(args: argparse.Namespace, client: Client) -> None:
    request = pb.ListGovernanceEventsRequest(parent=args.parent, filter=args.filter)
    found = client.paginate(
        _governance(client).ListGovernanceEvents, request, "events", limit=args.limit
    )
    _list(args, "events", found, EVENT_HEADERS, _event_row)


@command
def watch(args: argparse.Namespace, client: Client) -> None:
    """Prints events as they are recorded, until --limit events or Ctrl-C."""
    watch_limit(args)
    followed = client.watch_governance_events(
        args.parent, after=args.after, from_beginning=args.from_beginning, filter=args.filter
    )
    _follow(args, followed, EVENT_HEADERS, _event_row)
