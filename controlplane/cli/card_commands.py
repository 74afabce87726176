"""``mlctl models card`` and ``mlctl models card-edit``: a model version's card."""

from __future__ import annotations

import argparse
from pathlib import Path

from google.protobuf import field_mask_pb2

from controlplane.cli.commands import _show, command
from controlplane.client import Client
from controlplane.client._stubs import Service
from controlplane.v1 import model_card_service_pb2 as pb

# (option destination, card field) of the written fields card-edit sets.
EDITABLE = (
    ("intended_use", "intended_use"),
    ("out_of_scope_use", "out_of_scope_use"),
    ("limitations", "limitations"),
    ("ethical_considerations", "ethical_considerations"),
    ("training_data_description", "training_data_description"),
    ("caveats_and_recommendations", "caveats_and_recommendations"),
)


def _cards(client: Client) -> Service:
    return client.cards


def card_name(version: str) -> str:
    """The card's resource name from a version name (or the card's own name)."""
    version = version.rstrip("/")
    return version if version.endswith("/card") else f"{version}/card"


@command
def card_render(args: argparse.Namespace, client: Client) -> None:
    fmt = (
        pb.RenderModelCardRequest.FORMAT_HTML
        if args.html
        else pb.RenderModelCardRequest.FORMAT_MARKDOWN
    )
    rendered = _cards(client).RenderModelCard(
        pb.RenderModelCardRequest(name=card_name(args.version), format=fmt)
    )
    if args.output_file:
        Path(args.output_file).write_text(rendered.content, encoding="utf-8")
        print(f"wrote {args.output_file}")
    else:
        print(rendered.content, end="")


@command
def card_edit(args: argparse.Namespace, client: Client) -> None:
    card = pb.ModelCard(name=card_name(args.version), etag=args.etag)
    paths = []
    for option, field in EDITABLE:
        value = getattr(args, option)
        if value is None:
            continue
        if value.startswith("@"):
            value = Path(value[1:]).read_text(encoding="utf-8")
        setattr(card, field, value)
        paths.append(field)
    if not paths:
        raise ValueError("nothing to change: pass at least one field option")
    request = pb.UpdateModelCardRequest(
        model_card=card, update_mask=field_mask_pb2.FieldMask(paths=paths)
    )
    updated = _cards(client).UpdateModelCard(request)
    updated.ClearField("facts")  # the written fields and etag; `mlctl models card` shows the rest
    _show(args, updated)
