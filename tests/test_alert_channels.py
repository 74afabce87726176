"""The built-in alert channels: the conformance suite, run exactly as a third party runs it
(channels built through the entry point), the webhook against a real HTTP server on
127.0.0.1, plus what is particular to each channel."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest
from controlplane_alerts import (
    DEFAULT_LOGGER,
    WebhookError,
    alert_from_payload,
    alert_payload,
)

from conformance.plugins.alert_channel import (
    TIME_US,
    AlertChannelSuite,
    full_alert,
    make_alert,
)
from controlplane.hookspecs import hookimpl
from controlplane.interfaces.alerts import Alert, AlertChannel
from controlplane.plugin_loader import PluginStatus, load_plugins
from controlplane.registry import Kind, Registry
from controlplane.server.logs import JsonFormatter
from tests.author_suite import run_author_tests

Factory = Callable[[], AlertChannel]


@pytest.fixture(scope="module")
def channel_factories() -> dict[str, Factory]:
    registry = load_plugins(disabled=frozenset()).registry
    return {name: registry.get(Kind.ALERT_CHANNEL, name).factory for name in ("log", "webhook")}


# -- a real webhook receiver --------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A ThreadingHTTPServer on 127.0.0.1 that records every request before it answers
    ``status`` (after ``delay`` seconds), with ``headers``."""

    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    answer: bytes = b""
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def posted(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(r.body) for r in self.requests if r.method == "POST"]

    def alerts(self) -> list[Alert]:
        return [alert_from_payload(payload) for payload in self.posted()]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        receiver = cast(Any, self.server).receiver
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(self.command, self.path, dict(self.headers), self.rfile.read(length))
        with receiver.lock:
            receiver.requests.append(request)
        if receiver.delay:
            receiver.released.wait(receiver.delay)
        self.send_response(receiver.status)
        for name, value in receiver.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(receiver.answer)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(receiver.answer)

    do_POST = do_GET = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 makes the 11th simultaneous connect wait for a SYN retry (1 s).
    request_queue_size = 64


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from _serve(Receiver())


@pytest.fixture
def refusing_receiver() -> Iterator[Receiver]:
    """A receiver that records each request, then answers 500."""
    yield from _serve(Receiver(status=500, answer=b"database unavailable"))


def _serve(state: Receiver) -> Iterator[Receiver]:
    """Serves ``state`` on a free port of 127.0.0.1 until the generator is closed."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.receiver = state  # type: ignore[attr-defined]
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield state
    state.released.set()  # wakes handlers still sleeping in `delay`
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- the conformance suite ---------------------------------------------------------------------


class TestWebhook(AlertChannelSuite):
    @pytest.fixture
    def alert_channel(self, channel_factories: dict[str, Factory]) -> AlertChannel:
        return channel_factories["webhook"]()

    @pytest.fixture
    def alert_target(self, receiver: Receiver) -> str:
        return receiver.url("/hooks/T01/B02?token=abc")

    @pytest.fixture
    def delivered_alerts(self, receiver: Receiver) -> Callable[[], list[Alert]]:
        return receiver.alerts

    @pytest.fixture
    def invalid_targets(self) -> list[str]:
        return [
            "",
            "ftp://example.com/hook",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "example.com/hook",
            "//example.com/hook",
            "http://",
            "http:///hook",
            "https://user:secret@example.com/hook",
            "http://example.com:99999/",
            "http://example.com:0/",
            "http://[::1/hook",
            "http://exa mple.com/",
            "http://example.com/hook\n",
            "http://example.com/caf\u00e9",
        ]

    @pytest.fixture
    def unreachable_target(self, closed_port: int) -> str:
        return f"http://127.0.0.1:{closed_port}/hook"

    @pytest.fixture
    def refusing_target(self, refusing_receiver: Receiver) -> str:
        return refusing_receiver.url()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def log_records() -> Iterator[tuple[str, _Records]]:
    """A fresh logger name that lets every level through, and the records it gets."""
    name = f"tests.alerts_{uuid.uuid4().hex}"
    logger = logging.getLogger(name)
    handler = _Records()
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield name, handler
    logger.removeHandler(handler)


class TestLog(AlertChannelSuite):
    @pytest.fixture
    def alert_channel(self, channel_factories: dict[str, Factory]) -> AlertChannel:
        return channel_factories["log"]()

    @pytest.fixture
    def alert_target(self, log_records: tuple[str, _Records]) -> str:
        return log_records[0]

    @pytest.fixture
    def delivered_alerts(self, log_records: tuple[str, _Records]) -> Callable[[], list[Alert]]:
        handler = log_records[1]
        return lambda: [alert_from_payload(r.alert) for r in handler.records]  # type: ignore[attr-defined]

    @pytest.fixture
    def invalid_targets(self) -> list[str]:
        return [
            ".",
            "a..b",
            ".a",
            "a.",
            "a b",
            "1abc",
            "a.1b",
            "my-app",
            "a/b",
            "caf\u00e9",
            "a\n",
            "x" * 201,
        ]

    # unreachable_target and refusing_target stay None: a logger is always there and never
    # refuses; those tests are skipped.


# -- loading ------------------------------------------------------------------------------------


def test_builtin_channels_load_through_the_alerts_entry_point() -> None:
    loaded = load_plugins(disabled=frozenset())
    info = loaded.info("alerts")
    assert (info.status, info.source, info.kinds) == (
        PluginStatus.LOADED,
        "built-in",
        {Kind.ALERT_CHANNEL},
    )
    for name in ("log", "webhook"):
        provision = loaded.registry.get(Kind.ALERT_CHANNEL, name)
        assert provision.plugin == "alerts"
        assert provision.factory().name == name


class _WebhookReplacement:
    @hookimpl
    def controlplane_register_alert_channels(self, registry: Registry) -> None:
        registry.add_alert_channel("webhook", lambda: None)


def test_a_third_party_webhook_channel_replaces_the_builtin() -> None:
    loaded = load_plugins([("replacement", _WebhookReplacement())], disabled=frozenset())
    assert loaded.registry.get(Kind.ALERT_CHANNEL, "webhook").plugin == "replacement"
    assert loaded.registry.get(Kind.ALERT_CHANNEL, "log").plugin == "alerts"
    assert [p.plugin for p in loaded.registry.shadowed if p.name == "webhook"] == ["alerts"]


# -- the JSON form ------------------------------------------------------------------------------


def test_payload_has_the_documented_schema() -> None:
    assert alert_payload(full_alert()) == {
        "tenant": "acme-eu",
        "monitor": "tenants/acme-eu/monitors/churn-drift",
        "severity": "critical",
        "title": full_alert().title,
        "body": full_alert().body,
        "labels": full_alert().labels,
        "details": full_alert().details,
        "time": "2024-05-01T12:00:00.123457Z",
    }


@pytest.mark.parametrize(
    ("time_us", "text"),
    [
        (0, None),
        (1, "1970-01-01T00:00:00.000001Z"),
        (-1, "1969-12-31T23:59:59.999999Z"),
        (TIME_US, "2024-05-01T12:00:00.123457Z"),
        (253_402_300_799_999_999, "9999-12-31T23:59:59.999999Z"),
    ],
)
def test_payload_time_is_rfc3339_utc_with_microseconds(time_us: int, text: str | None) -> None:
    payload = alert_payload(make_alert(time_us=time_us))
    assert payload["time"] == text
    assert alert_from_payload(payload).time_us == time_us


def test_payload_is_a_copy_of_the_alerts_dicts() -> None:
    alert = make_alert(details={"nested": {"k": [1]}})
    payload = alert_payload(alert)
    payload["details"]["nested"]["k"].append(2)
    assert alert.details == {"nested": {"k": [1]}}


@pytest.mark.parametrize(
    ("alert", "problem"),
    [
        (make_alert(severity="fatal"), "severity 'fatal'"),
        (make_alert(severity="INFO"), "severity 'INFO'"),
        (make_alert(details={"psi": float("nan")}), "not JSON-compatible"),
        (make_alert(details={"when": object()}), "not JSON-compatible"),
        (make_alert(time_us=10**20), "outside years"),
    ],
    ids=["unknown-severity", "uppercase-severity", "nan", "object", "time-overflow"],
)
def test_payload_refuses_an_alert_no_retry_could_deliver(alert: Alert, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        alert_payload(alert)


# -- webhook ------------------------------------------------------------------------------------


def test_webhook_posts_the_json_form_with_its_content_type(
    channel_factories: dict[str, Factory], receiver: Receiver
) -> None:
    channel_factories["webhook"]().send(receiver.url("/a/b?x=1&y=%20"), full_alert())
    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/a/b?x=1&y=%20")
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "controlplane-alerts-webhook"
    assert int(request.headers["Content-Length"]) == len(request.body)
    assert json.loads(request.body.decode("utf-8")) == alert_payload(full_alert())


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_webhook_any_2xx_is_a_delivery(
    channel_factories: dict[str, Factory], receiver: Receiver, status: int
) -> None:
    receiver.status = status
    channel_factories["webhook"]().send(receiver.url(), make_alert())
    assert len(receiver.posted()) == 1


@pytest.mark.parametrize("status", [400, 401, 404, 413, 429, 500, 502, 503])
def test_webhook_non_2xx_raises_with_the_status(
    channel_factories: dict[str, Factory], receiver: Receiver, status: int
) -> None:
    receiver.status = status
    receiver.answer = b"quota\n  exceeded " + b"x" * 500
    with pytest.raises(WebhookError, match=rf"answered {status} \w") as raised:
        channel_factories["webhook"]().send(receiver.url(), make_alert())
    assert raised.value.status == status
    # The start of the receiver's answer, on one line, cut short.
    assert "quota exceeded xxx" in str(raised.value)
    assert "x" * 250 not in str(raised.value)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_webhook_does_not_follow_redirects(
    channel_factories: dict[str, Factory], receiver: Receiver, status: int
) -> None:
    receiver.status = status
    receiver.headers = {"Location": receiver.url("/elsewhere")}
    with pytest.raises(WebhookError, match=f"answered {status} .*redirects are not followed"):
        channel_factories["webhook"]().send(receiver.url("/hook"), make_alert())
    assert [(r.method, r.path) for r in receiver.requests] == [("POST", "/hook")]


def _slow_send(channel: AlertChannel, receiver: Receiver) -> tuple[WebhookError, float]:
    receiver.delay = 10
    started = time.monotonic()
    with pytest.raises(WebhookError) as raised:
        channel.send(receiver.url(), make_alert())
    return raised.value, time.monotonic() - started


def test_webhook_timeout_is_honoured(
    channel_factories: dict[str, Factory], receiver: Receiver
) -> None:
    factory = cast(Callable[..., AlertChannel], channel_factories["webhook"])
    error, took = _slow_send(factory(timeout=0.3), receiver)
    assert 0.25 < took < 3
    assert str(error) == f"webhook http://127.0.0.1:{receiver.port} did not answer within 0.3 s"
    assert error.status is None


def test_webhook_timeout_is_a_class_attribute_for_the_argumentless_factory(
    channel_factories: dict[str, Factory], receiver: Receiver
) -> None:
    factory = cast(type, channel_factories["webhook"])
    assert factory.timeout == 10.0
    quick = type("QuickWebhook", (factory,), {"timeout": 0.4})
    error, took = _slow_send(quick(), receiver)
    assert 0.35 < took < 3
    assert "within 0.4 s" in str(error)


@pytest.mark.parametrize("timeout", [0, -1.0])
def test_webhook_refuses_a_timeout_that_is_not_positive(
    channel_factories: dict[str, Factory], timeout: float
) -> None:
    factory = cast(Callable[..., AlertChannel], channel_factories["webhook"])
    with pytest.raises(ValueError, match="timeout must be > 0"):
        factory(timeout=timeout)


def test_webhook_connection_refused_raises_without_a_status(
    channel_factories: dict[str, Factory], closed_port: int
) -> None:
    with pytest.raises(WebhookError, match="is unreachable") as raised:
        channel_factories["webhook"]().send(f"http://127.0.0.1:{closed_port}/", make_alert())
    assert raised.value.status is None


def test_webhook_errors_name_the_origin_but_not_the_path_or_query(
    channel_factories: dict[str, Factory], receiver: Receiver
) -> None:
    # Webhook URLs carry their secret in the path or query; errors are logged and recorded.
    receiver.status = 500
    with pytest.raises(WebhookError) as raised:
        channel_factories["webhook"]().send(
            receiver.url("/T0/s3cret-path?key=s3cret"), make_alert()
        )
    assert f"webhook http://127.0.0.1:{receiver.port} answered 500" in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_webhook_refuses_an_undeliverable_alert_without_posting(
    channel_factories: dict[str, Factory], receiver: Receiver
) -> None:
    with pytest.raises(ValueError, match="severity"):
        channel_factories["webhook"]().send(receiver.url(), make_alert(severity="page"))
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("", "is empty"),
        ("ftp://example.com/hook", "scheme 'ftp'"),
        ("file:///etc/passwd", "scheme 'file'"),
        ("example.com/hook", "no scheme"),
        ("http://", "no host"),
        ("https:///hook", "no host"),
        ("http://:8080/hook", "no host"),
        ("https://user:pw@example.com/", "credentials"),
        ("http://example.com:99999/", "malformed"),
        ("http://example.com:port/", "malformed"),
        ("http://[::1/", "malformed"),
        ("http://example.com/a b", "space"),
        ("http://example.com/\u00e9", "non-ASCII"),
        ("http://example.com/" + "a" * 2048, "longer than 2048"),
    ],
)
def test_webhook_refuses_a_bad_url_naming_the_problem(
    channel_factories: dict[str, Factory], target: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        channel_factories["webhook"]().check_target(target)


@pytest.mark.parametrize(
    "target",
    [
        "https://hooks.example.com/services/T0/B0/xyz?x=1#frag",
        "http://127.0.0.1:8080/hook",
        "http://[::1]:9000/",
        "HTTPS://Example.COM",
        "http://localhost/%C3%A9",
    ],
)
def test_webhook_accepts_http_and_https_urls(
    channel_factories: dict[str, Factory], target: str
) -> None:
    channel_factories["webhook"]().check_target(target)


# -- log ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "level"),
    [("info", logging.INFO), ("warning", logging.WARNING), ("critical", logging.CRITICAL)],
)
def test_log_record_has_the_severitys_level_and_the_alert(
    channel_factories: dict[str, Factory],
    caplog: pytest.LogCaptureFixture,
    severity: str,
    level: int,
) -> None:
    alert = make_alert(severity=severity, labels={"team": "risk"}, time_us=TIME_US)
    with caplog.at_level(logging.DEBUG, logger="tests.alerts.levels"):
        channel_factories["log"]().send("tests.alerts.levels", alert)
    [record] = caplog.records
    assert (record.name, record.levelno) == ("tests.alerts.levels", level)
    assert record.alert == alert_payload(alert)  # type: ignore[attr-defined]
    assert record.getMessage() == (
        f"alert {severity}: 'p99 latency over 250 ms' "
        "(tenant acme, monitor tenants/acme/monitors/latency)"
    )


def test_log_empty_target_is_the_controlplane_alerts_logger(
    channel_factories: dict[str, Factory], caplog: pytest.LogCaptureFixture
) -> None:
    channel = channel_factories["log"]()
    channel.check_target("")
    with caplog.at_level(logging.INFO, logger=DEFAULT_LOGGER):
        channel.send("", make_alert(severity="info"))
    assert [r.name for r in caplog.records] == ["controlplane.alerts"]


def test_log_title_cannot_forge_a_log_line(
    channel_factories: dict[str, Factory], caplog: pytest.LogCaptureFixture
) -> None:
    title = "ok\n2024-01-01 ERROR controlplane.server: forged"
    with caplog.at_level(logging.INFO, logger=DEFAULT_LOGGER):
        channel_factories["log"]().send("", make_alert(title=title))
    [record] = caplog.records
    assert "\n" not in record.getMessage()
    assert record.alert["title"] == title  # type: ignore[attr-defined]


def test_log_record_in_the_servers_json_format_keeps_its_own_time(
    channel_factories: dict[str, Factory], caplog: pytest.LogCaptureFixture
) -> None:
    # The alert is one "alert" object, so its fields cannot overwrite the line's time or level.
    alert = full_alert()
    with caplog.at_level(logging.INFO, logger=DEFAULT_LOGGER):
        channel_factories["log"]().send("", alert)
    [record] = caplog.records
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "CRITICAL"
    assert line["time"] != "2024-05-01T12:00:00.123457Z"
    assert line["alert"] == alert_payload(alert)
    assert alert_from_payload(line["alert"]) == alert


def test_log_follows_the_loggers_level(
    channel_factories: dict[str, Factory], log_records: tuple[str, _Records]
) -> None:
    name, handler = log_records
    logging.getLogger(name).setLevel(logging.WARNING)
    channel = channel_factories["log"]()
    channel.send(name, make_alert(severity="info"))
    channel.send(name, make_alert(severity="warning"))
    assert [r.levelname for r in handler.records] == ["WARNING"]


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("my-app", "not a dotted identifier"),
        ("a..b", "not a dotted identifier"),
        ("x" * 201, "200"),
    ],
)
def test_log_refuses_a_name_that_is_not_a_dotted_identifier(
    channel_factories: dict[str, Factory], target: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        channel_factories["log"]().check_target(target)


def test_log_refuses_an_unknown_severity_without_logging(
    channel_factories: dict[str, Factory], log_records: tuple[str, _Records]
) -> None:
    name, handler = log_records
    with pytest.raises(ValueError, match="severity 'error'"):
        channel_factories["log"]().send(name, make_alert(severity="error"))
    assert handler.records == []


# -- the suite, as an author meets it -----------------------------------------------------------

_AUTHOR_TESTS = """
import threading

import pytest

from conformance.plugins.alert_channel import AlertChannelSuite, AlertChannelDeliveryTests
from controlplane.interfaces.alerts import Alert, AlertChannel


class MemoryChannel(AlertChannel):
    name = "memory"

    def __init__(self):
        self.boxes = {}
        self.lock = threading.Lock()

    def check_target(self, target):
        if not target.startswith("box:"):
            raise ValueError("a target is box:NAME")

    def send(self, target, alert):
        self.check_target(target)
        if target == "box:full":
            raise OSError("box full")
        with self.lock:
            self.boxes.setdefault(target, []).append(alert)


class LossyChannel(MemoryChannel):
    def send(self, target, alert):
        super().send(target, Alert(alert.tenant, alert.monitor, alert.severity, alert.title))


class Fixtures:
    @pytest.fixture
    def alert_channel(self):
        return self.channel_class()

    @pytest.fixture
    def alert_target(self):
        return "box:a"

    @pytest.fixture
    def delivered_alerts(self, alert_channel):
        return lambda: list(alert_channel.boxes.get("box:a", []))

    @pytest.fixture
    def invalid_targets(self):
        return ["", "a"]


class TestMemory(Fixtures, AlertChannelSuite):
    channel_class = MemoryChannel

    @pytest.fixture
    def unreachable_target(self):
        return "box:full"

    @pytest.fixture
    def refusing_target(self):
        return "box:full"


class TestMemoryWithoutUnreachable(Fixtures, AlertChannelSuite):
    channel_class = MemoryChannel


class TestLossy(Fixtures, AlertChannelDeliveryTests):
    channel_class = LossyChannel


class TestForgotTheChannel(AlertChannelDeliveryTests):
    pass
"""


def test_the_suite_passes_a_correct_channel_fails_a_lossy_one_and_explains_fixtures(
    tmp_path: Path,
) -> None:
    # Run from a directory outside the repository, as a plugin author's checkout would be.
    done = run_author_tests(tmp_path, _AUTHOR_TESTS, ["-v"])
    out = done.stdout
    lines = out.splitlines()

    def outcomes(test_class: str) -> dict[str, str]:
        """Test name -> PASSED, FAILED, SKIPPED or ERROR, from pytest -v's lines."""
        found = {}
        for line in lines:
            parts = line.split()
            if len(parts) >= 2 and parts[0].startswith(f"test_author.py::{test_class}::"):
                found[parts[0].split("::")[2]] = parts[1]
        return found

    memory = outcomes("TestMemory")
    assert len(memory) >= 15, out
    assert set(memory.values()) == {"PASSED"}, out
    skipped = outcomes("TestMemoryWithoutUnreachable")
    assert skipped["test_send_to_an_unreachable_target_raises"] == "SKIPPED", out
    assert skipped["test_a_failed_send_does_not_break_the_channel"] == "SKIPPED", out
    assert skipped["test_send_to_a_refusing_target_raises"] == "SKIPPED", out
    assert skipped["test_delivers_an_alert_with_every_field_intact"] == "PASSED", out
    lossy = outcomes("TestLossy")
    assert lossy["test_delivers_an_alert_with_every_field_intact"] == "FAILED", out
    assert lossy["test_delivers_an_alert_with_only_the_required_fields"] == "PASSED", out
    assert "alert 0: body delivered as '', sent as 'Line one" in out, out
    assert set(outcomes("TestForgotTheChannel").values()) == {"ERROR"}, out
    assert "override the `alert_channel` fixture" in out, out
    assert done.returncode == 1
