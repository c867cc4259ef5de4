"""The REST API against its own OpenAPI schema: schemathesis finds no 500, no undocumented answer.

Every GET endpoint is called with generated valid and invalid parameters and a read token; each
response must be no server error, have a documented status code and content type, and (for
documented statuses) match the response schema. Examples are bounded, drawn the same way every
run (derandomised), so the test stays well under a minute.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from socialcrm import models
from socialcrm.db import Database
from socialcrm.web import api_ingest
from tests.fakes import count_rows
from tests.web.test_api import INGEST_SECRET, api_app, bearer, make_token, seed

EXAMPLES_PER_OPERATION = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_the_schema_documents_every_api_operation_with_exact_models(db: Database) -> None:
    schema = api_app(db).openapi()
    paths = {path for path in schema["paths"] if path.startswith("/api/")}
    assert {"/api/mentions", "/api/customers/{customer_id}", "/api/ingest"} <= paths
    assert "/api/reports/overview" in paths
    for path in paths:
        for method, operation in schema["paths"][path].items():
            ok = operation["responses"].get("200") or operation["responses"]["201"]
            content = ok["content"]["application/json"]["schema"]
            assert "$ref" in content, f"{method} {path} has no typed response model"
            if path != "/api/ingest":
                assert "401" in operation["responses"], f"{method} {path} documents no 401"
    assert schema["components"]["securitySchemes"]["token"]["scheme"] == "bearer"


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_get_endpoint_answers_500(db: Database, mode: GenerationMode) -> None:
    seed(db)
    headers = bearer(make_token(db, "read"))
    app = api_app(db)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app).include(
        method="GET", path_regex="^/api/"
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        _fuzz(operation, mode, lambda case: case.call(headers=headers))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_signed_pushes_of_generated_mentions_never_answer_500(
    db: Database, mode: GenerationMode
) -> None:
    app = api_app(db)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    ingest = schema.include(method="POST", path="/api/ingest")
    (operation,) = [result.ok() for result in ingest.get_all_operations()]
    with TestClient(app, base_url="http://127.0.0.1") as client:

        def call(case: Any) -> Any:
            body = _raw(case.body)
            timestamp = str(int(time.time()))
            signature = api_ingest.sign(INGEST_SECRET.encode(), timestamp, body)
            headers = {
                api_ingest.TIMESTAMP_HEADER: timestamp,
                api_ingest.SIGNATURE_HEADER: signature,
                "Content-Type": "application/json",
            }
            response = client.post("/api/ingest", content=body, headers=headers)
            assert response.status_code in (200, 201, 422), response.text
            return response

        _fuzz(operation, mode, call)
    if mode == GenerationMode.POSITIVE:
        assert count_rows(db, models.Mention) > 0, "no generated mention was stored"


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_queue_action_answers_500(db: Database, mode: GenerationMode) -> None:
    seed(db)
    headers = bearer(make_token(db, "read", "write"))
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", api_app(db)).include(
        method="POST", path_regex="^/api/tasks/"
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 5
    for operation in operations:
        _fuzz(operation, mode, lambda case: case.call(headers=headers))


def _raw(body: Any) -> bytes:
    """The bytes of a generated body: JSON values serialised, raw bytes (negative cases) as is."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str | int | float | bool | list | dict) or body is None:
        return json.dumps(body).encode()
    return b""  # no body at all


def _fuzz(operation: Any, mode: GenerationMode, call: Callable[[Any], Any]) -> None:
    """Send generated cases of one operation through `call` and check each response."""

    @hypothesis_settings(
        max_examples=EXAMPLES_PER_OPERATION,
        suppress_health_check=list(HealthCheck),
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        case.validate_response(call(case), checks=CHECKS)

    check()
