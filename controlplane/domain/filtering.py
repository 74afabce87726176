"""Parser for the API's filter language (an AIP-160 subset) and ``order_by`` (AIP-132).

This module is pure: it only turns text into a small typed AST and checks it
against a per-resource field whitelist.  Translating the AST into SQL (or
anything else) is the caller's job.

Filter grammar (whitespace between tokens is insignificant)::

    filter     := [ expression ]
    expression := and_expr { "OR" and_expr }
    and_expr   := unary { "AND" unary }
    unary      := "NOT" unary | "(" expression ")" | comparison
    comparison := field op literal
    op         := "=" | "!=" | "<" | "<=" | ">" | ">=" | ":"
    field      := IDENT { "." segment }          (no whitespace inside a field)
    segment    := KEY | "`" any-chars-but-backtick "`"
    literal    := STRING | NUMBER | "true" | "false" | IDENT

    IDENT  := [A-Za-z_][A-Za-z0-9_]*
    KEY    := [A-Za-z0-9_-]+
    STRING := '"' ... '"'   with the escapes \\" and \\\\ only
    NUMBER := [+-] digits [ "." digits ] [ (e|E) [+-] digits ]   (".5" and "1." too)

Precedence is ``NOT`` > ``AND`` > ``OR``; keywords are uppercase only.  ``:``
is the "has" operator, meaning *contains* on string fields.  Timestamps are
written as quoted RFC 3339 strings.  Error positions are 0-based character
offsets into the input text.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import TypeAlias

__all__ = [
    "MAX_COMPARISONS",
    "MAX_DEPTH",
    "MAX_FILTER_LENGTH",
    "MAX_ORDER_BY_KEYS",
    "MAX_ORDER_BY_LENGTH",
    "And",
    "Comparison",
    "FieldKind",
    "FieldSpec",
    "FilterSyntaxError",
    "FilterTypeError",
    "Literal",
    "LiteralKind",
    "Node",
    "Not",
    "Operator",
    "Or",
    "OrderBySyntaxError",
    "OrderKey",
    "QueryError",
    "UnknownFieldError",
    "format_field",
    "iter_comparisons",
    "parse_filter",
    "parse_order_by",
    "parse_timestamp",
    "resolve_field",
    "validate_fields",
]

MAX_FILTER_LENGTH = 4096
"""Longest accepted filter string, in characters."""
MAX_COMPARISONS = 64
"""Most comparisons a single filter may contain."""
MAX_DEPTH = 16
"""Deepest accepted nesting of parentheses and ``NOT`` (combined)."""
MAX_ORDER_BY_LENGTH = 4096
"""Longest accepted order_by string, in characters."""
MAX_ORDER_BY_KEYS = 8
"""Most keys an order_by string may list."""

_KEYWORDS = frozenset({"AND", "OR", "NOT"})
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY = re.compile(r"[A-Za-z0-9_-]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_WORD_TAIL = re.compile(r"[^\s()]*")


# --------------------------------------------------------------------------- errors


class QueryError(ValueError):
    """Base class for every error raised for a bad filter or order_by string."""


class _PositionedError(QueryError):
    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at position {position}")
        self.message = message
        self.position = position

    def __reduce__(self) -> tuple[type[_PositionedError], tuple[str, int]]:
        return (type(self), (self.message, self.position))


class FilterSyntaxError(_PositionedError):
    """The filter text is malformed; ``position`` is a 0-based character offset."""


class OrderBySyntaxError(_PositionedError):
    """The order_by text is malformed; ``position`` is a 0-based character offset."""


class UnknownFieldError(QueryError):
    """A filter or order_by names a field the resource does not allow."""

    def __init__(self, field: str, allowed: Iterable[str] = ()) -> None:
        names = sorted(allowed)
        message = f'unknown field "{field}"'
        if names:
            message += "; allowed fields are " + ", ".join(names)
        super().__init__(message)
        self.field = field
        self.allowed = tuple(names)

    def __reduce__(self) -> tuple[type[UnknownFieldError], tuple[str, tuple[str, ...]]]:
        return (type(self), (self.field, self.allowed))


class FilterTypeError(QueryError):
    """A comparison's operator or value does not suit the field's type."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def __reduce__(self) -> tuple[type[FilterTypeError], tuple[str, str]]:
        return (type(self), (self.field, self.message))


# ------------------------------------------------------------------------------ AST


class Operator(enum.Enum):
    """Comparison operators; the value is the operator's spelling."""

    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    HAS = ":"


class LiteralKind(enum.Enum):
    """How a literal was written: quoted string, number, true/false, or bare word."""

    STRING = "string"
    NUMBER = "number"
    BOOL = "bool"
    BARE = "bare"


class FieldKind(enum.Enum):
    """Type of a filterable field, used to check comparisons."""

    STRING = "string"
    NUMBER = "number"
    TIMESTAMP = "timestamp"
    ENUM = "enum"
    BOOL = "bool"


@dataclass(frozen=True)
class Literal:
    """A literal value: str for STRING/BARE, int or float for NUMBER, bool for BOOL."""

    kind: LiteralKind
    value: str | int | float | bool


@dataclass(frozen=True)
class Comparison:
    """``field op value``; ``field`` holds the path segments, e.g. ("metrics", "loss")."""

    field: tuple[str, ...]
    op: Operator
    value: Literal


@dataclass(frozen=True)
class And:
    """Conjunction of two or more nodes."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """Disjunction of two or more nodes."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """Negation of one node."""

    item: Node


Node: TypeAlias = Comparison | And | Or | Not
"""Any filter AST node."""

# (spelling, operator), longest spellings first so "<=" wins over "<".
_OPERATORS: tuple[tuple[str, Operator], ...] = (
    ("<=", Operator.LE),
    (">=", Operator.GE),
    ("!=", Operator.NE),
    ("=", Operator.EQ),
    ("<", Operator.LT),
    (">", Operator.GT),
    (":", Operator.HAS),
)


@dataclass(frozen=True)
class OrderKey:
    """One order_by key: a field path and its direction."""

    field: tuple[str, ...]
    descending: bool = False


# -------------------------------------------------------------------------- helpers


def format_field(field: tuple[str, ...]) -> str:
    """Render a field path as dotted text, backtick-quoting segments that need it."""
    parts: list[str] = []
    for index, segment in enumerate(field):
        pattern = _IDENT if index == 0 else _KEY
        parts.append(segment if pattern.fullmatch(segment) else f"`{segment}`")
    return ".".join(parts)


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (offset required; "Z" allowed) into an aware datetime.

    Raises ValueError when the text is not such a timestamp.
    """
    candidate = text
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    value = datetime.fromisoformat(candidate)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return value


def iter_comparisons(node: Node | None) -> Iterator[Comparison]:
    """Yield every Comparison in the tree, left to right."""
    if node is None:
        return
    if isinstance(node, Comparison):
        yield node
    elif isinstance(node, Not):
        yield from iter_comparisons(node.item)
    else:
        for item in node.items:
            yield from iter_comparisons(item)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -------------------------------------------------------------------------- scanner


class _Scanner:
    """Character-level cursor shared by the filter and order_by parsers."""

    def __init__(self, text: str, error: type[_PositionedError], subject: str) -> None:
        self.text = text
        self.pos = 0
        self.error = error
        self.subject = subject  # "filter" or "order_by", for messages

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_ws(self) -> None:
        text = self.text
        while self.pos < len(text) and text[self.pos].isspace():
            self.pos += 1

    def peek_word(self) -> str | None:
        match = _IDENT.match(self.text, self.pos)
        return match.group() if match else None

    def describe(self, pos: int | None = None) -> str:
        """Describe what sits at ``pos`` for a "found ..." message."""
        pos = self.pos if pos is None else pos
        if pos >= len(self.text):
            return f"end of {self.subject}"
        match = _IDENT.match(self.text, pos)
        if match:
            word = match.group()
            if word.upper() in _KEYWORDS and word not in _KEYWORDS:
                return f'"{word}" (the keywords AND, OR and NOT must be uppercase)'
            return f'"{word}"'
        if self.text[pos] == '"':
            return "a quoted string"
        return f'"{self.text[pos]}"'

    def fail(self, message: str, pos: int | None = None) -> _PositionedError:
        return self.error(message, self.pos if pos is None else pos)

    def parse_field(self) -> tuple[str, ...]:
        text = self.text
        match = _IDENT.match(text, self.pos)
        if match is None:
            raise self.fail(f"expected a field name, found {self.describe()}")
        segments = [match.group()]
        self.pos = match.end()
        while self.peek() == ".":
            self.pos += 1
            if self.peek() == "`":
                close = text.find("`", self.pos + 1)
                if close == -1:
                    raise self.fail("unterminated quoted key; add the closing backtick")
                key = text[self.pos + 1 : close]
                if not key:
                    raise self.fail("empty quoted key ``")
                segments.append(key)
                self.pos = close + 1
            else:
                match = _KEY.match(text, self.pos)
                if match is None:
                    partial = format_field(tuple(segments))
                    raise self.fail(
                        f'expected a key after "{partial}." (letters, digits, "_", "-", '
                        f"or a `backtick-quoted` key), found {self.describe()}"
                    )
                segments.append(match.group())
                self.pos = match.end()
        return tuple(segments)


# --------------------------------------------------------------------------- filter


class _FilterParser(_Scanner):
    def __init__(self, text: str) -> None:
        super().__init__(text, FilterSyntaxError, "filter")
        self.depth = 0
        self.comparisons = 0

    def parse(self) -> Node | None:
        self.skip_ws()
        if self.at_end():
            return None
        node = self.parse_or(None)
        self.skip_ws()
        if not self.at_end():
            if self.peek() == ")":
                raise self.fail('unmatched ")"')
            raise self.fail(f"expected AND, OR or end of filter, found {self.describe()}")
        return node

    def accept_keyword(self, keyword: str) -> bool:
        self.skip_ws()
        if self.peek_word() == keyword:
            self.pos += len(keyword)
            return True
        return False

    def parse_or(self, after: str | None) -> Node:
        items = [self.parse_and(after)]
        while self.accept_keyword("OR"):
            items.append(self.parse_and("OR"))
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self, after: str | None) -> Node:
        items = [self.parse_unary(after)]
        while self.accept_keyword("AND"):
            items.append(self.parse_unary("AND"))
        return items[0] if len(items) == 1 else And(tuple(items))

    def enter(self, start: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(
                f"filter is nested too deeply (at most {MAX_DEPTH} levels of parentheses and NOT)",
                start,
            )

    def parse_unary(self, after: str | None) -> Node:
        self.skip_ws()
        start = self.pos
        if self.accept_keyword("NOT"):
            self.enter(start)
            item = self.parse_unary("NOT")
            self.depth -= 1
            return Not(item)
        if self.peek() == "(":
            self.enter(start)
            self.pos += 1
            node = self.parse_or('"("')
            self.skip_ws()
            if self.at_end():
                raise self.fail('"(" is never closed; add the matching ")"', start)
            if self.peek() != ")":
                raise self.fail(f'expected AND, OR or ")", found {self.describe()}')
            self.pos += 1
            self.depth -= 1
            return node
        word = self.peek_word()
        if word is None or word in _KEYWORDS:
            where = f" after {after}" if after else ""
            raise self.fail(f'expected a comparison, NOT or "("{where}, found {self.describe()}')
        return self.parse_comparison()

    def parse_comparison(self) -> Comparison:
        start = self.pos
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise self.fail(f"too many comparisons (at most {MAX_COMPARISONS})", start)
        field = self.parse_field()
        self.skip_ws()
        text, pos = self.text, self.pos
        matched = next((pair for pair in _OPERATORS if text.startswith(pair[0], pos)), None)
        if matched is None:
            name = format_field(field)
            hint = ""
            if len(field) == 1 and name.upper() in _KEYWORDS:
                hint = " (the keywords AND, OR and NOT must be uppercase)"
            raise self.fail(
                f'expected an operator (=, !=, <, <=, >, >=, :) after "{name}"{hint}, '
                f"found {self.describe()}"
            )
        spelling, op = matched
        self.pos += len(spelling)
        self.skip_ws()
        return Comparison(field, op, self.parse_literal(spelling))

    def parse_literal(self, op: str) -> Literal:
        start = self.pos
        char = self.peek()
        if char == '"':
            return Literal(LiteralKind.STRING, self.parse_string())
        number = _NUMBER.match(self.text, start)
        if number is not None:
            raw = number.group()
            self.pos = number.end()
            if not self.at_delimiter():
                raise self.fail(f'invalid number "{self.word_from(start)}"', start)
            if _INTEGER.fullmatch(raw):
                return Literal(LiteralKind.NUMBER, int(raw))
            value = float(raw)
            if not math.isfinite(value):
                raise self.fail(f'number "{raw}" is out of range', start)
            return Literal(LiteralKind.NUMBER, value)
        word = self.peek_word()
        if word is not None and word not in _KEYWORDS:
            self.pos += len(word)
            if not self.at_delimiter():
                raw = self.word_from(start)
                raise self.fail(
                    f"text values must be in double quotes: write {_quote(raw)} instead of {raw}",
                    start,
                )
            if word == "true":
                return Literal(LiteralKind.BOOL, True)
            if word == "false":
                return Literal(LiteralKind.BOOL, False)
            return Literal(LiteralKind.BARE, word)
        raise self.fail(f'expected a value after "{op}", found {self.describe()}')

    def at_delimiter(self) -> bool:
        char = self.peek()
        return char == "" or char == ")" or char.isspace()

    def word_from(self, start: int) -> str:
        match = _WORD_TAIL.match(self.text, start)
        return match.group() if match else ""

    def parse_string(self) -> str:
        text = self.text
        start = self.pos
        pos = start + 1
        out: list[str] = []
        while True:
            end = len(text)
            quote = text.find('"', pos)
            backslash = text.find("\\", pos)
            if quote == -1:
                quote = end
            if backslash == -1:
                backslash = end
            stop = min(quote, backslash)
            out.append(text[pos:stop])
            if stop == end:
                raise self.fail("unterminated string; add the closing double quote", start)
            if stop == quote:
                self.pos = quote + 1
                return "".join(out)
            escaped = text[stop + 1 : stop + 2]
            if escaped == "":
                raise self.fail("unterminated string; add the closing double quote", start)
            if escaped not in ('"', "\\"):
                raise self.fail(
                    f'unsupported escape "\\{escaped}" in string (only \\" and \\\\ are allowed)',
                    stop,
                )
            out.append(escaped)
            pos = stop + 2


def parse_filter(text: str) -> Node | None:
    """Parse a filter string into an AST; return None when it is empty or blank.

    Raises FilterSyntaxError for malformed input or when a limit is exceeded.
    """
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterSyntaxError(
            f"filter is too long ({len(text)} characters, at most {MAX_FILTER_LENGTH})",
            MAX_FILTER_LENGTH,
        )
    return _FilterParser(text).parse()


# ----------------------------------------------------------------------- validation


def _allowed_names(
    allowed: Mapping[str, FieldKind], map_prefixes: Mapping[str, FieldKind]
) -> list[str]:
    return [*allowed, *(f"{prefix}.<key>" for prefix in map_prefixes)]


def resolve_field(
    field: tuple[str, ...],
    allowed: Mapping[str, FieldKind],
    map_prefixes: Mapping[str, FieldKind],
) -> FieldKind:
    """Return the kind of a field path, or raise UnknownFieldError.

    A one-segment path must be a key of ``allowed``; a two-segment path whose
    first segment is a key of ``map_prefixes`` (e.g. ``metrics.loss``) takes
    that prefix's kind.  Anything else is unknown.
    """
    if len(field) == 1 and field[0] in allowed:
        return allowed[field[0]]
    if len(field) == 2 and field[0] in map_prefixes:
        return map_prefixes[field[0]]
    raise UnknownFieldError(format_field(field), _allowed_names(allowed, map_prefixes))


def _show(literal: Literal) -> str:
    if literal.kind is LiteralKind.STRING:
        return f"string {_quote(str(literal.value))}"
    if literal.kind is LiteralKind.BOOL:
        return f"boolean {'true' if literal.value else 'false'}"
    if literal.kind is LiteralKind.NUMBER:
        return f"number {literal.value}"
    return f"unquoted word {literal.value}"


_ORDERED = frozenset({Operator.EQ, Operator.NE, Operator.LT, Operator.LE, Operator.GT, Operator.GE})
_EQUALITY = frozenset({Operator.EQ, Operator.NE})
_ALLOWED_OPS: dict[FieldKind, frozenset[Operator]] = {
    FieldKind.STRING: _ORDERED | {Operator.HAS},
    FieldKind.NUMBER: _ORDERED,
    FieldKind.TIMESTAMP: _ORDERED,
    FieldKind.ENUM: _EQUALITY,
    FieldKind.BOOL: _EQUALITY,
}


def _check_comparison(comparison: Comparison, kind: FieldKind) -> None:
    name = format_field(comparison.field)
    op = comparison.op
    value = comparison.value
    if op not in _ALLOWED_OPS[kind]:
        if op is Operator.HAS:
            detail = 'the ":" (has) operator only applies to string fields'
        else:
            detail = "only = and != apply"
        raise FilterTypeError(
            name, f'operator "{op.value}" cannot be used on {kind.value} field "{name}": {detail}'
        )
    if kind is FieldKind.STRING:
        ok = value.kind is LiteralKind.STRING
        expected = 'a double-quoted string, e.g. "text"'
    elif kind is FieldKind.NUMBER:
        ok = value.kind is LiteralKind.NUMBER
        expected = "a number, e.g. 42 or 0.5"
    elif kind is FieldKind.BOOL:
        ok = value.kind is LiteralKind.BOOL
        expected = "true or false"
    elif kind is FieldKind.ENUM:
        ok = value.kind in (LiteralKind.BARE, LiteralKind.STRING)
        expected = "an enum value name"
    else:  # TIMESTAMP
        ok = value.kind is LiteralKind.STRING
        if ok:
            try:
                parse_timestamp(str(value.value))
            except ValueError:
                ok = False
        expected = 'a quoted RFC 3339 timestamp, e.g. "2024-01-31T12:00:00Z"'
    if not ok:
        raise FilterTypeError(
            name,
            f'{kind.value} field "{name}" must be compared with {expected}, got {_show(value)}',
        )


def validate_fields(
    node: Node | None,
    allowed: Mapping[str, FieldKind],
    map_prefixes: Mapping[str, FieldKind],
) -> None:
    """Check every comparison's field against the whitelist and its operator/value types.

    Raises UnknownFieldError or FilterTypeError (both carry ``.field``).
    """
    for comparison in iter_comparisons(node):
        kind = resolve_field(comparison.field, allowed, map_prefixes)
        _check_comparison(comparison, kind)


# ------------------------------------------------------------------------- order_by


def parse_order_by(
    text: str,
    allowed: Mapping[str, FieldKind],
    map_prefixes: Mapping[str, FieldKind],
) -> tuple[OrderKey, ...]:
    """Parse ``field [asc|desc] {, field [asc|desc]}``; empty text gives ().

    Raises OrderBySyntaxError for malformed input, duplicates or too many keys,
    and UnknownFieldError for fields outside the whitelist.
    """
    if len(text) > MAX_ORDER_BY_LENGTH:
        raise OrderBySyntaxError(
            f"order_by is too long ({len(text)} characters, at most {MAX_ORDER_BY_LENGTH})",
            MAX_ORDER_BY_LENGTH,
        )
    scanner = _Scanner(text, OrderBySyntaxError, "order_by")
    scanner.skip_ws()
    if scanner.at_end():
        return ()
    keys: list[OrderKey] = []
    seen: set[tuple[str, ...]] = set()
    while True:
        scanner.skip_ws()
        start = scanner.pos
        if scanner.peek_word() is None:
            where = " after ','" if keys else ""
            raise scanner.fail(f"expected a field name{where}, found {scanner.describe()}")
        field = scanner.parse_field()
        resolve_field(field, allowed, map_prefixes)
        if field in seen:
            raise scanner.fail(f'field "{format_field(field)}" appears more than once', start)
        if len(keys) == MAX_ORDER_BY_KEYS:
            raise scanner.fail(f"too many order_by fields (at most {MAX_ORDER_BY_KEYS})", start)
        seen.add(field)
        scanner.skip_ws()
        descending = False
        word = scanner.peek_word()
        has_direction = word is not None and word.lower() in ("asc", "desc")
        if word is not None and has_direction:
            descending = word.lower() == "desc"
            scanner.pos += len(word)
            scanner.skip_ws()
        keys.append(OrderKey(field, descending))
        if scanner.at_end():
            return tuple(keys)
        if scanner.peek() == ",":
            scanner.pos += 1
            continue
        expected = '","' if has_direction else '",", "asc", "desc"'
        raise scanner.fail(f"expected {expected} or end of order_by, found {scanner.describe()}")


# ----------------------------------------------------------------------- field spec


@dataclass(frozen=True, eq=False)
class FieldSpec:
    """A List RPC's filterable/sortable fields; bundles validation and parsing.

    ``fields`` maps plain field names to kinds; ``map_prefixes`` maps map-typed
    fields (``metrics``, ``params``, ``tags``) to the kind of their values, so
    ``metrics.<key>`` is accepted.
    """

    fields: Mapping[str, FieldKind]
    map_prefixes: Mapping[str, FieldKind] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))
        object.__setattr__(self, "map_prefixes", MappingProxyType(dict(self.map_prefixes)))

    def kind_of(self, field: tuple[str, ...]) -> FieldKind:
        """Return the kind of ``field`` or raise UnknownFieldError."""
        return resolve_field(field, self.fields, self.map_prefixes)

    def parse_filter(self, text: str) -> Node | None:
        """Parse ``text`` and validate it against this spec."""
        node = parse_filter(text)
        validate_fields(node, self.fields, self.map_prefixes)
        return node

    def parse_order_by(self, text: str) -> tuple[OrderKey, ...]:
        """Parse an order_by string against this spec."""
        return parse_order_by(text, self.fields, self.map_prefixes)
