"""Mentions: a filtered, searchable list with keyset pages, its CSV export, and one mention."""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from engagement import queue, views
from nlp.labels import INTENTS, SENTIMENTS
from reports import queries
from reports.filters import INTENT_THRESHOLD, UNLABELLED, FilterError, MentionFilter, parse
from socialcrm import models
from socialcrm.settings import Settings
from socialcrm.web.auth import Viewer
from socialcrm.web.deps import db_of, settings_of
from socialcrm.web.pages_common import (
    ANYONE,
    CsvBatch,
    Cursor,
    PageId,
    People,
    csv_download,
    render,
)
from socialcrm.web.pages_queue import task_context

router = APIRouter(include_in_schema=False)
PAGE: Final = 50
EXPORT_BATCH: Final = queries.MAX_LIMIT
THREAD_LIMIT: Final = 50
Anyone = Annotated[Viewer, Depends(ANYONE)]


class Filters:
    """The list's query parameters, as the filter form sends them."""

    def __init__(
        self,
        source: str = "",
        query: str = "",
        sentiment: str = "",
        intent: str = "",
        customer: str = "",
        since: str = "",
        until: str = "",
        q: Annotated[str, Query(max_length=1000)] = "",
    ) -> None:
        self.form = {
            "source": source,
            "query": query,
            "sentiment": sentiment,
            "intent": intent,
            "customer": customer,
            "since": since,
            "until": until,
            "q": q,
        }

    def parsed(self, who: Viewer) -> MentionFilter:
        """The filter; analysts cannot narrow by customer (it would tell who is whose)."""
        form = self.form
        return parse(
            source=form["source"],
            query=form["query"],
            sentiment=form["sentiment"],
            intent=form["intent"],
            customer_id=form["customer"] if who.works_queue else None,
            since=form["since"],
            until=form["until"],
            text=form["q"],
        )


@router.get("/mentions", response_class=HTMLResponse)
def mentions_page(
    request: Request, who: Anyone, filters: Annotated[Filters, Depends()], after: Cursor = 0
) -> Response:
    """Mentions matching the filters, newest first, a page at a time."""
    people = People(request, who)
    error, page = None, queries.Page([], None)
    try:
        wanted = filters.parsed(who)
    except FilterError as problem:
        error = str(problem)
    else:
        with db_of(request).transaction() as session:
            page = queries.mention_page(session, wanted, PAGE, after or None)
    context = {
        "filters": filters.form,
        "error": error,
        "rows": [_shown(row, people) for row in page.rows],
        "next": page.next_after,
        "choices": _choices(settings_of(request)),
    }
    return render(request, "mentions.html", context, status_code=400 if error else 200)


def _choices(settings: Settings) -> dict[str, Any]:
    terms = [f"brand:{t}" for t in settings.watch.brand]
    terms += [f"competitor:{t}" for t in settings.watch.competitors]
    return {
        "sources": sorted(type(settings.sources).model_fields),
        "queries": terms,
        "sentiments": [*SENTIMENTS, UNLABELLED],
        "intents": list(INTENTS),
    }


def _shown(row: queries.MentionRow, people: People) -> dict[str, Any]:
    """A row as this viewer may see it: authors pseudonymised and links dropped for analysts."""
    return {
        "id": row.id,
        "source": row.source,
        "created_at": row.created_at,
        "text": row.text,
        "title": row.title,
        "url": people.plain(row.url),
        "query": row.matched_query,
        "author": people.handle(row.author_handle),
        "author_name": people.plain(row.author_name),
        "followers": row.followers,
        "customer_id": None if people.hidden else row.customer_id,
        "sentiment": row.sentiment or UNLABELLED,
        "uncertain": bool(row.uncertain),
        "needs_reply": row.needs_reply,
        "intents": [name for name, p in row.intents.items() if p >= INTENT_THRESHOLD],
    }


@router.get("/mentions.csv")
def mentions_csv(request: Request, who: Anyone, filters: Annotated[Filters, Depends()]) -> Response:
    """The whole filtered list as CSV, streamed a batch at a time, safe to open in a spreadsheet."""
    try:
        wanted = filters.parsed(who)
    except FilterError as problem:
        raise HTTPException(400, str(problem)) from None
    people = People(request, who)

    def fetch(session: Session, after: int | None) -> CsvBatch[int]:
        page = queries.mention_page(session, wanted, EXPORT_BATCH, after)
        return [_csv_values(_shown(row, people)) for row in page.rows], page.next_after

    return csv_download(request, "mentions.csv", CSV_COLUMNS, fetch)


CSV_COLUMNS: Final = (
    "id", "created_at", "source", "query", "author", "author_name", "followers", "customer_id",
    "sentiment", "uncertain", "intents", "needs_reply", "title", "text", "url",
)  # fmt: skip


def _csv_values(row: dict[str, Any]) -> list[Any]:
    values = dict(row, intents=" ".join(row["intents"]))
    return [values[column] for column in CSV_COLUMNS]


@router.get("/mentions/{mention_id}", response_class=HTMLResponse)
def mention_page(request: Request, mention_id: PageId, who: Anyone) -> Response:
    """One mention: the post, its author and labels, its thread, and its task's actions."""
    people = People(request, who)
    settings = settings_of(request)
    with db_of(request).transaction() as session:
        row = queries.mention_by_id(session, mention_id)
        if row is None:
            raise HTTPException(404, f"there is no mention #{mention_id}")
        context: dict[str, Any] = {
            "mention": _shown(row, people),
            "thread": [_shown(r, people) for r in _thread(session, row)],
            # why routing did what it did may name a customer: for staff only
            "decision": session.get(models.RouteDecision, mention_id) if who.works_queue else None,
            "task": None,
        }
        task_id = _task_of(session, mention_id) if who.works_queue else None
        view = views.task_view(session, task_id, settings) if task_id is not None else None
        if view is not None:
            context |= task_context(session, view, who)
    if view is not None:
        templates = settings.engagement.templates
        context["suggested"] = queue.suggested_reply(db_of(request), view.task_id, templates)
    return render(request, "mention.html", context)


def _task_of(session: Session, mention_id: int) -> int | None:
    query = select(models.TaskMention.task_id).where(models.TaskMention.mention_id == mention_id)
    return session.scalar(query)


def _thread(session: Session, row: queries.MentionRow) -> list[queries.MentionRow]:
    """The other mentions of the same thread on the same source, oldest first (bounded)."""
    thread_id = session.scalar(select(models.Mention.thread_id).where(models.Mention.id == row.id))
    if thread_id is None:
        return []
    ids = session.scalars(
        select(models.Mention.id)
        .where(models.Mention.source == row.source, models.Mention.thread_id == thread_id)
        .order_by(models.Mention.created_at, models.Mention.id)
        .limit(THREAD_LIMIT)
    ).all()
    found = (queries.mention_by_id(session, i) for i in ids if i != row.id)
    return [r for r in found if r is not None]
