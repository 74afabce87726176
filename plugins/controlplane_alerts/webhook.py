"""The ``webhook`` channel: POSTs each alert as JSON to an http(s) URL.

The body is the alert's JSON form (``payload.alert_payload``, ``Content-Type:
application/json``). Any 2xx answer is a delivery; anything else raises ``WebhookError`` and
the server retries. Redirects are not followed: a 3xx raises, because following one would
either turn the POST into a GET (301-303) or re-send the alert somewhere the tenant never
configured. Proxies come from the environment (``HTTPS_PROXY``, ``NO_PROXY``), as everywhere
in ``urllib``.

Messages name only the URL's origin (``https://host:port``): a webhook URL often carries its
secret in the path or query (Slack's do), and delivery errors are logged and recorded.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from typing import ClassVar
from urllib.parse import SplitResult, urlsplit

from controlplane.interfaces.alerts import Alert, AlertChannel
from controlplane_alerts.payload import alert_payload

USER_AGENT = "controlplane-alerts-webhook"
_MAX_URL_LENGTH = 2048
_EXCERPT_BYTES = 200


class WebhookError(Exception):
    """A delivery failed. ``status`` is the HTTP status, or ``None`` when no answer came
    (connection refused, timeout, a broken response)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Refuses every redirect; urllib then raises the 3xx as an ``HTTPError``."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def parse_url(target: str) -> SplitResult:
    """The parts of a webhook URL; ``ValueError`` naming what makes it unusable."""
    if not target:
        raise ValueError("webhook URL is empty")
    if len(target) > _MAX_URL_LENGTH:
        raise ValueError(f"webhook URL is longer than {_MAX_URL_LENGTH} characters")
    if any(not " " < char < "\x7f" for char in target):
        raise ValueError(
            "webhook URL contains a space, a control character or a non-ASCII character "
            "(percent-encode it)"
        )
    try:
        parts = urlsplit(target)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"webhook URL is malformed: {exc}") from None
    if parts.scheme not in ("http", "https"):
        found = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise ValueError(f"webhook URL has {found}: it must start with http:// or https://")
    if "@" in parts.netloc:
        raise ValueError(
            "webhook URL carries credentials (user@host), which are not sent: put a token "
            "in the path or query instead"
        )
    if not parts.hostname:
        raise ValueError("webhook URL has no host")
    if port == 0:
        raise ValueError("webhook URL has port 0")
    return parts


class WebhookAlertChannel(AlertChannel):
    """POSTs alerts to an http:// or https:// URL. The registered factory takes no
    arguments, so the timeout is the class attribute ``timeout``; ``timeout=`` overrides it
    for one instance."""

    name = "webhook"
    #: Seconds to wait for the connection and for each read of the answer.
    timeout: ClassVar[float] = 10.0

    def __init__(self, *, timeout: float | None = None) -> None:
        if timeout is not None and not timeout > 0:
            raise ValueError(f"webhook timeout must be > 0 seconds, not {timeout!r}")
        self._timeout = type(self).timeout if timeout is None else timeout

    def check_target(self, target: str) -> None:
        parse_url(target)

    def send(self, target: str, alert: Alert) -> None:
        parts = parse_url(target)
        origin = f"webhook {parts.scheme}://{parts.netloc}"
        body = json.dumps(alert_payload(alert)).encode("ascii")
        request = urllib.request.Request(
            target,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
        )
        # A new opener per call: nothing is shared between threads, and it is cheap.
        opener = urllib.request.build_opener(_NoRedirects)
        try:
            with opener.open(request, timeout=self._timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            raise WebhookError(_describe(origin, exc), status=exc.code) from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise self._timed_out(origin) from exc
            raise WebhookError(f"{origin} is unreachable: {exc.reason}") from exc
        except TimeoutError as exc:
            raise self._timed_out(origin) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise WebhookError(f"{origin} failed: {exc!r}") from exc
        if not 200 <= status < 300:  # urllib raises for these; a custom opener might not
            raise WebhookError(f"{origin} answered {status}", status=status)

    def _timed_out(self, origin: str) -> WebhookError:
        return WebhookError(f"{origin} did not answer within {self._timeout:g} s")


def _describe(origin: str, error: urllib.error.HTTPError) -> str:
    """``webhook ORIGIN answered 503 Service Unavailable: <the start of its body>``."""
    message = f"{origin} answered {error.code} {error.reason}"
    with error:  # closes the connection the answer came on
        if 300 <= error.code < 400:
            return f"{message} (redirects are not followed: configure the final URL)"
        try:
            excerpt = error.read(_EXCERPT_BYTES).decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            excerpt = ""
    excerpt = " ".join(excerpt.split())
    return f"{message}: {excerpt}" if excerpt else message
