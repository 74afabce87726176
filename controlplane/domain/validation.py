"""Request checks shared by every service. Each failure names the offending request field."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping

from controlplane.errors import EtagMismatch, InvalidArgument

MAX_DISPLAY_NAME = 200
MAX_DESCRIPTION = 10_000
MAX_TYPE_NAME = 200
MAX_URI = 2048
MAX_MAP_ENTRIES = 200
MAX_KEY = 250
MAX_TAG_VALUE = 5000
MAX_PARAM_VALUE = 6000
MAX_PROPERTIES_BYTES = 64 * 1024


def string(value: str, field: str, *, maximum: int, required: bool = False) -> str:
    if required and not value:
        raise InvalidArgument.for_field(field, "is required")
    if len(value) > maximum:
        raise InvalidArgument.for_field(field, f"is longer than {maximum} characters")
    if "\x00" in value:
        raise InvalidArgument.for_field(field, "contains a NUL character")
    return value


def map_entry(field: str, key: str) -> str:
    """The path of one map entry in a field violation, e.g. ``run.tags["team"]``."""
    return f"{field}[{json.dumps(key[:40])}]"


def string_map(
    values: Mapping[str, str], field: str, *, max_value: int, max_entries: int = MAX_MAP_ENTRIES
) -> dict[str, str]:
    if len(values) > max_entries:
        raise InvalidArgument.for_field(field, f"has more than {max_entries} entries")
    for key, value in values.items():
        if not key:
            raise InvalidArgument.for_field(field, "has an empty key")
        string(key, map_entry(field, key), maximum=MAX_KEY)
        string(value, map_entry(field, key), maximum=max_value)
    return dict(values)


# The widest integer either store holds (every integer column is signed 64-bit on both).
MAX_INT64 = 2**63 - 1
MIN_INT64 = -(2**63)


def integer(value: int, field: str, *, minimum: int = MIN_INT64, maximum: int = MAX_INT64) -> int:
    """``value`` when it is within [minimum, maximum] (by default, what the stores hold)."""
    if not minimum <= value <= maximum:
        raise InvalidArgument.for_field(field, f"must be between {minimum} and {maximum}")
    return value


def finite(value: float, field: str) -> float:
    if math.isnan(value) or math.isinf(value):
        raise InvalidArgument.for_field(field, "must be a finite number")
    return value


def request_id(value: str) -> str:
    """AIP-155: a request_id, when given, is a UUID."""
    if not value:
        return ""
    try:
        uuid.UUID(value)
    except ValueError:
        raise InvalidArgument.for_field("request_id", "must be a UUID") from None
    return value.lower()


def etag_of(version: int) -> str:
    return f'W/"{version}"'


def check_etag(sent: str, version: int, name: str) -> None:
    """An empty etag means "overwrite whatever is there"; any other must be current."""
    if sent and sent != etag_of(version):
        raise EtagMismatch.resource(name)


def update_paths(
    paths: list[str], allowed: tuple[str, ...], field: str = "update_mask"
) -> set[str]:
    """The fields an Update touches: the mask's paths, or every mutable field when empty."""
    if not paths:
        return set(allowed)
    unknown = [path for path in paths if path not in allowed]
    if unknown:
        raise InvalidArgument.for_field(
            field, f"cannot update {', '.join(unknown)}; updatable: {', '.join(allowed)}"
        )
    return set(paths)
