"""Pulling HubSpot contacts into customer records (httpx.MockTransport, no network)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from typer.testing import CliRunner

from crm_sync.connectors import ConnectorAuthError, RateLimitedError
from crm_sync.hubspot_pull import pull
from socialcrm import models
from socialcrm.cli import app
from socialcrm.db import Database
from socialcrm.settings import CrmSettings, HubSpotSettings, Secrets, Settings
from tests.crm_sync.helpers import author_of, post, save

PAGES = [
    {
        "results": [
            {
                "id": "501",
                "properties": {
                    "email": "Ada@Example.org",
                    "firstname": "Ada",
                    "lastname": "Lovelace",
                    "website": "https://ada.dev",
                    "annualrevenue": "1200",
                },
            },
            {"id": "502", "properties": {"email": "not-an-email", "firstname": "Eve"}},
        ],
        "paging": {"next": {"after": "502"}},
    },
    {"results": [{"id": "503", "properties": {"email": "bob@example.org"}}]},
]


def settings() -> Settings:
    hubspot = HubSpotSettings(enabled=True, pull=True, pull_properties=["annualrevenue"])
    return Settings(
        crm=CrmSettings(hubspot=hubspot), secrets=Secrets(hubspot_token=SecretStr("pat-1"))
    )


def client(answer: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(answer))


def test_contacts_are_read_page_by_page_into_customers(db: Database) -> None:
    asked: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return httpx.Response(200, json=PAGES[1 if "after" in request.url.params else 0])

    save(db, post(1, "ada_m", "mastodon", links=[("https://ada.dev", True)], key="ada_m@m.s"))
    report = pull(db, settings(), client(answer))
    assert [r.url.params.get("after") for r in asked] == [None, "502"]
    assert asked[0].url.path == "/crm/v3/objects/contacts"
    assert asked[0].url.params["properties"] == "email,firstname,lastname,website,annualrevenue"
    assert asked[0].headers["authorization"] == "Bearer pat-1"
    assert (report.created, report.updated) == (2, 0)
    assert report.problems == ["contact 2: 'not-an-email' is not an email address"]
    with db.transaction() as session:
        ada = session.scalars(select(models.Customer).where(models.Customer.crm_id == "501")).one()
        assert (ada.display_name, ada.email, ada.attributes) == (
            "Ada Lovelace",
            "ada@example.org",
            {"annualrevenue": 1200},
        )
    # the verified link to the site HubSpot knows links the Mastodon author
    assert author_of(db, "ada_m").customer_id == ada.id
    assert report.authors_linked == 1
    # the next pull updates in place
    again = pull(db, settings(), client(answer))
    assert (again.created, again.updated) == (0, 2)


@pytest.mark.parametrize(
    ("status", "headers", "error", "says"),
    [
        (401, {}, ConnectorAuthError, "SOCIALCRM_HUBSPOT_TOKEN"),
        (429, {"Retry-After": "7"}, RateLimitedError, "waiting 7 s"),
    ],
)
def test_refusals_are_one_clear_error_and_import_nothing(
    db: Database, status: int, headers: dict[str, str], error: type[Exception], says: str
) -> None:
    body = json.dumps({"message": "no"}).encode()
    answer = lambda _: httpx.Response(status, headers=headers, content=body)  # noqa: E731
    with pytest.raises(error, match=says):
        pull(db, settings(), client(answer))
    with db.transaction() as session:
        assert session.scalars(select(models.Customer)).first() is None


def test_cli_pull_without_hubspot_enabled_is_one_line(write_settings) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(app, ["--config", str(write_settings("")), "crm", "pull"])
    assert result.exit_code == 2
    assert "HubSpot is not enabled" in result.stderr
