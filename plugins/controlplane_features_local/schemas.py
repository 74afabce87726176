"""Comparing Arrow schemas, and saying how two differ."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa


def same_schema(expected: pa.Schema, got: pa.Schema) -> bool:
    """Equal names, order, types and nullability; metadata (pandas' for one) is ignored."""
    return bool(expected.equals(got, check_metadata=False))


def describe_difference(expected: pa.Schema, got: pa.Schema) -> str:
    """One line naming each way ``got`` differs from ``expected``."""
    want = {field.name: field for field in expected}
    have = {field.name: field for field in got}
    parts: list[str] = []
    missing = [name for name in want if name not in have]
    extra = [name for name in have if name not in want]
    if missing:
        parts.append(f"missing columns {missing}")
    if extra:
        parts.append(f"unexpected columns {extra}")
    for name, field in want.items():
        other = have.get(name)
        if other is None:
            continue
        if not field.type.equals(other.type):
            parts.append(f"column {name!r} is {other.type}, expected {field.type}")
        elif field.nullable != other.nullable:
            parts.append(
                f"column {name!r} is {'nullable' if other.nullable else 'not nullable'}, "
                f"expected {'nullable' if field.nullable else 'not nullable'}"
            )
    if not parts and expected.names != got.names:
        parts.append(f"columns in order {got.names}, expected {expected.names}")
    if not parts:  # e.g. duplicate column names
        parts.append(f"schema {got}, expected {expected}")
    return "; ".join(parts)


def schema_mismatch(view: str, side: str, expected: pa.Schema, got: pa.Schema) -> ValueError:
    return ValueError(
        f"{side} schema of feature view {view!r} differs from its first write: "
        + describe_difference(expected, got)
    )
