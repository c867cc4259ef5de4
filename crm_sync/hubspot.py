"""HubSpot: contacts upserted by a unique property, a note per mention, GDPR deletes."""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import httpx

from crm_sync.connectors import (
    DeliveryError,
    RejectedError,
    post,
    raise_for_status,
    short_text,
)
from crm_sync.events import CONTACT_FORGET, CONTACT_MENTION, CONTACT_UPSERT
from socialcrm.settings import HubSpotSettings

log = logging.getLogger(__name__)

UPSERT_PATH: Final = "/crm/v3/objects/contacts/batch/upsert"
NOTES_PATH: Final = "/crm/v3/objects/notes"
GDPR_DELETE_PATH: Final = "/crm/v3/objects/contacts/gdpr-delete"
# HubSpot-defined association type "note to contact"
NOTE_TO_CONTACT: Final = 202
# HubSpot sends 429 without Retry-After most of the time; its limits are per 10 seconds
DEFAULT_RETRY_AFTER: Final = 10.0
AUTH_HINT: Final = (
    "set SOCIALCRM_HUBSPOT_TOKEN to a private app token with the scopes "
    "crm.objects.contacts.read and crm.objects.contacts.write"
)
MAX_NOTE_TEXT: Final = 60_000  # hs_note_body holds at most 65,536 characters


class HubSpotConnector:
    """Keeps HubSpot contacts in step: upserts, mention notes and GDPR deletes."""

    name = "hubspot"

    def __init__(self, settings: HubSpotSettings, token: str, client: httpx.Client) -> None:
        self._settings = settings
        self._token = token
        self._client = client

    def send(self, payload: Mapping[str, Any], key: str) -> None:
        """Apply one event to HubSpot; raises a `ConnectorError` when HubSpot says no."""
        event = payload.get("event")
        if event == CONTACT_UPSERT:
            self._upsert(payload)
        elif event == CONTACT_MENTION:
            contact_id = self._upsert(payload)
            if self._settings.notes:
                self._note(payload, contact_id)
        elif event == CONTACT_FORGET:
            self._forget(payload)
        else:
            raise RejectedError(f"hubspot: event {event!r} of {key} is unknown to this connector")

    def _upsert(self, payload: Mapping[str, Any]) -> str:
        """Create or update the contact; return HubSpot's id for it."""
        contact = payload.get("contact") or {}
        value = self._id_value(contact)
        if value is None:
            raise RejectedError(
                f"hubspot: contact has no {self._id_source()} to upsert by "
                f'(crm.hubspot.id_property = "{self._settings.id_property}"): '
                "add it to the customer, or upsert by another property"
            )
        properties = contact_properties(contact, payload.get("profile") or {})
        item = {"idProperty": self._settings.id_property, "id": value, "properties": properties}
        return _contact_id(self._post(UPSERT_PATH, {"inputs": [item]}))

    def _note(self, payload: Mapping[str, Any], contact_id: str) -> None:
        mention = payload.get("mention") or {}
        note = {
            "properties": {
                "hs_timestamp": _millis(mention.get("created_at"))
                or _millis(payload.get("occurred_at"))
                or _millis(datetime.now(UTC).isoformat()),
                "hs_note_body": note_body(mention),
            },
            "associations": [
                {
                    "to": {"id": contact_id},
                    "types": [
                        {
                            "associationCategory": "HUBSPOT_DEFINED",
                            "associationTypeId": NOTE_TO_CONTACT,
                        }
                    ],
                }
            ],
        }
        self._post(NOTES_PATH, note)

    def _forget(self, payload: Mapping[str, Any]) -> None:
        value = self._id_value(payload.get("contact") or {})
        if value is None:
            # without the id value the contact was never upserted, so HubSpot holds nothing
            log.info("hubspot: nothing to erase for %s: it was never pushed", payload.get("id"))
            return
        body = {"objectId": value, "idProperty": self._settings.id_property}
        self._post(GDPR_DELETE_PATH, body, gone_is_fine=True)

    def _id_value(self, contact: Mapping[str, Any]) -> str | None:
        field = "email" if self._settings.id_property == "email" else "crm_id"
        value = contact.get(field)
        return str(value) if value not in (None, "") else None

    def _id_source(self) -> str:
        return "email" if self._settings.id_property == "email" else "CRM id (crm_id)"

    def _post(self, path: str, body: Any, gone_is_fine: bool = False) -> httpx.Response:
        url = self._settings.api_url.rstrip("/") + path
        where = f"hubspot: POST {path}"
        response = post(
            self._client,
            url,
            where,
            self._settings.timeout_seconds,
            json=body,
            headers={"Authorization": f"Bearer {self._token}"},
        )
        if gone_is_fine and response.status_code == 404:
            return response
        raise_for_status(response, where, AUTH_HINT, DEFAULT_RETRY_AFTER, detail=error_message)
        return response


def _contact_id(response: httpx.Response) -> str:
    """HubSpot's id of the contact a batch upsert of one created or updated."""
    try:
        body = response.json()
    except ValueError:
        # a 2xx that is not JSON comes from something between us and HubSpot
        raise DeliveryError(f"hubspot: {UPSERT_PATH} answered without JSON") from None
    try:
        return str(body["results"][0]["id"])
    except (KeyError, IndexError, TypeError):
        said = _message(body) or short_text(response)
        raise RejectedError(f"hubspot: {UPSERT_PATH} upserted nothing: {said}") from None


def contact_properties(contact: Mapping[str, Any], profile: Mapping[str, Any]) -> dict[str, str]:
    """HubSpot contact properties from an event's contact and profile; unknowns are left out."""
    first, _, last = str(contact.get("name") or "").strip().partition(" ")
    values: dict[str, Any] = {
        "email": contact.get("email"),
        "firstname": first or None,
        "lastname": last.strip() or None,
        "socialcrm_sentiment": _dominant(profile.get("sentiment")),
        "socialcrm_sentiment_score": _field(profile.get("trend"), "recent_mean"),
        "socialcrm_engagement_score": _field(profile.get("engagement"), "score"),
        "socialcrm_segment": _field(profile.get("value"), "segment"),
        "socialcrm_churn_risk": profile.get("churn_risk"),
        "socialcrm_last_mention_at": _millis(profile.get("last_mention_at")),
    }
    return {name: _text(value) for name, value in values.items() if value not in (None, "")}


def _field(section: Any, key: str) -> Any:
    return section.get(key) if isinstance(section, Mapping) else None


def _millis(moment: Any) -> str | None:
    """An ISO time as epoch milliseconds, the form HubSpot's date-time properties always take."""
    if not moment:
        return None
    try:
        parsed = datetime.fromisoformat(str(moment))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return str(int(parsed.timestamp() * 1000))


def _dominant(counts: Any) -> str | None:
    """The sentiment most of the contact's labelled mentions had."""
    if not isinstance(counts, Mapping):
        return None
    labelled = {label: n for label, n in counts.items() if label != "unlabelled" and n}
    return str(max(labelled, key=lambda label: labelled[label])) if labelled else None


def _text(value: Any) -> str:
    # HubSpot takes every property value as a string; booleans are "true"/"false"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def note_body(mention: Mapping[str, Any]) -> str:
    """The note's HTML: where and what was said, and how it was classified; all text escaped."""
    source = html.escape(str(mention.get("source") or "a source"))
    url = str(mention.get("url") or "")
    title = html.escape(str(mention.get("title") or url or "mention"))
    # only web links: a hostile post could carry a javascript: URL
    linked = url.startswith(("https://", "http://"))
    where = f'<a href="{html.escape(url)}">{title}</a>' if linked else title
    text = html.escape(str(mention.get("text") or "")[:MAX_NOTE_TEXT]).replace("\n", "<br>")
    intents = mention.get("intents") or {}
    ranked = sorted(intents.items(), key=lambda item: item[1], reverse=True)[:3]
    labels = ", ".join(f"{html.escape(str(name))} {float(p):.2f}" for name, p in ranked)
    sentiment = html.escape(str(mention.get("sentiment") or "unknown"))
    return (
        f"<p><strong>Mention on {source}</strong>: {where}</p>"
        f"<p>{text}</p>"
        f"<p>Sentiment: {sentiment}; intents: {labels or 'none'}</p>"
    )


def error_message(response: httpx.Response) -> str:
    """HubSpot's own explanation (the JSON `message`), else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return short_text(response)
    return _message(body) or short_text(response)


def _message(body: Any) -> str:
    if not isinstance(body, Mapping):
        return ""
    errors = body.get("errors")
    first = errors[0] if isinstance(errors, list) and errors else {}
    message = body.get("message") or (first.get("message") if isinstance(first, Mapping) else "")
    return " ".join(str(message or "").split())[:300]
