"""`GET /api/mentions` (filtered, keyset-paginated) and `GET /api/mentions/{id}`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Final

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from reports import filters, queries
from socialcrm import models
from socialcrm.web.api_auth import Reader
from socialcrm.web.api_models import (
    MAX_ID,
    AuthorOut,
    Intent,
    LabelsOut,
    MentionDetail,
    MentionOut,
    MentionPage,
    ReplyOut,
    Sentiment,
)
from socialcrm.web.api_params import (
    AUTH_ERRORS,
    DEFAULT_LIMIT,
    NO_NUL,
    NOT_FOUND,
    After,
    ItemId,
    Limit,
    Word,
    invalid,
    not_found,
)
from socialcrm.web.deps import db_of

router = APIRouter(tags=["mentions"])
THREAD_LIMIT: Final = 100

Time = Annotated[
    str | None,
    Query(
        max_length=40,
        pattern=NO_NUL,
        description="ISO 8601 (UTC unless it has a zone), a date, or a span back from now: "
        "30m, 24h, 7d, 2w.",
    ),
]
CustomerFilter = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="Mentions by authors linked to this customer.")
]
Search = Annotated[
    str | None,
    Query(
        max_length=filters.MAX_TEXT,
        pattern=NO_NUL,
        description="Full-text search: every word must occur, as a whole word.",
    ),
]


@router.get("/mentions", response_model=MentionPage, responses=AUTH_ERRORS)
def list_mentions(
    request: Request,
    _: Reader,
    source: Word = None,
    query: Annotated[
        str | None,
        Query(max_length=255, pattern=NO_NUL, description='The matched query, e.g. "brand:acme".'),
    ] = None,
    sentiment: Sentiment | None = None,
    intent: Intent | None = None,
    customer_id: CustomerFilter = None,
    since: Time = None,
    until: Time = None,
    q: Search = None,
    limit: Limit = DEFAULT_LIMIT,
    after: After = None,
) -> MentionPage:
    """Mentions matching every filter given, newest first."""
    try:
        wanted = filters.parse(
            source=source,
            query=query,
            sentiment=sentiment,
            intent=intent,
            customer_id=customer_id,
            since=since,
            until=until,
            text=q,
        )
    except (filters.FilterError, OverflowError) as error:
        raise invalid("query", "filters", str(error)) from None
    with db_of(request).transaction() as session:
        page = queries.mention_page(session, wanted, limit, after)
        items = load(session, [row.id for row in page.rows])
    return MentionPage(items=items, next=page.next_after)


@router.get(
    "/mentions/{mention_id}", response_model=MentionDetail, responses=AUTH_ERRORS | NOT_FOUND
)
def get_mention(request: Request, _: Reader, mention_id: ItemId) -> MentionDetail:
    """One mention, the rest of its thread and our replies to it."""
    with db_of(request).transaction() as session:
        found = load(session, [mention_id])
        if not found:
            raise not_found("mention", mention_id)
        mention = found[0]
        return MentionDetail(
            **mention.model_dump(),
            thread=load(session, _thread_ids(session, mention)),
            replies=_replies(session, mention_id),
        )


def load(session: Session, ids: Sequence[int]) -> list[MentionOut]:
    """The mentions with these ids, in that order (missing ones left out)."""
    if not ids:
        return []
    m, a, c, t = models.Mention, models.Author, models.Classification, models.TaskMention
    rows = session.execute(
        select(m, a, c, t.task_id)
        .join(a, a.id == m.author_id)
        .outerjoin(c, c.mention_id == m.id)
        .outerjoin(t, t.mention_id == m.id)
        .where(m.id.in_(list(ids)))
    ).all()
    found = {
        mention.id: _out(mention, author, labels, task_id)
        for mention, author, labels, task_id in rows
    }
    return [found[i] for i in ids if i in found]


def _out(
    mention: models.Mention,
    author: models.Author,
    labels: models.Classification | None,
    task_id: int | None,
) -> MentionOut:
    return MentionOut(
        id=mention.id,
        source=mention.source,
        source_id=mention.source_id,
        text=mention.text,
        title=mention.title,
        url=mention.url,
        lang=mention.lang,
        thread_id=mention.thread_id,
        parent_id=mention.parent_id,
        matched_query=mention.matched_query,
        created_at=mention.created_at,
        collected_at=mention.collected_at,
        edited_at=mention.edited_at,
        deleted_at=mention.deleted_at,
        state=mention.state,
        author=AuthorOut(
            id=author.id,
            source=author.source,
            handle=author.handle,
            display_name=author.display_name,
            url=author.url,
            followers=author.followers,
            customer_id=author.customer_id,
        ),
        labels=None if labels is None else _labels(labels),
        task_id=task_id,
    )


def _labels(labels: models.Classification) -> LabelsOut:
    return LabelsOut(
        sentiment=labels.sentiment,
        sentiment_scores=labels.sentiment_scores,
        intents=labels.intents,
        needs_reply=labels.needs_reply,
        uncertain=labels.uncertain,
        lang=labels.lang,
        model=labels.model,
    )


def _thread_ids(session: Session, mention: MentionOut) -> list[int]:
    """The other mentions of the same thread on the same source, oldest first."""
    if mention.thread_id is None:
        return []
    m = models.Mention
    query = (
        select(m.id)
        .where(m.source == mention.source, m.thread_id == mention.thread_id, m.id != mention.id)
        .order_by(m.created_at, m.id)
        .limit(THREAD_LIMIT)
    )
    return list(session.scalars(query))


def _replies(session: Session, mention_id: int) -> list[ReplyOut]:
    rows = session.scalars(
        select(models.Reply).where(models.Reply.mention_id == mention_id).order_by(models.Reply.id)
    )
    return [
        ReplyOut(
            id=r.id,
            text=r.text,
            state=r.state,
            url=r.url,
            created_at=r.created_at,
            sent_at=r.sent_at,
        )
        for r in rows
    ]
