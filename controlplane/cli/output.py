"""Printing results: aligned tables and ``field: value`` records for people, and one JSON
document (``MessageToDict``) for programs."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

TIMESTAMP = "google.protobuf.Timestamp"
STRUCT_TYPES = ("google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue")
PROPERTY_VALUE = "controlplane.v1.Value"


def to_dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def print_json(document: Any) -> None:
    print(json.dumps(document, indent=2))


def timestamp(value: Any, *, milliseconds: bool = False) -> str:
    """A Timestamp (or milliseconds since the epoch) as UTC text; "-" when unset."""
    if isinstance(value, int):
        if not value:
            return "-"
        moment = datetime.fromtimestamp(value / 1000, UTC)
    else:
        if not value.seconds and not value.nanos:
            return "-"
        moment = value.ToDatetime(tzinfo=UTC)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    if milliseconds:
        text += f".{moment.microsecond // 1000:03d}"
    return text + "Z"


def number(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return f"{value:.6g}"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns separated by two spaces, each as wide as its widest cell; the last column is
    not padded."""
    cells = [list(headers), *([str(cell) for cell in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        lines.append("  ".join([*padded, row[-1]]).rstrip())
    return "\n".join(lines)


def print_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    print(table(headers, rows))


def enum_name(field: FieldDescriptor, value: int) -> str:
    if field.enum_type is None:
        return str(value)
    enum_value = field.enum_type.values_by_number.get(value)
    return enum_value.name if enum_value is not None else str(value)


def property_value(value: Any) -> str:
    """A ``controlplane.v1.Value``: its one set kind."""
    kind = value.WhichOneof("kind")
    if kind is None:
        return "-"
    if kind == "struct_value":
        return json.dumps(json_format.MessageToDict(value.struct_value), sort_keys=True)
    inner = getattr(value, kind)
    if kind == "bool_value":
        return "true" if inner else "false"
    if kind == "double_value":
        return number(inner)
    return str(inner)


def _scalar(field: FieldDescriptor, value: Any) -> str:
    if field.type == FieldDescriptor.TYPE_ENUM:
        return enum_name(field, value)
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        full_name = value.DESCRIPTOR.full_name
        if full_name == TIMESTAMP:
            return timestamp(value)
        if full_name == PROPERTY_VALUE:
            return property_value(value)
        return json.dumps(json_format.MessageToDict(value), sort_keys=True)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return "true" if value else "false"
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return number(value)
    return str(value)


def _inline(field: FieldDescriptor) -> bool:
    """Whether a field's values print on one line."""
    if field.type != FieldDescriptor.TYPE_MESSAGE:
        return True
    message_type = field.message_type
    return message_type is not None and message_type.full_name in (
        TIMESTAMP,
        PROPERTY_VALUE,
        *STRUCT_TYPES,
    )


def describe(message: Message, indent: int = 0) -> list[str]:
    """``field: value`` lines for the set fields of a message, nested messages indented."""
    pad = " " * indent
    lines: list[str] = []
    for field, value in message.ListFields():
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            lines.append(f"{pad}{field.name}:")
            for key in sorted(value):
                lines.append(f"{pad}  {key}: {_scalar(value_field, value[key])}")
        elif field.is_repeated:
            if _inline(field):
                lines.append(f"{pad}{field.name}: {', '.join(_scalar(field, v) for v in value)}")
                continue
            lines.append(f"{pad}{field.name}:")
            for item in value:
                nested = describe(item, indent + 4)
                if nested:
                    nested[0] = f"{pad}  - {nested[0].lstrip()}"
                lines.extend(nested)
        elif _inline(field):
            lines.append(f"{pad}{field.name}: {_scalar(field, value)}")
        else:
            lines.append(f"{pad}{field.name}:")
            lines.extend(describe(value, indent + 2))
    return lines


def print_record(message: Message) -> None:
    lines = describe(message)
    print("\n".join(lines) if lines else "(empty)")


def print_error(text: str) -> None:
    print(text, file=sys.stderr)


def error_document(
    code: str,
    message: str,
    *,
    reason: str = "",
    field_violations: Sequence[tuple[str, str]] = (),
    metadata: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A failure as ``--output json`` prints it: ``code`` a gRPC status code name, ``reason``
    the server's ErrorInfo reason (empty for a failure on this side or on the way)."""
    return {
        "error": {
            "code": code,
            "reason": reason,
            "message": message,
            "field_violations": [
                {"field": field, "description": description}
                for field, description in field_violations
            ],
            "metadata": dict(metadata or {}),
        }
    }


def print_failure(
    as_json: bool,
    code: str,
    message: str,
    *,
    reason: str = "",
    field_violations: Sequence[tuple[str, str]] = (),
    metadata: Mapping[str, str] | None = None,
    code_in_text: bool = True,
) -> None:
    """A failed command on stderr: one JSON error object (``error_document``), or
    ``error: CODE: message`` then each field violation the message does not already say (a
    one-field INVALID_ARGUMENT's message is its violation: it is printed once)."""
    if as_json:
        document = error_document(
            code, message, reason=reason, field_violations=field_violations, metadata=metadata
        )
        print(json.dumps(document, indent=2), file=sys.stderr)
        return
    lines = [f"error: {code}: {message}" if code_in_text else f"error: {message}"]
    for field, description in field_violations:
        violation = f"{field}: {description}"
        if violation not in message:
            lines.append(f"  {violation}")
    print("\n".join(lines), file=sys.stderr)
