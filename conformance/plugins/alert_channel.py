"""The alert channel conformance suite (``controlplane.interfaces.AlertChannel``).

A plugin author subclasses ``AlertChannelSuite`` (or some of the classes it combines) in a
``test_*.py`` file and overrides the fixtures::

    import pytest
    from conformance.plugins.alert_channel import AlertChannelSuite

    class TestMyChannel(AlertChannelSuite):
        @pytest.fixture
        def alert_channel(self):
            return MyChannel()

        @pytest.fixture
        def alert_target(self, my_receiver):
            return my_receiver.address          # a valid target whose deliveries you can see

        @pytest.fixture
        def delivered_alerts(self, my_receiver):
            # Everything delivered to alert_target so far, oldest first, as Alert objects.
            return lambda: [decode(message) for message in my_receiver.messages]

        @pytest.fixture
        def invalid_targets(self):
            return ["", "not a target"]          # [] if your channel accepts every string

        @pytest.fixture
        def unreachable_target(self):
            return "address where nothing listens"   # or None: those tests are skipped

        @pytest.fixture
        def refusing_target(self, my_refusing_receiver):
            return my_refusing_receiver.address      # answers, but refuses (HTTP 500); or None

``delivered_alerts`` returns ``Alert`` objects, not the channel's own messages: only the
author knows how to decode what the channel delivered, and with ``Alert`` objects the suite
can compare every field, whatever the channel's wire format. A channel must deliver before
``send`` returns (the server counts a return as a delivery), so ``delivered_alerts`` is read
right after ``send``; the receiver must record an alert before it acknowledges it.

Every promise of the interface is tested unconditionally: ``check_target`` refuses what is
unusable with ``ValueError``; ``send`` delivers one alert per call, every field intact, in
order, from several threads at once, and raises when it cannot deliver: when nothing answers
at the target (``unreachable_target``) and when the receiver answers but refuses the alert
(``refusing_target``: an HTTP error status, an API's "not delivered"), which a channel that only
catches connection errors misses. A channel has no capabilities yet
(``conformance.capabilities``); a channel without an address that can fail (a log) returns
``None`` from ``unreachable_target`` and ``refusing_target`` and those tests are skipped, with
the reason, rather than declaring a capability.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from conformance.suite import ConformanceSuite, run_threads
from controlplane.interfaces.alerts import Alert, AlertChannel

SEVERITIES = ("info", "warning", "critical")

#: 2024-05-01T12:00:00.123457Z: an odd microsecond, so a channel that rounds to
#: milliseconds or through a float shows.
TIME_US = 1_714_564_800_123_457


def make_alert(**fields: Any) -> Alert:
    """A small valid alert; ``fields`` override any of its fields."""
    values: dict[str, Any] = {
        "tenant": "acme",
        "monitor": "tenants/acme/monitors/latency",
        "severity": "warning",
        "title": "p99 latency over 250 ms",
    }
    values.update(fields)
    return Alert(**values)


def full_alert() -> Alert:
    """An alert with every field set, nested JSON details and text that breaks naive
    encoders (quotes, backslashes, newlines, non-ASCII, emoji, markup)."""
    return Alert(
        tenant="acme-eu",
        monitor="tenants/acme-eu/monitors/churn-drift",
        severity="critical",
        title='Drift on "churn" \u2014 d\u00e9bit \u2191 \U0001f6a8 <b>&amp;</b>',
        body=(
            "Line one\nLine two\twith a tab \\ and a backslash\n"
            "\u65e5\u672c\u8a9e \u0645\u0631\u062d\u0628\u0627 \u2028 after a line separator"
        ),
        labels={"team": "risk", "r\u00e9gion": "\u00eele-de-france", "env": ""},
        details={
            "psi": 0.2734,
            "threshold": 0.2,
            "tiny": 1e-7,
            "negative": -3,
            "count": 120_000,
            "drifted": True,
            "baseline": None,
            "features": ["age", "tenure", "pl\u00e4n"],
            "histogram": {"edges": [0, 0.5, 1.0], "counts": [[1, 2], [3, 4]], "empty": {}},
            "nested": {"deeper": {"deepest": [{"k": "v"}, [], False]}},
            'quote"key': "value with 'quotes'",
        },
        time_us=TIME_US,
    )


def canonical(alert: Alert) -> str:
    """The alert as sorted JSON: tells ``True`` from ``1`` and ``1.0`` from ``1``, which
    ``==`` on the dataclass does not."""
    return json.dumps(dataclasses.asdict(alert), sort_keys=True)


def difference(got: list[Alert], expected: list[Alert]) -> str:
    """Where ``got`` first differs from ``expected``, in words."""
    if len(got) != len(expected):
        return (
            f"{len(got)} alerts delivered, {len(expected)} sent; delivered titles: "
            f"{[alert.title for alert in got]}"
        )
    for index, (delivered, sent) in enumerate(zip(got, expected, strict=True)):
        for name in (f.name for f in dataclasses.fields(Alert)):
            value, wanted = getattr(delivered, name), getattr(sent, name)
            if value != wanted or json.dumps(value, sort_keys=True) != json.dumps(
                wanted, sort_keys=True
            ):
                return f"alert {index}: {name} delivered as {value!r}, sent as {wanted!r}"
    return "the delivered alerts differ from those sent"


class AlertChannelFixtures(ConformanceSuite):
    """The fixtures a plugin author overrides, and the checks every test uses."""

    @pytest.fixture
    def alert_channel(self) -> AlertChannel:
        """The channel under test (a new one for each test)."""
        raise NotImplementedError(
            "override the `alert_channel` fixture in your subclass of the alert channel "
            "suite: it returns the AlertChannel under test (usually your class, built the way "
            "your registered factory builds it)"
        )

    @pytest.fixture
    def alert_target(self) -> str:
        """A valid target whose deliveries ``delivered_alerts`` sees; nothing delivered yet."""
        raise NotImplementedError(
            "override the `alert_target` fixture: it returns a target your channel accepts "
            "and whose deliveries you can observe (a local server's URL, a logger name, a "
            "file path), with nothing delivered to it yet"
        )

    @pytest.fixture
    def delivered_alerts(self) -> Callable[[], list[Alert]]:
        """A callable returning every alert delivered to ``alert_target`` so far, in the order
        they arrived, decoded back into ``Alert`` objects."""
        raise NotImplementedError(
            "override the `delivered_alerts` fixture: it returns a callable that lists the "
            "alerts delivered to `alert_target` so far, oldest first, decoded into "
            "controlplane.interfaces.Alert objects"
        )

    @pytest.fixture
    def invalid_targets(self) -> list[str]:
        """Targets the channel must refuse with ``ValueError``."""
        raise NotImplementedError(
            "override the `invalid_targets` fixture: it returns a list of targets your "
            "channel must refuse (return [] if it accepts every string)"
        )

    @pytest.fixture
    def unreachable_target(self) -> str | None:
        """A valid target where delivery fails (a port where nothing listens), or ``None``
        if the channel has no such target: the tests that need one are then skipped."""
        return None

    @pytest.fixture
    def refusing_target(self) -> str | None:
        """A valid target whose receiver answers but refuses the alert (a webhook URL
        answering HTTP 500, a chat room the API says is archived), or ``None`` if the channel
        has no such target: the tests that need one are then skipped."""
        return None

    def delivered(self, delivered_alerts: Callable[[], list[Alert]]) -> list[Alert]:
        """What ``delivered_alerts`` returns, checked to be a list of ``Alert`` objects."""
        got = list(delivered_alerts())
        not_alerts = [item for item in got if not isinstance(item, Alert)]
        assert not not_alerts, (
            "delivered_alerts must return controlplane.interfaces.Alert objects, not "
            f"{type(not_alerts[0]).__name__}"
        )
        return got

    def assert_delivered(
        self, delivered_alerts: Callable[[], list[Alert]], expected: list[Alert]
    ) -> None:
        got = self.delivered(delivered_alerts)
        # Messages of their own: pytest rewrites the asserts of test modules, not this one.
        assert got == expected, difference(got, expected)
        assert [canonical(a) for a in got] == [canonical(a) for a in expected], difference(
            got, expected
        )


class AlertChannelTargetTests(AlertChannelFixtures):
    """``check_target``: accepts what is usable, refuses the rest with ``ValueError``."""

    def test_accepts_the_target(self, alert_channel: AlertChannel, alert_target: str) -> None:
        assert alert_channel.check_target(alert_target) is None

    def test_refuses_every_invalid_target_with_a_message(
        self, alert_channel: AlertChannel, invalid_targets: list[str]
    ) -> None:
        accepted = []
        for target in invalid_targets:
            try:
                alert_channel.check_target(target)
            except ValueError as exc:
                assert str(exc), f"the ValueError for {target!r} does not say what is wrong"
            else:
                accepted.append(target)
        assert accepted == [], f"check_target accepted invalid targets {accepted}"

    def test_checking_a_target_delivers_nothing(
        self,
        alert_channel: AlertChannel,
        alert_target: str,
        delivered_alerts: Callable[[], list[Alert]],
    ) -> None:
        alert_channel.check_target(alert_target)
        self.assert_delivered(delivered_alerts, [])

    def test_send_to_an_invalid_target_raises(
        self, alert_channel: AlertChannel, invalid_targets: list[str]
    ) -> None:
        # The server validates targets when they are configured, but a stored target may
        # predate a stricter check: send must refuse it too, not deliver somewhere else.
        delivered = []
        for target in invalid_targets:
            try:
                alert_channel.send(target, make_alert())
            except Exception:
                continue
            delivered.append(target)
        assert delivered == [], f"send accepted invalid targets {delivered}"


class AlertChannelDeliveryTests(AlertChannelFixtures):
    """``send``: one delivery per call, every field intact, in order."""

    def test_delivers_an_alert_with_every_field_intact(
        self,
        alert_channel: AlertChannel,
        alert_target: str,
        delivered_alerts: Callable[[], list[Alert]],
    ) -> None:
        alert = full_alert()
        alert_channel.send(alert_target, alert)
        self.assert_delivered(delivered_alerts, [alert])

    def test_delivers_an_alert_with_only_the_required_fields(
        self,
        alert_channel: AlertChannel,
        alert_target: str,
        delivered_alerts: Callable[[], list[Alert]],
    ) -> None:
        # Empty body, labels and details, and time_us 0 (no time), must come back as such.
        alert = Alert(tenant="t", monitor="tenants/t/monitors/m", severity="info", title="x")
        alert_channel.send(alert_target, alert)
        self.assert_delivered(delivered_alerts, [alert])

    @pytest.mark.parametrize("severity", SEVERITIES)
    def test_delivers_each_severity(
        self,
        alert_channel: AlertChannel,
        alert_target: str,
        delivered_alerts: Callable[[], list[Alert]],
        severity: str,
    ) -> None:
        alert = make_alert(severity=severity, time_us=TIME_US)
        alert_channel.send(alert_target, alert)
        self.assert_delivered(delivered_alerts, [alert])

    def test_alerts_arrive_in_the_order_sent(
        self,
        alert_channel: AlertChannel,
        alert_target: str,
        delivered_alerts: Callable[[], list[Alert]],
    ) -> None:
        alerts = [
            make_alert(title=f"alert {index}", severity=SEVERITIES[index % 3], time_us=index + 1)
            for index in range(6)
        ]
        for alert in alerts:
            alert_channel.send(alert_target, alert)
        self.assert_delivered(delivered_alerts, alerts)

    def test_identical_alerts_are_each_delivered(
        self,
        alert_channel: AlertChannel,
        alert_target: str,
        delivered_alerts: Callable[[], list[Alert]],
    ) -> None:
        # One delivery per call: deciding what is a duplicate is the server's business.
        alert = make_alert(time_us=TIME_US)
        alert_channel.send(alert_target, alert)
        alert_channel.send(alert_target, alert)
        self.assert_delivered(delivered_alerts, [alert, alert])

    def test_send_leaves_the_alert_unchanged(
        self, alert_channel: AlertChannel, alert_target: str
    ) -> None:
        # The server may send one alert to several channels: none may edit its dicts.
        alert = full_alert()
        before = copy.deepcopy(alert)
        alert_channel.send(alert_target, alert)
        assert canonical(alert) == canonical(before)


class AlertChannelFailureTests(AlertChannelFixtures):
    """A delivery that cannot happen, or that the receiver refuses, raises: a return counts
    as delivered, so it must mean delivered."""

    @pytest.fixture
    def _unreachable(self, unreachable_target: str | None) -> str:
        if unreachable_target is None:
            pytest.skip(
                "the unreachable_target fixture returns None: no target of this channel can fail"
            )
        return unreachable_target

    def test_send_to_an_unreachable_target_raises(
        self, alert_channel: AlertChannel, _unreachable: str
    ) -> None:
        with pytest.raises(Exception):  # noqa: B017 (the interface names no exception type)
            alert_channel.send(_unreachable, make_alert())

    def test_a_failed_send_does_not_break_the_channel(
        self,
        alert_channel: AlertChannel,
        alert_target: str,
        delivered_alerts: Callable[[], list[Alert]],
        _unreachable: str,
    ) -> None:
        with pytest.raises(Exception):  # noqa: B017
            alert_channel.send(_unreachable, make_alert(title="lost"))
        alert = make_alert(title="after the failure", time_us=TIME_US)
        alert_channel.send(alert_target, alert)
        self.assert_delivered(delivered_alerts, [alert])

    @pytest.fixture
    def _refusing(self, refusing_target: str | None) -> str:
        if refusing_target is None:
            pytest.skip(
                "the refusing_target fixture returns None: no receiver of this channel refuses"
            )
        return refusing_target

    def test_send_to_a_refusing_target_raises(
        self, alert_channel: AlertChannel, _refusing: str
    ) -> None:
        # The receiver was reached and said no: that is not a delivery, and only a raise
        # tells the caller so (a return counts as delivered).
        with pytest.raises(Exception):  # noqa: B017 (the interface names no exception type)
            alert_channel.send(_refusing, make_alert(title="refused"))


class AlertChannelConcurrencyTests(AlertChannelFixtures):
    """Thread safety: the server sends from several worker threads through one channel."""

    threads: ClassVar[int] = 10
    alerts_per_thread: ClassVar[int] = 5

    def test_parallel_sends_are_all_delivered(
        self,
        alert_channel: AlertChannel,
        alert_target: str,
        delivered_alerts: Callable[[], list[Alert]],
    ) -> None:
        barrier = threading.Barrier(self.threads)

        def alert(thread: int, number: int) -> Alert:
            return make_alert(
                title=f"thread {thread} alert {number}",
                labels={"thread": str(thread)},
                details={"thread": thread, "number": number},
                time_us=TIME_US + thread * 1000 + number,
            )

        def work(thread: int) -> None:
            barrier.wait(timeout=60)
            for number in range(self.alerts_per_thread):
                alert_channel.send(alert_target, alert(thread, number))

        run_threads(self.threads, work)
        got = self.delivered(delivered_alerts)
        expected = [
            alert(thread, number)
            for thread in range(self.threads)
            for number in range(self.alerts_per_thread)
        ]
        assert sorted(got, key=canonical) == sorted(expected, key=canonical), difference(
            sorted(got, key=canonical), sorted(expected, key=canonical)
        )
        # One thread's sends are sequential, so they must arrive in its order.
        for thread in range(self.threads):
            mine = [a for a in got if a.labels.get("thread") == str(thread)]
            sent = [alert(thread, n) for n in range(self.alerts_per_thread)]
            assert mine == sent, f"thread {thread}: {difference(mine, sent)}"


class AlertChannelSuite(
    AlertChannelTargetTests,
    AlertChannelDeliveryTests,
    AlertChannelFailureTests,
    AlertChannelConcurrencyTests,
):
    """Every alert channel test; subclass it (named ``Test...``) and override the fixtures."""
