"""Tests for controlplane.domain.filtering (AIP-160 filter and AIP-132 order_by parsing)."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from controlplane.domain.filtering import (
    MAX_COMPARISONS,
    MAX_DEPTH,
    MAX_FILTER_LENGTH,
    MAX_ORDER_BY_KEYS,
    MAX_ORDER_BY_LENGTH,
    And,
    Comparison,
    FieldKind,
    FieldSpec,
    FilterSyntaxError,
    FilterTypeError,
    Literal,
    LiteralKind,
    Node,
    Not,
    Operator,
    Or,
    OrderBySyntaxError,
    OrderKey,
    QueryError,
    UnknownFieldError,
    format_field,
    iter_comparisons,
    parse_filter,
    parse_order_by,
    parse_timestamp,
    resolve_field,
    validate_fields,
)

# ---------------------------------------------------------------------------- helpers


def S(value: str) -> Literal:
    return Literal(LiteralKind.STRING, value)


def N(value: float) -> Literal:
    return Literal(LiteralKind.NUMBER, value)


def B(value: bool) -> Literal:
    return Literal(LiteralKind.BOOL, value)


def W(value: str) -> Literal:
    return Literal(LiteralKind.BARE, value)


def C(field: str | tuple[str, ...], op: Operator, value: Literal) -> Comparison:
    path = tuple(field.split(".")) if isinstance(field, str) else field
    return Comparison(path, op, value)


A1 = C("a", Operator.EQ, N(1))
B2 = C("b", Operator.EQ, N(2))
C3 = C("c", Operator.EQ, N(3))
D4 = C("d", Operator.EQ, N(4))

ALLOWED: dict[str, FieldKind] = {
    "name": FieldKind.STRING,
    "step": FieldKind.NUMBER,
    "create_time": FieldKind.TIMESTAMP,
    "state": FieldKind.ENUM,
    "archived": FieldKind.BOOL,
}
MAPS: dict[str, FieldKind] = {
    "metrics": FieldKind.NUMBER,
    "params": FieldKind.STRING,
    "tags": FieldKind.STRING,
}


def syntax_error(text: str) -> FilterSyntaxError:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    return info.value


# ------------------------------------------------------------------- basic parsing


@pytest.mark.parametrize("text", ["", " ", "\t\n  \r"])
def test_empty_filter_is_none(text: str) -> None:
    assert parse_filter(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a = 1", A1),
        ("a=1", A1),
        ("  a\t=\n1  ", A1),
        ("(a = 1)", A1),
        ("((a = 1))", A1),
        ("a = 1 AND b = 2", And((A1, B2))),
        ("a = 1 AND b = 2 AND c = 3", And((A1, B2, C3))),
        ("a = 1 OR b = 2", Or((A1, B2))),
        ("a = 1 OR b = 2 OR c = 3", Or((A1, B2, C3))),
        ("NOT a = 1", Not(A1)),
        ("NOT(a = 1)", Not(A1)),
        ("NOT NOT a = 1", Not(Not(A1))),
        ("(a=1)AND(b=2)", And((A1, B2))),
    ],
)
def test_structure(text: str, expected: Node) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # AND binds tighter than OR, on either side.
        ("a = 1 OR b = 2 AND c = 3", Or((A1, And((B2, C3))))),
        ("a = 1 AND b = 2 OR c = 3", Or((And((A1, B2)), C3))),
        ("a = 1 AND b = 2 OR c = 3 AND d = 4", Or((And((A1, B2)), And((C3, D4))))),
        # NOT binds tighter than AND and OR.
        ("NOT a = 1 AND b = 2", And((Not(A1), B2))),
        ("NOT a = 1 OR b = 2", Or((Not(A1), B2))),
        ("a = 1 AND NOT b = 2", And((A1, Not(B2)))),
        # Parentheses override precedence.
        ("(a = 1 OR b = 2) AND c = 3", And((Or((A1, B2)), C3))),
        ("a = 1 AND (b = 2 OR c = 3)", And((A1, Or((B2, C3))))),
        ("NOT (a = 1 OR b = 2)", Not(Or((A1, B2)))),
        ("NOT (a = 1 AND b = 2) OR c = 3", Or((Not(And((A1, B2))), C3))),
        # A parenthesised group stays a distinct node (no flattening).
        ("a = 1 AND (b = 2 AND c = 3)", And((A1, And((B2, C3))))),
    ],
)
def test_precedence(text: str, expected: Node) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize(
    ("symbol", "op"),
    [
        ("=", Operator.EQ),
        ("!=", Operator.NE),
        ("<", Operator.LT),
        ("<=", Operator.LE),
        (">", Operator.GT),
        (">=", Operator.GE),
        (":", Operator.HAS),
    ],
)
@pytest.mark.parametrize("spacing", ["", " ", "  \t"])
def test_each_operator(symbol: str, op: Operator, spacing: str) -> None:
    text = f"a{spacing}{symbol}{spacing}1"
    assert parse_filter(text) == C("a", op, N(1))
    assert op.value == symbol


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('"hello"', S("hello")),
        ('""', S("")),
        ('"with space and AND OR ( ) = :"', S("with space and AND OR ( ) = :")),
        (r'"say \"hi\""', S('say "hi"')),
        (r'"back\\slash"', S("back\\slash")),
        (r'"\\\""', S('\\"')),
        (r'"\\"', S("\\")),
        ('"ünïcødé ✓"', S("ünïcødé ✓")),
        ('"2024-01-31T12:00:00Z"', S("2024-01-31T12:00:00Z")),
        ("0", N(0)),
        ("1", N(1)),
        ("42", N(42)),
        ("-7", N(-7)),
        ("+7", N(7)),
        ("-2.5", N(-2.5)),
        ("0.5", N(0.5)),
        (".5", N(0.5)),
        ("1.", N(1.0)),
        ("1e3", N(1000.0)),
        ("1E3", N(1000.0)),
        ("2.5e-3", N(0.0025)),
        ("-1e+2", N(-100.0)),
        ("true", B(True)),
        ("false", B(False)),
        ("RUN_STATE_FINISHED", W("RUN_STATE_FINISHED")),
        ("_x1", W("_x1")),
        ("True", W("True")),
        ("null", W("null")),
    ],
)
def test_literals(source: str, expected: Literal) -> None:
    node = parse_filter(f"a = {source}")
    assert isinstance(node, Comparison)
    assert node.value == expected
    assert type(node.value.value) is type(expected.value)


def test_integer_and_float_types() -> None:
    ints = parse_filter("a = 10")
    floats = parse_filter("a = 1e1")
    assert isinstance(ints, Comparison)
    assert isinstance(floats, Comparison)
    assert isinstance(ints.value.value, int)
    assert isinstance(floats.value.value, float)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("name", ("name",)),
        ("_private", ("_private",)),
        ("metrics.loss", ("metrics", "loss")),
        ("params.lr", ("params", "lr")),
        ("tags.team", ("tags", "team")),
        ("tags.my-key", ("tags", "my-key")),
        ("tags.0", ("tags", "0")),
        ("a.b.c", ("a", "b", "c")),
        ("metrics.`val/loss`", ("metrics", "val/loss")),
        ("tags.`has space`", ("tags", "has space")),
        ('tags.`a"b.c`', ("tags", 'a"b.c')),
        ("tags.`AND`", ("tags", "AND")),
        ("tags.`x`.y", ("tags", "x", "y")),
    ],
)
def test_field_paths(source: str, expected: tuple[str, ...]) -> None:
    node = parse_filter(f'{source} = "v"')
    assert node == Comparison(expected, Operator.EQ, S("v"))


def test_backtick_key_followed_by_operator_without_space() -> None:
    assert parse_filter("metrics.`val/loss`<0.5") == C(("metrics", "val/loss"), Operator.LT, N(0.5))


def test_complex_filter() -> None:
    text = (
        'state = RUN_STATE_FINISHED AND (metrics.`val/loss` < 0.25 OR tags.team : "vision") '
        'AND NOT name = "scratch" AND create_time >= "2024-01-01T00:00:00Z"'
    )
    assert parse_filter(text) == And(
        (
            C("state", Operator.EQ, W("RUN_STATE_FINISHED")),
            Or(
                (
                    C(("metrics", "val/loss"), Operator.LT, N(0.25)),
                    C("tags.team", Operator.HAS, S("vision")),
                )
            ),
            Not(C("name", Operator.EQ, S("scratch"))),
            C("create_time", Operator.GE, S("2024-01-01T00:00:00Z")),
        )
    )


def test_ast_is_frozen_and_hashable() -> None:
    node = parse_filter("a = 1 AND NOT b = 2")
    assert node is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.items = ()  # type: ignore[misc,union-attr]
    assert hash(node) == hash(parse_filter("a=1 AND NOT b=2"))


def test_iter_comparisons() -> None:
    node = parse_filter("a = 1 OR (b = 2 AND NOT c = 3)")
    assert list(iter_comparisons(node)) == [A1, B2, C3]
    assert list(iter_comparisons(None)) == []


# -------------------------------------------------------------------- syntax errors


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        # Missing values.
        ("a <", 3, 'expected a value after "<", found end of filter'),
        ("create_time < AND b = 1", 14, 'expected a value after "<", found "AND"'),
        ("a = )", 4, 'expected a value after "=", found ")"'),
        ("a == 1", 3, 'expected a value after "=", found "="'),
        ("a = -x", 4, 'expected a value after "="'),
        # Missing or bad operators / fields.
        ("a", 1, "expected an operator"),
        ("a 1", 2, 'after "a", found "1"'),
        ("a ! 1", 2, "expected an operator"),
        ("a .b = 1", 2, "expected an operator"),
        ("= 1", 0, 'expected a comparison, NOT or "(", found "="'),
        ("1 = a", 0, "expected a comparison"),
        ("-a = 1", 0, "expected a comparison"),
        ("a. = 1", 2, 'expected a key after "a."'),
        ("a.b. = 1", 4, 'expected a key after "a.b."'),
        ("a.`x = 1", 2, "unterminated quoted key"),
        ("a.`` = 1", 2, "empty quoted key"),
        ("`a` = 1", 0, "expected a comparison"),
        # Strings.
        ('a = "abc', 4, "unterminated string"),
        ('a = "abc\\"', 4, "unterminated string"),
        ('a = "abc\\', 4, "unterminated string"),
        ('a = "x\\ny"', 6, 'unsupported escape "\\n"'),
        ('a = "x" "y"', 8, "expected AND, OR or end of filter, found a quoted string"),
        # Unquoted values must be single words.
        ("a = my-model", 4, 'write "my-model" instead of my-model'),
        ("a = foo.bar", 4, "text values must be in double quotes"),
        ('a = x"y"', 4, "text values must be in double quotes"),
        ("a = 1e", 4, 'invalid number "1e"'),
        ("a = 1.2.3", 4, 'invalid number "1.2.3"'),
        ("a = 12abc", 4, 'invalid number "12abc"'),
        ("a = 1e999", 4, 'number "1e999" is out of range'),
        # Dangling / misplaced keywords.
        ("a = 1 AND", 9, 'expected a comparison, NOT or "(" after AND, found end of filter'),
        ("a = 1 OR", 8, "after OR, found end of filter"),
        ("a = 1 AND OR b = 2", 10, 'after AND, found "OR"'),
        ("AND a = 1", 0, 'expected a comparison, NOT or "(", found "AND"'),
        ("NOT", 3, "after NOT, found end of filter"),
        ("a = 1 NOT b = 2", 6, 'expected AND, OR or end of filter, found "NOT"'),
        ("a = 1 b = 2", 6, 'expected AND, OR or end of filter, found "b"'),
        # Lower-case keywords are not keywords.
        ("a = 1 and b = 2", 6, "must be uppercase"),
        ("a = 1 or b = 2", 6, "must be uppercase"),
        ("not a = 1", 4, "must be uppercase"),
        # Parentheses.
        ("(a = 1", 0, '"(" is never closed'),
        ("((a = 1) AND b = 2", 0, '"(" is never closed'),
        ("a = 1 AND (b = 2", 10, '"(" is never closed'),
        ("a = 1)", 5, 'unmatched ")"'),
        ("(a = 1))", 7, 'unmatched ")"'),
        (")", 0, 'expected a comparison, NOT or "(", found ")"'),
        ("()", 1, 'after "(", found ")"'),
        ("(a = 1 b = 2)", 7, 'expected AND, OR or ")", found "b"'),
    ],
)
def test_syntax_errors(text: str, position: int, fragment: str) -> None:
    error = syntax_error(text)
    assert error.position == position
    assert fragment in error.message
    assert str(error) == f"{error.message} at position {position}"


def test_error_message_example_from_spec() -> None:
    error = syntax_error("create_time < ")
    assert str(error) == 'expected a value after "<", found end of filter at position 14'


# ---------------------------------------------------------------------------- limits


def test_max_length_accepted() -> None:
    prefix = 'a = "'
    text = prefix + "x" * (MAX_FILTER_LENGTH - len(prefix) - 1) + '"'
    assert len(text) == MAX_FILTER_LENGTH
    node = parse_filter(text)
    assert isinstance(node, Comparison)


@pytest.mark.parametrize("length", [MAX_FILTER_LENGTH + 1, 100_000])
def test_too_long(length: int) -> None:
    text = "a = 1" + " " * (length - 5)
    error = syntax_error(text)
    assert error.position == MAX_FILTER_LENGTH
    assert "too long" in error.message


def _nested_parens(depth: int) -> str:
    return "(" * depth + "a = 1" + ")" * depth


def _nested_nots(depth: int) -> str:
    return "NOT " * depth + "a = 1"


def _nested_mixed(depth: int) -> str:
    half = depth // 2
    return "NOT (" * half + "NOT " * (depth % 2) + "a = 1" + ")" * half


@pytest.mark.parametrize("builder", [_nested_parens, _nested_nots, _nested_mixed])
def test_depth_limit(builder: Callable[[int], str]) -> None:
    assert parse_filter(builder(MAX_DEPTH)) is not None
    error = syntax_error(builder(MAX_DEPTH + 1))
    assert "nested too deeply" in error.message


def test_depth_error_position_points_at_offending_paren() -> None:
    text = "(" * (MAX_DEPTH + 1) + "a = 1" + ")" * (MAX_DEPTH + 1)
    assert syntax_error(text).position == MAX_DEPTH


def test_depth_counts_nesting_not_siblings() -> None:
    group = "(" * MAX_DEPTH + "a = 1" + ")" * MAX_DEPTH
    node = parse_filter(" AND ".join([group] * 3))
    assert node == And((A1, A1, A1))


def test_comparison_limit() -> None:
    ok = " AND ".join(f"f{i} = {i}" for i in range(MAX_COMPARISONS))
    node = parse_filter(ok)
    assert isinstance(node, And)
    assert len(node.items) == MAX_COMPARISONS

    too_many = ok + " OR extra = 1"
    error = syntax_error(too_many)
    assert "too many comparisons" in error.message
    assert error.position == too_many.index("extra")


# ---------------------------------------------------------------------------- errors


def test_error_hierarchy() -> None:
    for cls in (FilterSyntaxError, OrderBySyntaxError, UnknownFieldError, FilterTypeError):
        assert issubclass(cls, QueryError)
        assert issubclass(cls, ValueError)


@pytest.mark.parametrize(
    "error",
    [
        FilterSyntaxError("boom", 3),
        OrderBySyntaxError("bang", 1),
        UnknownFieldError("tags.x.y", ["name"]),
        FilterTypeError("step", "step must be a number"),
    ],
)
def test_errors_pickle(error: QueryError) -> None:
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is type(error)
    assert str(clone) == str(error)
    assert vars(clone) == vars(error)


# ------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "text",
    [
        "",
        'name = "x"',
        'name != "x"',
        'name < "m"',
        'name : "sub"',
        "step = 3",
        "step >= -1.5",
        "step < 1e3",
        'create_time > "2024-01-31T12:00:00Z"',
        'create_time <= "2024-01-31T12:00:00.123456+02:00"',
        'create_time < "2024-01-31T12:00:00z"',
        "state = RUN_STATE_FINISHED",
        'state != "RUN_STATE_FAILED"',
        "archived = true",
        "archived != false",
        "metrics.loss < 0.5",
        "metrics.`val/loss` < 0.5",
        'params.lr = "0.01"',
        'tags.team : "vis"',
        'tags.`owner email` = "a@b.c"',
        'NOT (state = RUN_STATE_FAILED OR archived = true) AND name : "exp"',
    ],
)
def test_validate_ok(text: str) -> None:
    validate_fields(parse_filter(text), ALLOWED, MAPS)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("nope = 1", "nope"),
        ("Name = 1", "Name"),
        ("name.x = 1", "name.x"),
        ("metrics = 1", "metrics"),
        ("metrics.loss.x = 1", "metrics.loss.x"),
        ("other.loss = 1", "other.loss"),
        ("metrics.`val/loss`.x = 1", "metrics.`val/loss`.x"),
        ('name = "x" AND (step = 1 OR bogus = 2)', "bogus"),
    ],
)
def test_unknown_fields(text: str, field: str) -> None:
    with pytest.raises(UnknownFieldError) as info:
        validate_fields(parse_filter(text), ALLOWED, MAPS)
    assert info.value.field == field
    assert f'unknown field "{field}"' in str(info.value)
    assert "metrics.<key>" in str(info.value)
    assert "name" in info.value.allowed


@pytest.mark.parametrize(
    ("text", "field", "fragment"),
    [
        # STRING needs a quoted string.
        ("name = 1", "name", "double-quoted string"),
        ("name = foo", "name", "got unquoted word foo"),
        ("name = true", "name", "got boolean true"),
        ("tags.team = 5", "tags.team", "double-quoted string"),
        # NUMBER needs a number.
        ('step = "3"', "step", 'got string "3"'),
        ("step = three", "step", "a number"),
        ("metrics.`val/loss` = false", "metrics.`val/loss`", "a number"),
        ('step : "3"', "step", '":" (has) operator only applies to string fields'),
        # TIMESTAMP needs an RFC 3339 string with an offset.
        ("create_time > 5", "create_time", "RFC 3339"),
        ('create_time > "yesterday"', "create_time", "RFC 3339"),
        ('create_time > "2024-01-31T12:00:00"', "create_time", "RFC 3339"),
        ('create_time > "2024-01-31"', "create_time", "RFC 3339"),
        ('create_time > "2024-13-01T00:00:00Z"', "create_time", "RFC 3339"),
        ('create_time : "2024"', "create_time", '":" (has)'),
        # ENUM needs a bare word or string, and equality only.
        ("state = 1", "state", "enum value"),
        ("state = true", "state", "enum value"),
        ("state < RUN_STATE_FINISHED", "state", 'operator "<" cannot be used on enum field'),
        ('state : "RUN"', "state", '":" (has)'),
        # BOOL needs true/false, and equality only.
        ('archived = "true"', "archived", "true or false"),
        ("archived = 1", "archived", "true or false"),
        ("archived = TRUE", "archived", "true or false"),
        ("archived > false", "archived", "only = and != apply"),
        # Nested inside logic.
        ('name = "x" OR NOT (step = "1")', "step", "a number"),
    ],
)
def test_type_errors(text: str, field: str, fragment: str) -> None:
    with pytest.raises(FilterTypeError) as info:
        validate_fields(parse_filter(text), ALLOWED, MAPS)
    assert info.value.field == field
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (("name",), FieldKind.STRING),
        (("create_time",), FieldKind.TIMESTAMP),
        (("metrics", "loss"), FieldKind.NUMBER),
        (("tags", "a b"), FieldKind.STRING),
    ],
)
def test_resolve_field(path: tuple[str, ...], kind: FieldKind) -> None:
    assert resolve_field(path, ALLOWED, MAPS) is kind


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("name",), "name"),
        (("metrics", "loss"), "metrics.loss"),
        (("tags", "my-key"), "tags.my-key"),
        (("metrics", "val/loss"), "metrics.`val/loss`"),
        (("tags", "a b", "c"), "tags.`a b`.c"),
    ],
)
def test_format_field_round_trips(path: tuple[str, ...], text: str) -> None:
    assert format_field(path) == text
    assert parse_filter(f'{text} = "v"') == Comparison(path, Operator.EQ, S("v"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-31T12:00:00Z", datetime(2024, 1, 31, 12, tzinfo=UTC)),
        ("2024-01-31T12:00:00.5+00:00", datetime(2024, 1, 31, 12, 0, 0, 500000, tzinfo=UTC)),
        (
            "2024-01-31T12:00:00-05:30",
            datetime(2024, 1, 31, 12, tzinfo=timezone(-timedelta(hours=5, minutes=30))),
        ),
    ],
)
def test_parse_timestamp(text: str, expected: datetime) -> None:
    value = parse_timestamp(text)
    assert value == expected
    assert value.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "text", ["", "now", "2024-01-31T12:00:00", "2024-01-31", "12:00:00Z", " 2024-01-31T12:00:00Z"]
)
def test_parse_timestamp_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(text)


# -------------------------------------------------------------------------- order_by


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ()),
        ("   ", ()),
        ("name", (OrderKey(("name",), False),)),
        ("name asc", (OrderKey(("name",), False),)),
        ("name desc", (OrderKey(("name",), True),)),
        ("name DESC", (OrderKey(("name",), True),)),
        ("name Asc", (OrderKey(("name",), False),)),
        (
            "create_time desc, name",
            (OrderKey(("create_time",), True), OrderKey(("name",), False)),
        ),
        (
            "  create_time   desc ,name  asc  ",
            (OrderKey(("create_time",), True), OrderKey(("name",), False)),
        ),
        ("step,name", (OrderKey(("step",), False), OrderKey(("name",), False))),
        ("metrics.loss desc", (OrderKey(("metrics", "loss"), True),)),
        ("metrics.`val/loss`", (OrderKey(("metrics", "val/loss"), False),)),
        ("metrics.`val/loss`desc", (OrderKey(("metrics", "val/loss"), True),)),
        (
            "metrics.loss, metrics.acc desc",
            (OrderKey(("metrics", "loss"), False), OrderKey(("metrics", "acc"), True)),
        ),
    ],
)
def test_order_by(text: str, expected: tuple[OrderKey, ...]) -> None:
    assert parse_order_by(text, ALLOWED, MAPS) == expected


def test_order_by_max_keys() -> None:
    allowed = {f"f{i}": FieldKind.NUMBER for i in range(MAX_ORDER_BY_KEYS + 1)}
    ok = ", ".join(f"f{i}" for i in range(MAX_ORDER_BY_KEYS))
    assert len(parse_order_by(ok, allowed, {})) == MAX_ORDER_BY_KEYS
    too_many = ok + f", f{MAX_ORDER_BY_KEYS}"
    with pytest.raises(OrderBySyntaxError) as info:
        parse_order_by(too_many, allowed, {})
    assert "too many order_by fields" in info.value.message
    assert info.value.position == too_many.rindex("f")


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        (",", 0, 'expected a field name, found ","'),
        ("name,", 5, "expected a field name after ',', found end of order_by"),
        ("name,,step", 5, "after ','"),
        ("name desc desc", 10, 'expected "," or end of order_by, found "desc"'),
        ("name descending", 5, 'expected ",", "asc", "desc" or end of order_by'),
        ("name step", 5, 'found "step"'),
        ("name; step", 4, 'found ";"'),
        ("name, name desc", 6, 'field "name" appears more than once'),
        ("metrics.loss, step, metrics.loss desc", 20, 'field "metrics.loss" appears'),
        ("metrics.", 8, 'expected a key after "metrics."'),
        ("metrics.`val", 8, "unterminated quoted key"),
        ("-name", 0, "expected a field name"),
        ("desc", -1, ""),  # "desc" alone is a field name, so it is an unknown field
    ],
)
def test_order_by_syntax_errors(text: str, position: int, fragment: str) -> None:
    if position < 0:
        with pytest.raises(UnknownFieldError):
            parse_order_by(text, ALLOWED, MAPS)
        return
    with pytest.raises(OrderBySyntaxError) as info:
        parse_order_by(text, ALLOWED, MAPS)
    assert info.value.position == position
    assert fragment in info.value.message


def test_order_by_too_long() -> None:
    text = "name" + " " * MAX_ORDER_BY_LENGTH
    with pytest.raises(OrderBySyntaxError) as info:
        parse_order_by(text, ALLOWED, MAPS)
    assert "too long" in info.value.message


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("bogus", "bogus"),
        ("name, bogus desc", "bogus"),
        ("metrics", "metrics"),
        ("metrics.a.b", "metrics.a.b"),
        ("other.x", "other.x"),
    ],
)
def test_order_by_unknown_fields(text: str, field: str) -> None:
    with pytest.raises(UnknownFieldError) as info:
        parse_order_by(text, ALLOWED, MAPS)
    assert info.value.field == field


# ------------------------------------------------------------------------- FieldSpec


def test_field_spec() -> None:
    source = dict(ALLOWED)
    spec = FieldSpec(source, MAPS)
    source["late"] = FieldKind.STRING  # the spec keeps its own copy
    assert spec.kind_of(("metrics", "x")) is FieldKind.NUMBER
    assert spec.parse_filter('name = "x" AND metrics.loss < 1') == And(
        (C("name", Operator.EQ, S("x")), C("metrics.loss", Operator.LT, N(1)))
    )
    assert spec.parse_filter("  ") is None
    assert spec.parse_order_by("step desc") == (OrderKey(("step",), True),)
    with pytest.raises(UnknownFieldError):
        spec.parse_filter('late = "x"')
    with pytest.raises(FilterTypeError):
        spec.parse_filter('step = "x"')
    with pytest.raises(FilterSyntaxError):
        spec.parse_filter("step =")
    with pytest.raises(UnknownFieldError):
        spec.kind_of(("tags",))


def test_field_spec_without_maps() -> None:
    spec = FieldSpec({"name": FieldKind.STRING})
    assert spec.parse_order_by("name") == (OrderKey(("name",)),)
    with pytest.raises(UnknownFieldError):
        spec.parse_order_by("tags.x")
