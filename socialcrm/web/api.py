"""The REST API under /api: mentions, customers, tasks, reports (bearer tokens) and ingestion.

Every endpoint but `POST /api/ingest` (HMAC-signed instead) needs `Authorization: Bearer
<token>`: reading needs the `read` scope, queue actions `write` (socialcrm.web.tokens).
"""

from __future__ import annotations

from fastapi import APIRouter

from socialcrm.web import api_customers, api_ingest, api_mentions, api_reports, api_tasks

router = APIRouter(prefix="/api")
for _part in (api_mentions, api_customers, api_tasks, api_reports, api_ingest):
    router.include_router(_part.router)
