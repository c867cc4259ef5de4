"""HubSpot contacts into customer records: the CRM keeps socialcrm in step, not only the reverse."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any, Final

import httpx

from crm_sync.connectors import DeliveryError, raise_for_status
from crm_sync.customer_import import ImportReport, import_records
from crm_sync.hubspot import AUTH_HINT, DEFAULT_RETRY_AFTER, error_message
from crm_sync.stage import link_known_authors
from socialcrm.db import Database
from socialcrm.settings import Settings

log = logging.getLogger(__name__)

CONTACTS_PATH: Final = "/crm/v3/objects/contacts"
PAGE: Final = 100  # the most HubSpot serves per page
# HubSpot property -> import column (docs/crm.md, "Importing customers")
STANDARD: Final = {
    "email": "email",
    "firstname": "first_name",
    "lastname": "last_name",
    "website": "website",
}
ACTOR: Final = "hubspot"


def contacts(
    client: httpx.Client, api_url: str, token: str, properties: list[str], timeout: float
) -> Iterator[list[dict[str, Any]]]:
    """Every contact, a page at a time, with the given properties."""
    where = f"hubspot: GET {CONTACTS_PATH}"
    params: dict[str, Any] = {"limit": PAGE, "properties": ",".join(properties)}
    while True:
        try:
            response = client.get(
                api_url.rstrip("/") + CONTACTS_PATH,
                params=params,
                headers={"Authorization": f"Bearer {token}"},
                timeout=timeout,
            )
        except httpx.HTTPError as error:
            raise DeliveryError(f"{where} cannot be reached: {error}") from error
        raise_for_status(response, where, AUTH_HINT, DEFAULT_RETRY_AFTER, detail=error_message)
        try:
            body = response.json()
        except ValueError as error:
            raise DeliveryError(f"{where} answered with something that is not JSON") from error
        yield [c for c in body.get("results", []) if isinstance(c, dict)]
        after = ((body.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            return
        params["after"] = after


def as_record(contact: Mapping[str, Any], extra: list[str]) -> dict[str, Any]:
    """A contact as a customer record: HubSpot's record id is the CRM id."""
    found = contact.get("properties") or {}
    record: dict[str, Any] = {"crm_id": str(contact.get("id", ""))}
    record |= {column: found.get(name) for name, column in STANDARD.items()}
    record |= {name: found.get(name) for name in extra}
    return {k: v for k, v in record.items() if v not in (None, "")}


def pull(db: Database, settings: Settings, client: httpx.Client) -> ImportReport:
    """Import every HubSpot contact, a committed page at a time, then link known authors."""
    hubspot = settings.crm.hubspot
    token = settings.secrets.hubspot_token
    if token is None:
        raise DeliveryError("hubspot: set SOCIALCRM_HUBSPOT_TOKEN to pull contacts")
    properties = [*STANDARD, *hubspot.pull_properties]
    total, seen = ImportReport(), 0
    pages = contacts(
        client, hubspot.api_url, token.get_secret_value(), properties, hubspot.timeout_seconds
    )
    for page in pages:  # no transaction is open while HubSpot is asked for the next page
        rows = [(seen + n, as_record(c, hubspot.pull_properties)) for n, c in enumerate(page, 1)]
        seen += len(page)
        with db.transaction() as session:
            report = import_records(session, rows, ACTOR)
        total.created += report.created
        total.updated += report.updated
        total.identities_added += report.identities_added
        total.problems += [f"contact {p.removeprefix('line ')}" for p in report.problems]
    with db.transaction() as session:
        total.authors_linked = link_known_authors(session, settings.crm, ACTOR).linked
    log.info(
        "hubspot: %d contacts: %d new, %d updated, %d problems",
        seen,
        total.created,
        total.updated,
        len(total.problems),
    )
    return total
