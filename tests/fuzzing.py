"""Requests that try to break the server, made from the contract's descriptors.

For each RPC, starting from a valid sample request (``tests.rpc_samples``), this makes
requests with one field at a time set to an edge value of its type (empty, 1 MB and
control-character strings, ``..`` and out-of-range ids in names, huge and negative integers,
NaN and infinities, unknown enum values, out-of-range timestamps, deep Structs), and bodies
that do not decode at all. A new RPC or field is covered without editing this file.

Used by ``tests/test_fuzz.py`` (a few thousand requests, in CI) and ``benchmarks/fuzz.py``
(100,000 requests and a status-code histogram)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

import grpc
from google.protobuf import descriptor, message, message_factory

from controlplane.client.watch import WATCH_AFTER_HEADER
from controlplane.server.methods import Method

FD = descriptor.FieldDescriptor

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
# A timestamp past the year 9999, one before the year 1, one whose microseconds overflow int64.
BAD_SECONDS = (253_402_300_800, -62_135_596_801, 9_223_372_036_855, -9_223_372_036_855)
MEGABYTE = 1 << 20

# The codes that mean the server did not understand its own failure, and a hang.
FORBIDDEN = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DEADLINE_EXCEEDED}


@dataclass(frozen=True)
class Case:
    """One request to send: its label says what was changed."""

    method: Method
    label: str
    body: bytes | list[bytes]  # a list for client-streaming RPCs
    authenticated: bool = True


@dataclass
class Outcome:
    codes: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, str, str, str]] = field(default_factory=list)

    def record(self, case: Case, code: grpc.StatusCode, details: str) -> None:
        self.codes[code.name] += 1
        if code in FORBIDDEN:
            self.failures.append((case.method.name, case.label, code.name, details[:200]))


def request_class(method: Method) -> type[message.Message]:
    return message_factory.GetMessageClass(method.descriptor.input_type)


# -- undecodable bodies ----------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def deep_struct(depth: int) -> bytes:
    """A google.protobuf.Struct nested ``depth`` times: {"a": {"a": ...}} (encoded by hand,
    since the protobuf runtime refuses to build one this deep)."""
    struct = b""
    for _ in range(depth):
        value = _length_delimited(5, struct)  # Value.struct_value
        entry = _length_delimited(1, b"a") + _length_delimited(2, value)
        struct = _length_delimited(1, entry)  # Struct.fields
    return struct


def _struct_paths(message_type: descriptor.Descriptor, depth: int = 0) -> Iterator[list[int]]:
    """Field-number paths from ``message_type`` to each Struct field inside it."""
    for fd in message_type.fields:
        if fd.type != FD.TYPE_MESSAGE or depth > 3:
            continue
        if fd.message_type.full_name == "google.protobuf.Struct":
            yield [fd.number]
        elif not fd.message_type.GetOptions().map_entry:
            for rest in _struct_paths(fd.message_type, depth + 1):
                yield [fd.number, *rest]


def undecodable(method: Method) -> list[tuple[str, bytes]]:
    """Bodies that are not a valid encoding of ``method``'s request."""
    bodies = [
        ("truncated length", b"\x12"),
        ("truncated varint", b"\x08\xff\xff"),
        ("invalid wire type", b"\x0f\x00"),
        ("field number zero", b"\x02\x00"),
        ("invalid utf-8", b"".join(_length_delimited(n, b"\xff\xfe\xc0") for n in range(1, 9))),
        ("length past the end", b"\x0a\xff\xff\xff\x0f" + b"x" * 8),
    ]
    for path in _struct_paths(method.descriptor.input_type):
        body = deep_struct(150)
        for number in reversed(path):
            body = _length_delimited(number, body)
        bodies.append((f"struct nested 150 deep at {path}", body))
    return bodies


# -- edge values -----------------------------------------------------------------------------


# Appended to a name the request holds, for a field that is empty in the sample (a resume
# cursor such as ``after``): ids past signed 64-bit in names of the deepest patterns.
CURSOR_SUFFIXES = (
    "/versions/1/events/9223372036854775808",
    "/aliases/champion/changes/99999999999999999999999",
    "/auditEvents/18446744073709551616",
)


def _string_edges(fd: FD, sample: str, names_nearby: list[str]) -> list[str]:
    edges = [
        "",
        "x" * MEGABYTE,
        "\x00",
        "a\x01\x1b[31m\r\n\t\x7f",
        "..",
        "../../../etc/passwd",
        "é✓😀\u202e",
        "-",
    ]
    if sample.startswith("tenants/"):
        parts = sample.split("/")
        edges += [
            sample + "/..",
            sample.replace(parts[1], "..", 1),
            "/".join(["tenants", "zz-no-such-tenant", *parts[2:]]),
            sample + "/",
            "tenants/",
        ]
        if len(parts) > 2:
            for number in ("9223372036854775808", "2147483648", "-1", "0", "1e3", "٣"):
                edges.append("/".join([*parts[:-1], number]))
    elif not sample:
        edges += [name + suffix for name in names_nearby[:1] for suffix in CURSOR_SUFFIXES]
    return edges


def _scalar_edges(fd: FD) -> list[Any]:
    kind = fd.type
    if kind in (FD.TYPE_STRING,):
        return []  # by _string_edges, which needs the sample
    if kind == FD.TYPE_BYTES:
        return [b"", b"\xff" * 1000, b"x" * MEGABYTE]
    if kind == FD.TYPE_BOOL:
        return [True, False]
    if kind in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        return [float("nan"), float("inf"), float("-inf"), -0.0, 1e308, 5e-324]
    if kind in (FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32):
        return [0, -1, *INT32]
    if kind in (FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64):
        return [0, -1, *INT32, INT32[1] + 1, *INT64]
    if kind in (FD.TYPE_UINT32, FD.TYPE_FIXED32):
        return [0, UINT32_MAX]
    if kind in (FD.TYPE_UINT64, FD.TYPE_FIXED64):
        return [0, UINT64_MAX, INT64[1] + 1]
    if kind == FD.TYPE_ENUM:
        return [999, -1, *(v.number for v in fd.enum_type.values)]
    return []


def _well_known(fd: FD) -> list[tuple[str, Any]]:
    """(label, builder(target message)) edits for well-known message types."""
    name = fd.message_type.full_name
    edits: list[tuple[str, Any]] = []
    if name in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
        for seconds in BAD_SECONDS:
            edits.append((f"seconds={seconds}", {"seconds": seconds}))
        edits.append(("nanos=-1", {"seconds": 1, "nanos": -1}))
        edits.append(("nanos=1e9", {"seconds": 1, "nanos": 1_000_000_000}))
    elif name == "google.protobuf.FieldMask":
        for paths in ([""], [".."], ["no_such_field"], ["a" * 1000], ["name"], ["etag"]):
            edits.append((f"paths={paths[0][:20]!r}", {"paths": paths}))
    return edits


Build = Callable[[], message.Message]


def mutations(sample: message.Message, depth: int = 0) -> Iterator[tuple[str, Build]]:
    """Copies of ``sample`` with one field (anywhere in it, three levels deep at most) set
    to an edge value: (a label naming the field and the value, a function that builds the
    copy). Building is left to the caller, so listing them all is cheap."""
    for fd in sample.DESCRIPTOR.fields:
        for label, build in _field_mutations(sample, fd, depth):
            yield f"{fd.name}{label}", build


def _copy(sample: message.Message) -> message.Message:
    copy = type(sample)()
    copy.CopyFrom(sample)
    return copy


def _with_map(sample: message.Message, fd: FD, entries: dict[str, str]) -> Build:
    def build() -> message.Message:
        edited = _copy(sample)
        container = getattr(edited, fd.name)
        container.clear()
        container.update(entries)
        return edited

    return build


def _with_child(sample: message.Message, fd: FD, build_child: Build) -> Build:
    def build() -> message.Message:
        edited = _copy(sample)
        if fd.is_repeated:
            container = getattr(edited, fd.name)
            del container[:]
            container.add().CopyFrom(build_child())
        else:
            getattr(edited, fd.name).CopyFrom(build_child())
        return edited

    return build


def _with_value(sample: message.Message, fd: FD, value: Any) -> Build:
    def build() -> message.Message:
        edited = _copy(sample)
        if fd.is_repeated:
            container = getattr(edited, fd.name)
            del container[:]
            container.extend([value, value])
        else:
            setattr(edited, fd.name, value)
        return edited

    return build


def _field_mutations(sample: message.Message, fd: FD, depth: int) -> Iterator[tuple[str, Build]]:
    if fd.type == FD.TYPE_MESSAGE and fd.message_type.GetOptions().map_entry:
        if fd.message_type.fields_by_name["value"].type != FD.TYPE_STRING:
            return
        for label, entries in (
            ("{'': ''}", {"": ""}),
            ("{NUL}", {"\x00": "\x00"}),
            ("{1000 entries}", {f"k{i}": "v" for i in range(1000)}),
            ("{long key}", {"k" * 10_000: "v"}),
        ):
            yield label, _with_map(sample, fd, entries)
        return
    if fd.type == FD.TYPE_MESSAGE:
        for label, fields in _well_known(fd):
            message_type = message_factory.GetMessageClass(fd.message_type)
            yield f".{label}", _with_child(sample, fd, partial(message_type, **fields))
        if depth >= 3 or fd.message_type.full_name.startswith("google.protobuf."):
            return
        child_type = message_factory.GetMessageClass(fd.message_type)
        if fd.is_repeated:
            children = list(getattr(sample, fd.name)) or [child_type()]
            child = children[0]
        else:
            child = getattr(sample, fd.name) if sample.HasField(fd.name) else child_type()
        for label, build_child in mutations(child, depth + 1):
            yield f".{label}", _with_child(sample, fd, build_child)
        return
    if fd.type == FD.TYPE_STRING:
        current = getattr(sample, fd.name)
        sample_value = (current[0] if current else "") if fd.is_repeated else current
        nearby = [
            value
            for other in sample.DESCRIPTOR.fields
            if other.type == FD.TYPE_STRING
            and not other.is_repeated
            and (value := getattr(sample, other.name)).startswith("tenants/")
        ]
        values: list[Any] = _string_edges(fd, sample_value, nearby)
    else:
        values = _scalar_edges(fd)
    for value in values:
        if (
            fd.type == FD.TYPE_ENUM
            and fd.enum_type.is_closed
            and value not in (v.number for v in fd.enum_type.values)
        ):
            continue  # a closed enum cannot hold it; undecodable() covers the wire form
        if fd.type in (FD.TYPE_UINT32, FD.TYPE_FIXED32, FD.TYPE_UINT64, FD.TYPE_FIXED64) and (
            value < 0
        ):
            continue
        yield f"={_short(value)}", _with_value(sample, fd, value)


def _short(value: Any) -> str:
    if isinstance(value, str | bytes) and len(value) > 80:
        return f"{value[:30]!r}...{value[-30:]!r} ({len(value)} long)"
    return repr(value)


def cases(
    method: Method, sample: message.Message, rng: random.Random, per_method: int | None
) -> list[Case]:
    """The cases for one RPC: every undecodable body (with and without credentials) and
    ``per_method`` of the edge-value mutations (all of them when None), drawn by ``rng``."""
    chosen = list(mutations(sample))
    if per_method is not None and len(chosen) > per_method:
        chosen = rng.sample(chosen, per_method)
    out: list[Case] = []
    for label, body in undecodable(method):
        for authenticated in (True, False):
            out.append(Case(method, label, _body(method, body), authenticated))
    for label, build in chosen:
        out.append(Case(method, label, _body(method, build().SerializeToString())))
    return out


def random_case(method: Method, sample: message.Message, rng: random.Random) -> Case:
    """One case for the long run: a random mutation, undecodable body, or random bytes."""
    roll = rng.random()
    if roll < 0.1:
        label, body = rng.choice(undecodable(method))
        return Case(method, label, _body(method, body), rng.random() < 0.5)
    if roll < 0.15:
        body = rng.randbytes(rng.randint(1, 64))
        return Case(method, "random bytes", _body(method, body), rng.random() < 0.5)
    mutated = sample
    label = "sample"
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        options = list(mutations(mutated))
        if not options:
            break
        edit, build = rng.choice(options)
        mutated = build()
        label = edit if label == "sample" else f"{label} & {edit}"
    return Case(method, label, _body(method, mutated.SerializeToString()))


def _body(method: Method, body: bytes) -> bytes | list[bytes]:
    return [body] if method.client_streaming else body


# -- sending ---------------------------------------------------------------------------------


@dataclass
class Sender:
    """Where cases go: an asyncio channel, and a synchronous one to the same server for
    client streams (grpc's asyncio client can report INTERNAL "Internal error from Core" for
    a client stream the server ends before the client half-closes, in place of the status
    the server sent: grpc/grpc#36066; the synchronous client reports the server's status)."""

    channel: grpc.aio.Channel
    sync_channel: grpc.Channel
    token: str
    deadline_seconds: float = 15.0

    async def send(self, case: Case) -> tuple[grpc.StatusCode, str]:
        """Sends ``case`` as raw bytes; returns its status code and message. A watch that is
        in place (its headers came) is cancelled and counts as OK."""
        metadata = [("authorization", f"Bearer {self.token}")] if case.authenticated else []
        method = case.method
        path = method.full_name
        timeout = self.deadline_seconds
        try:
            if method.client_streaming:
                call = self.sync_channel.stream_unary(path)
                await asyncio.to_thread(call, iter(case.body), metadata=metadata, timeout=timeout)
            elif method.server_streaming:
                stream = self.channel.unary_stream(path)(
                    case.body, metadata=metadata, timeout=timeout
                )
                if method.name.startswith("Watch"):
                    headers = dict(await stream.initial_metadata() or ())
                    if WATCH_AFTER_HEADER in headers:
                        stream.cancel()
                        return grpc.StatusCode.OK, ""
                async for _ in stream:
                    pass
            else:
                await self.channel.unary_unary(path)(case.body, metadata=metadata, timeout=timeout)
        except grpc.RpcError as error:
            rpc_error = cast(grpc.Call, error)
            return rpc_error.code(), rpc_error.details() or ""
        return grpc.StatusCode.OK, ""


async def run_cases(
    sender: Sender, cases_: list[Case], outcome: Outcome, concurrency: int = 8
) -> Outcome:
    """Sends ``cases_``, ``concurrency`` at a time, and records them in ``outcome``."""
    queue = list(reversed(cases_))

    async def worker() -> None:
        while queue:
            case = queue.pop()
            code, details = await sender.send(case)
            outcome.record(case, code, details)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcome


def destructive_last(methods: list[Method]) -> list[Method]:
    """Deletes go last, so they do not remove what the other RPCs' samples address."""
    return sorted(methods, key=lambda m: (m.name.startswith("Delete"), m.name == "DeleteTenant"))
