"""The signed outbound webhook: one JSON POST per event, HMAC-SHA256 signed (docs/crm.md)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import httpx

from crm_sync.connectors import post, raise_for_status
from socialcrm.settings import WebhookSettings

SIGNATURE_VERSION: Final = "v1"
# a receiver that sends 429 without Retry-After is asked again after this many seconds
DEFAULT_RETRY_AFTER: Final = 60.0
AUTH_HINT: Final = (
    "the receiver refused the signature: set SOCIALCRM_WEBHOOK_SECRET to the secret it expects"
)


def canonical_json(payload: Mapping[str, Any]) -> bytes:
    """The body that is sent and signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Socialcrm-Signature` value: `v1=` and hex HMAC-SHA256 of `timestamp.body`."""
    signed = timestamp.encode("ascii") + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


class WebhookConnector:
    """POSTs each event to the configured URL, signed with the shared secret."""

    name = "webhook"

    def __init__(
        self,
        settings: WebhookSettings,
        secret: str,
        client: httpx.Client,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._secret = secret
        self._client = client
        self._clock = clock

    def send(self, payload: Mapping[str, Any], key: str) -> None:
        """Deliver `payload`; a 2xx answer is success, anything else raises a `ConnectorError`."""
        body = canonical_json(payload)
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json",
            "X-Socialcrm-Event": str(payload.get("event", "")),
            "X-Socialcrm-Delivery": key,
            "X-Socialcrm-Timestamp": timestamp,
            "X-Socialcrm-Signature": signature(self._secret, timestamp, body),
        }
        where = f"webhook: POST {_without_query(self._settings.url)}"
        response = post(
            self._client,
            self._settings.url,
            where,
            self._settings.timeout_seconds,
            content=body,
            headers=headers,
        )
        raise_for_status(response, where, AUTH_HINT, DEFAULT_RETRY_AFTER)


def _without_query(url: str) -> str:
    # a receiver's URL may carry a token in its query string: keep it out of errors and logs
    return url.split("?", 1)[0]
