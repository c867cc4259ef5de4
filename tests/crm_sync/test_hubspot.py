"""HubSpot: request paths, bodies and auth against a mock transport; errors by who must act."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from crm_sync import events
from crm_sync.connectors import (
    ConnectorAuthError,
    DeliveryError,
    RateLimitedError,
    RejectedError,
)
from crm_sync.hubspot import HubSpotConnector
from socialcrm.settings import HubSpotSettings

TOKEN = "pat-eu1-00000000-test-token"
AT = datetime(2027, 1, 15, 9, 30, tzinfo=UTC)
ADA = {
    "customer_id": 1,
    "crm_id": "C-1",
    "email": "ada@example.com",
    "name": "Ada Lovelace",
    "identities": [{"kind": "reddit", "value": "ada"}],
}
PROFILE = {
    "sentiment": {"positive": 1, "negative": 4, "neutral": 2, "unlabelled": 9},
    "trend": {"recent_mean": -0.5, "previous_mean": 0.25, "change": -0.75},
    "engagement": {"score": 12.34567, "half_life_days": 30},
    "value": {"field": "revenue", "amount": 1200.0, "segment": "A"},
    "churn_risk": True,
    "last_mention_at": "2027-01-14T08:00:00+00:00",
}
MENTION = {
    "source": "reddit",
    "source_id": "t3_x",
    "url": "https://reddit.com/r/x/comments/1",
    "title": "Is it <b>any</b> good?",
    "text": "I'd buy it <script>alert(1)</script>\nif it had SSO",
    "created_at": "2027-01-15T09:00:00+00:00",
    "sentiment": "neutral",
    "intents": {"purchase_intent": 0.91, "question": 0.6, "complaint": 0.01, "praise": 0.02},
    "needs_reply": 0.8,
}

Answer = Callable[[httpx.Request], httpx.Response]


class FakeHubSpot:
    """Records requests; answers from a script per path, else a plausible success."""

    def __init__(self, **by_path: list[httpx.Response]) -> None:
        self.requests: list[httpx.Request] = []
        self.script = dict(by_path)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answers = self.script.get(request.url.path.strip("/"))
        if answers:
            return answers.pop(0)
        if request.url.path.endswith("/batch/upsert"):
            return httpx.Response(200, json={"status": "COMPLETE", "results": [{"id": "501"}]})
        if request.url.path.endswith("/gdpr-delete"):
            return httpx.Response(204)
        return httpx.Response(201, json={"id": "9001"})

    def bodies(self) -> list[tuple[str, Any]]:
        return [(r.url.path, json.loads(r.content)) for r in self.requests]


def hubspot(fake: FakeHubSpot, **settings: Any) -> HubSpotConnector:
    client = httpx.Client(transport=httpx.MockTransport(fake))
    return HubSpotConnector(HubSpotSettings(enabled=True, **settings), TOKEN, client)


UPSERT = "crm/v3/objects/contacts/batch/upsert"


def error(status: int, message: str, **headers: str) -> httpx.Response:
    body = {"status": "error", "message": message, "correlationId": "c0ffee", "category": "X"}
    return httpx.Response(status, json=body, headers=headers)


def test_upsert_sends_the_contact_and_profile_by_email_with_the_token() -> None:
    fake = FakeHubSpot()
    payload = events.envelope(events.CONTACT_UPSERT, "u1", AT, ADA, profile=PROFILE)
    hubspot(fake, api_url="https://api.example.test/").send(payload, "u1")
    (request,) = fake.requests
    assert str(request.url) == f"https://api.example.test/{UPSERT}"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.content) == {
        "inputs": [
            {
                "idProperty": "email",
                "id": "ada@example.com",
                "properties": {
                    "email": "ada@example.com",
                    "firstname": "Ada",
                    "lastname": "Lovelace",
                    "socialcrm_sentiment": "negative",
                    "socialcrm_sentiment_score": "-0.5",
                    "socialcrm_engagement_score": "12.35",
                    "socialcrm_segment": "A",
                    "socialcrm_churn_risk": "true",
                    "socialcrm_last_mention_at": "1799913600000",
                },
            }
        ]
    }


def test_a_custom_id_property_upserts_by_the_crm_id() -> None:
    fake = FakeHubSpot()
    payload = events.envelope(events.CONTACT_UPSERT, "u1", AT, {**ADA, "email": None})
    hubspot(fake, id_property="customer_number").send(payload, "u1")
    (item,) = fake.bodies()[0][1]["inputs"]
    assert (item["idProperty"], item["id"]) == ("customer_number", "C-1")
    assert "email" not in item["properties"]


def test_a_contact_without_the_id_value_is_rejected_saying_so() -> None:
    fake = FakeHubSpot()
    payload = events.envelope(events.CONTACT_MENTION, "m1", AT, {**ADA, "email": None})
    with pytest.raises(RejectedError) as raised:
        hubspot(fake).send({**payload, "mention": MENTION}, "m1")
    assert "contact has no email to upsert by" in str(raised.value)
    assert fake.requests == []


def test_a_mention_upserts_then_notes_on_that_contact_with_escaped_text() -> None:
    fake = FakeHubSpot()
    payload = events.envelope(events.CONTACT_MENTION, "m1", AT, ADA, mention=MENTION)
    hubspot(fake).send(payload, "m1")
    (upsert_path, _), (note_path, note) = fake.bodies()
    assert (upsert_path, note_path) == (f"/{UPSERT}", "/crm/v3/objects/notes")
    assert note["associations"] == [
        {
            "to": {"id": "501"},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}],
        }
    ]
    assert note["properties"]["hs_timestamp"] == "1800003600000"
    body = note["properties"]["hs_note_body"]
    assert "<script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;<br>if it had SSO" in body
    assert (
        '<a href="https://reddit.com/r/x/comments/1">Is it &lt;b&gt;any&lt;/b&gt; good?</a>' in body
    )
    assert "Sentiment: neutral; intents: purchase_intent 0.91, question 0.60, praise 0.02" in body


def test_a_hostile_link_is_not_linked() -> None:
    fake = FakeHubSpot()
    evil = {**MENTION, "url": "javascript:alert(1)", "title": None}
    hubspot(fake).send(events.envelope(events.CONTACT_MENTION, "m", AT, ADA, mention=evil), "m")
    assert "href" not in fake.bodies()[1][1]["properties"]["hs_note_body"]


def test_notes_switched_off_only_upsert() -> None:
    fake = FakeHubSpot()
    payload = events.envelope(events.CONTACT_MENTION, "m1", AT, ADA, mention=MENTION)
    hubspot(fake, notes=False).send(payload, "m1")
    assert [path for path, _ in fake.bodies()] == [f"/{UPSERT}"]


def test_forget_is_a_gdpr_delete_and_a_404_means_already_gone() -> None:
    fake = FakeHubSpot(**{"crm/v3/objects/contacts/gdpr-delete": [httpx.Response(404)]})
    forget = events.envelope(events.CONTACT_FORGET, "f1", AT, {**ADA, "name": None})
    connector = hubspot(fake)
    connector.send(forget, "f1")  # 404: nothing left to erase
    connector.send(forget, "f1")  # 204
    assert (
        fake.bodies()
        == [
            (
                "/crm/v3/objects/contacts/gdpr-delete",
                {"objectId": "ada@example.com", "idProperty": "email"},
            )
        ]
        * 2
    )


def test_forget_of_a_contact_never_pushed_asks_nothing() -> None:
    fake = FakeHubSpot()
    forget = events.envelope(events.CONTACT_FORGET, "f1", AT, {**ADA, "email": None})
    hubspot(fake).send(forget, "f1")
    assert fake.requests == []


@pytest.mark.parametrize(
    ("answer", "kind", "words"),
    [
        (error(429, "You have reached your secondly limit.", **{"Retry-After": "7"}),
         RateLimitedError, "waiting 7 s"),
        (error(429, "You have reached your secondly limit."), RateLimitedError, "waiting 10 s"),
        (httpx.Response(502, text="<html>Bad gateway</html>"), DeliveryError, "HTTP 502"),
        (error(401, "Authentication credentials not found."), ConnectorAuthError,
         "set SOCIALCRM_HUBSPOT_TOKEN"),
        (error(403, "This app hasn't been granted all required scopes."), ConnectorAuthError,
         "crm.objects.contacts.write"),
        (error(400, 'Property "socialcrm_segment" does not exist'), RejectedError,
         'rejected the message (HTTP 400): Property "socialcrm_segment" does not exist'),
    ],
)  # fmt: skip
def test_errors_are_one_line_saying_who_must_act(
    answer: httpx.Response, kind: type[Exception], words: str
) -> None:
    fake = FakeHubSpot(**{UPSERT: [answer]})
    with pytest.raises(kind) as raised:
        hubspot(fake).send(events.envelope(events.CONTACT_UPSERT, "u", AT, ADA), "u")
    message = str(raised.value)
    assert type(raised.value) is kind
    assert words in message
    assert message.startswith(f"hubspot: POST /{UPSERT}")
    assert "\n" not in message
    assert TOKEN not in message


def test_retry_after_is_carried_on_the_error() -> None:
    fake = FakeHubSpot(
        **{UPSERT: [error(429, "slow down", **{"Retry-After": "7"}), error(429, "x")]}
    )
    connector = hubspot(fake)
    waits = []
    for _ in range(2):
        with pytest.raises(RateLimitedError) as raised:
            connector.send(events.envelope(events.CONTACT_UPSERT, "u", AT, ADA), "u")
        waits.append(raised.value.retry_after)
    assert waits == [7, 10]


def test_a_failed_note_fails_the_delivery() -> None:
    fake = FakeHubSpot(**{"crm/v3/objects/notes": [httpx.Response(503)]})
    payload = events.envelope(events.CONTACT_MENTION, "m1", AT, ADA, mention=MENTION)
    with pytest.raises(DeliveryError):
        hubspot(fake).send(payload, "m1")


def test_an_upsert_with_errors_and_no_result_is_rejected_with_hubspots_reason() -> None:
    partial = httpx.Response(
        207, json={"status": "COMPLETE", "results": [], "errors": [{"message": "Email invalid"}]}
    )
    fake = FakeHubSpot(**{UPSERT: [partial]})
    with pytest.raises(RejectedError) as raised:
        hubspot(fake).send(events.envelope(events.CONTACT_UPSERT, "u", AT, ADA), "u")
    assert "Email invalid" in str(raised.value)


def test_an_unknown_event_is_rejected() -> None:
    with pytest.raises(RejectedError) as raised:
        hubspot(FakeHubSpot()).send({"event": "contact.merge", "id": "x"}, "x")
    assert "'contact.merge'" in str(raised.value)
