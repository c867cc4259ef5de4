"""The ASGI application: the dashboard's pages and the REST API over one database."""

from __future__ import annotations

from fastapi import FastAPI

from socialcrm.db import Database
from socialcrm.settings import Settings


def create_app(settings: Settings, db: Database) -> FastAPI:
    """The app for these settings and database (nothing is started)."""
    # imported here: the routers import the stages, which the app factory's callers need not
    from socialcrm.web import api, pages

    app = FastAPI(
        title="socialcrm",
        summary="Mentions, customers, the work queue and reports of a socialcrm deployment.",
        version="1",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.db = db
    app.include_router(api.router)
    pages.install(app)
    return app
