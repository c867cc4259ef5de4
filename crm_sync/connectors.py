"""CRM connectors: the protocol, the delivery errors by who must act, and building them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final, Protocol

import httpx
from pydantic import SecretStr

from socialcrm.settings import Settings

USER_AGENT: Final = "socialcrm/0.1 (+https://github.com/socialcrm/socialcrm)"
MAX_DETAIL: Final = 200
# 408 (the server gave up waiting) and 425 (too early) pass; every 5xx is the server's fault
_TRANSIENT_4XX: Final = frozenset({408, 425})


class Connector(Protocol):
    """An outside system events are delivered to; `send` raises a `ConnectorError` on failure."""

    name: str

    def send(self, payload: Mapping[str, Any], key: str) -> None:
        """Deliver one event payload; `key` is its idempotency key (the payload's `id`)."""
        ...


class ConnectorError(Exception):
    """A delivery failed; the subclass says who must act. The message is one line to act on."""


class DeliveryError(ConnectorError):
    """A passing fault (network, timeout, 5xx): retried with backoff, counted as an attempt."""


class RateLimitedError(ConnectorError):
    """The system asked us to slow down (429): wait `retry_after` seconds; not an attempt."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConnectorAuthError(ConnectorError):
    """The credentials were refused (401/403): a person must fix the secret; not an attempt."""


class RejectedError(ConnectorError):
    """The system refused this message for good (other 4xx): dead-lettered at once."""


def build_connectors(
    settings: Settings, client: httpx.Client | None = None
) -> dict[str, Connector]:
    """The enabled connectors by name, sharing `client` (one is made when none is given)."""
    # imported here because both modules import the errors defined above
    from crm_sync.hubspot import HubSpotConnector
    from crm_sync.webhook import WebhookConnector

    crm = settings.crm
    if not (crm.webhook.enabled or crm.hubspot.enabled):
        return {}
    http = client if client is not None else httpx.Client(headers={"User-Agent": USER_AGENT})
    connectors: dict[str, Connector] = {}
    if crm.webhook.enabled:
        secret = _secret(settings.secrets.webhook_secret, "SOCIALCRM_WEBHOOK_SECRET")
        connectors["webhook"] = WebhookConnector(crm.webhook, secret, http)
    if crm.hubspot.enabled:
        token = _secret(settings.secrets.hubspot_token, "SOCIALCRM_HUBSPOT_TOKEN")
        connectors["hubspot"] = HubSpotConnector(crm.hubspot, token, http)
    return connectors


def _secret(value: SecretStr | None, variable: str) -> str:
    # settings validation already demands it; this guards settings built in code
    if value is None or not value.get_secret_value():
        raise ConnectorAuthError(f"set {variable} (in the environment or secrets.env)")
    return value.get_secret_value()


def post(
    client: httpx.Client, url: str, where: str, timeout: float, **kwargs: Any
) -> httpx.Response:
    """POST through `client`; network failures and timeouts become `DeliveryError`."""
    try:
        return client.post(url, timeout=timeout, **kwargs)
    except httpx.TimeoutException as error:
        raise DeliveryError(f"{where} timed out after {timeout:g} s") from error
    except httpx.TransportError as error:
        reason = str(error) or type(error).__name__
        raise DeliveryError(f"{where} cannot be reached: {reason}") from error


def raise_for_status(
    response: httpx.Response,
    where: str,
    auth_hint: str,
    default_retry_after: float,
    detail: Callable[[httpx.Response], str] | None = None,
) -> None:
    """Turn an error status into the error that says who must act; a 2xx returns quietly."""
    status = response.status_code
    if 200 <= status < 300:
        return
    said = (detail or short_text)(response)
    suffix = f": {said}" if said else ""
    if status == 429:
        wait = retry_after(response.headers, default_retry_after)
        raise RateLimitedError(f"{where} rate limited (HTTP 429), waiting {wait:g} s", wait)
    if status in (401, 403):
        raise ConnectorAuthError(f"{where} refused the credentials (HTTP {status}): {auth_hint}")
    if status >= 500 or status in _TRANSIENT_4XX:
        raise DeliveryError(f"{where} failed with HTTP {status}{suffix}")
    if 300 <= status < 400:
        raise RejectedError(
            f"{where} redirected (HTTP {status}) to {response.headers.get('location', '?')}: "
            "configure the final address"
        )
    raise RejectedError(f"{where} rejected the message (HTTP {status}){suffix}")


def retry_after(headers: Mapping[str, str], default: float) -> float:
    """Seconds to wait from a `Retry-After` header (seconds or an HTTP date), else `default`."""
    value = headers.get("retry-after")
    if value is None:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return default


def short_text(response: httpx.Response) -> str:
    """The start of a response body on one line, for an error message."""
    line = " ".join(response.text.split())
    return line[:MAX_DETAIL] + ("…" if len(line) > MAX_DETAIL else "")
