"""Mentions: a filtered, searchable list with keyset pages, its CSV export, and one mention."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
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
from socialcrm.web.pages_common import ANYONE, Cursor, PageId, People, render
from socialcrm.web.pages_queue import task_context

router = APIRouter(include_in_schema=False)
PAGE: Final = 50
EXPORT_BATCH: Final = 1000
MAX_EXPORT: Final = 100_000
THREAD_LIMIT: Final = 50
# a spreadsheet runs a cell that starts with one of these as a formula (CSV injection)
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
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
    """The filtered list as CSV (the first MAX_EXPORT rows), safe to open in a spreadsheet."""
    try:
        wanted = filters.parsed(who)
    except FilterError as problem:
        raise HTTPException(400, str(problem)) from None
    people = People(request, who)
    lines = _csv_lines(request, wanted, people)
    headers = {"Content-Disposition": 'attachment; filename="mentions.csv"'}
    return StreamingResponse(lines, media_type="text/csv; charset=utf-8", headers=headers)


CSV_COLUMNS: Final = (
    "id", "created_at", "source", "query", "author", "author_name", "followers", "customer_id",
    "sentiment", "uncertain", "intents", "needs_reply", "title", "text", "url",
)  # fmt: skip


def _csv_lines(request: Request, wanted: MentionFilter, people: People) -> Iterator[str]:
    """The CSV a batch at a time, each batch read in its own short transaction."""
    db = db_of(request)
    yield _csv_row(CSV_COLUMNS)
    after, written = None, 0
    while written < MAX_EXPORT:
        with db.transaction() as session:
            page = queries.mention_page(session, wanted, EXPORT_BATCH, after)
        rows = page.rows[: MAX_EXPORT - written]
        yield "".join(_csv_row(_csv_values(_shown(row, people))) for row in rows)
        written += len(rows)
        if page.next_after is None:
            return
        after = page.next_after


def _csv_values(row: dict[str, Any]) -> list[Any]:
    values = dict(row, intents=" ".join(row["intents"]), created_at=row["created_at"].isoformat())
    return [values[column] for column in CSV_COLUMNS]


def _csv_row(values: Any) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([csv_cell(value) for value in values])
    return buffer.getvalue()


def csv_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text: a leading = + - @ tab or CR gets a `'` first."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


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
