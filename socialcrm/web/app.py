"""The ASGI application: the dashboard's pages and the REST API over one database."""

from __future__ import annotations

from fastapi import FastAPI

from socialcrm.db import Database
from socialcrm.settings import Settings


def create_app(settings: Settings, db: Database) -> FastAPI:
    """The app for these settings and database (nothing is started).

    The OpenAPI schema is served at /api/openapi.json; no docs page, as FastAPI's loads a CDN.
    """
    # imported here: the routers import the stages, which the app factory's callers need not
    from socialcrm.web import api, pages

    app = FastAPI(
        title="socialcrm",
        summary="Mentions, customers, the work queue and reports of a socialcrm deployment.",
        version="1",
        # FastAPI's interactive docs load Swagger UI from a CDN: nothing here may; the schema
        # (/api/openapi.json) opens in any OpenAPI viewer
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.db = db
    app.include_router(api.router)
    pages.install(app)
    return app
