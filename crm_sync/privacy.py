"""Data protection: find a person, export everything held about them, forget them."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    ColumnExpressionArgument,
    CursorResult,
    Select,
    String,
    Text,
    and_,
    cast,
    delete,
    false,
    func,
    or_,
    select,
    update,
)
from sqlalchemy import inspect as inspect_model
from sqlalchemy.orm import Session

from crm_sync import events, identities, outbox
from crm_sync.customers import identities_of
from socialcrm import models
from socialcrm.mention import utcnow
from socialcrm.pseudonym import keyed_hash

log = logging.getLogger(__name__)

EXPORT_SCHEMA: Final = "socialcrm.export/1"
FORGOTTEN: Final = "person.forgotten"
_CUSTOMER_REF: Final = re.compile(r"(?:customer:)?(\d+)")
# shorter names match too much free text to be erased by: their rows go by key only
MIN_TERM: Final = 3

Model = type[models.Base]
Texts = tuple[ColumnExpressionArgument[Any], ...]
# tables that record a person without a key to them: their rows are found by their text
SCANNED: Final[dict[Model, Texts]] = {
    # (the subject is matched by key in `_scope`: a bare number in subject_id is anyone's id)
    models.AuditEntry: (models.AuditEntry.before, models.AuditEntry.after),
    models.QuarantinedItem: (
        models.QuarantinedItem.payload,
        models.QuarantinedItem.locator,
        models.QuarantinedItem.reason,
    ),
    models.CustomerHistory: (models.CustomerHistory.data,),
    models.LinkSuggestion: (models.LinkSuggestion.evidence,),
    # whom a message is about; its body may quote posts by others that mention the person
    models.OutboxMessage: (models.OutboxMessage.payload["contact"],),
    models.TaskNote: (models.TaskNote.text,),
}


class PersonError(LookupError):
    """A reference that names nobody, or more than one person; the message says which."""


@dataclass(frozen=True, slots=True)
class Person:
    """Whom a reference names: customer records (merged ones included) and platform authors."""

    label: str
    customer_ids: tuple[int, ...] = ()
    author_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What forgetting a person erased, per table, and how many CRM messages were queued."""

    counts: Mapping[str, int]
    crm_messages: int


def find_person(session: Session, ref: str, pseudonym_key: bytes | None = None) -> Person:
    """The person `ref` names: `42` or `customer:42`, `source:handle`, or a bare handle/email.

    An author linked to a customer (or named by one of its identities) stands for that customer.
    """
    ref = ref.strip()
    if match := _CUSTOMER_REF.fullmatch(ref):
        return _customer_person(session, int(match[1]))
    prefix, colon, rest = ref.partition(":")
    kind = prefix.lower() if colon and prefix.lower() in _kinds(session) else None
    value = rest if kind is not None else ref
    found = _candidates(session, kind, value, pseudonym_key)
    if not found:
        raise PersonError(
            f"nobody is known as {ref!r}: give a customer id, customer:ID or source:handle"
        )
    if len(found) > 1:
        raise PersonError(f"{ref!r} names {len(found)} people: {', '.join(sorted(found))}")
    return next(iter(found.values()))


def _kinds(session: Session) -> set[str]:
    sources = session.scalars(select(models.Author.source).distinct())
    kinds = session.scalars(select(models.Identity.kind).distinct())
    return {*identities.KINDS, *sources, *kinds}


def _candidates(
    session: Session, kind: str | None, value: str, pseudonym_key: bytes | None
) -> dict[str, Person]:
    spellings = {value, value.removeprefix("@")}
    if pseudonym_key is not None:
        spellings |= {keyed_hash(s, pseudonym_key) for s in spellings}
    query = select(models.Author).where(
        or_(
            func.lower(models.Author.handle).in_({s.lower() for s in spellings}),
            models.Author.key.in_(spellings),
        )
    )
    if kind is not None:
        query = query.where(models.Author.source == kind)
    people: dict[str, Person] = {}
    unlinked: dict[str, list[int]] = {}
    for author in session.scalars(query.order_by(models.Author.id)):
        owner = author.customer_id or _identity_owner(session, author)
        if owner is None:
            unlinked.setdefault(f"{author.source}:{author.handle.lower()}", []).append(author.id)
        else:
            person = _customer_person(session, owner)
            people[person.label] = person
    people.update({label: Person(label, (), tuple(ids)) for label, ids in unlinked.items()})
    for customer_id in _customers_named(session, kind, spellings):
        person = _customer_person(session, customer_id)
        people[person.label] = person
    return people


def _identity_owner(session: Session, author: models.Author) -> int | None:
    """The customer one of whose identities is this author, if any."""
    pairs = identities.of_author(author.source, author.handle, author.key)
    if not pairs:
        return None
    named = or_(*(and_(models.Identity.kind == k, models.Identity.value == v) for k, v in pairs))
    return session.scalars(select(models.Identity.customer_id).where(named).limit(1)).first()


def _customers_named(session: Session, kind: str | None, spellings: Iterable[str]) -> set[int]:
    values = {v for s in spellings for v in _identity_values(kind, s)}
    query = select(models.Identity.customer_id).where(models.Identity.value.in_(values))
    if kind is not None:
        return set(session.scalars(query.where(models.Identity.kind == kind)))
    by_record = select(models.Customer.id).where(
        or_(models.Customer.email.in_(values), models.Customer.crm_id.in_(values))
    )
    return set(session.scalars(query)) | set(session.scalars(by_record))


def _identity_values(kind: str | None, spelling: str) -> set[str]:
    """How `spelling` may be stored as an identity: normalised when its kind is known."""
    if kind is None:
        return {spelling, spelling.lower()}
    try:
        return {identities.normalise(kind, spelling)}
    except identities.IdentityError:
        return {spelling}


def _customer_person(session: Session, customer_id: int) -> Person:
    """The customer (followed to the survivor of merges), every record merged into it, authors."""
    root = _survivor(session, customer_id)
    customers = [root]
    frontier = [root]
    while frontier:
        query = select(models.Customer.id).where(models.Customer.merged_into_id.in_(frontier))
        frontier = [i for i in session.scalars(query) if i not in customers]
        customers += frontier
    linked = select(models.Author.id).where(models.Author.customer_id.in_(customers))
    authors = {*session.scalars(linked), *_identity_authors(session, customers)}
    return Person(f"customer:{root}", tuple(customers), tuple(sorted(authors)))


def _survivor(session: Session, customer_id: int) -> int:
    seen: list[int] = []
    current: int | None = customer_id
    while current is not None and current not in seen:
        customer = session.get(models.Customer, current)
        if customer is None:
            raise PersonError(f"no customer has id {current}")
        seen.append(current)
        current = customer.merged_into_id
    return seen[-1]


def _identity_authors(session: Session, customers: Sequence[int]) -> set[int]:
    """Authors not linked to anyone whom one of the customers' identities names exactly."""
    found: set[int] = set()
    query = select(models.Identity.kind, models.Identity.value)
    for kind, value in session.execute(query.where(models.Identity.customer_id.in_(customers))):
        candidates = select(models.Author).where(
            models.Author.source == kind,
            models.Author.customer_id.is_(None),
            or_(func.lower(models.Author.handle) == value.lower(), models.Author.key == value),
        )
        for author in session.scalars(candidates):
            if (kind, value) in identities.of_author(author.source, author.handle, author.key):
                found.add(author.id)
    return found


class _Matcher:
    """Finds a person's identifiers in stored text: a cheap SQL filter, then an exact check."""

    def __init__(self, terms: Iterable[str]) -> None:
        unique = {t.strip().lower(): t.strip() for t in terms if len(t.strip()) >= MIN_TERM}
        # JSON columns hold non-ASCII text escaped (\u00eb): look for both spellings
        self.forms = sorted({f for t in unique.values() for f in (t, json.dumps(t)[1:-1])})
        self.pattern = re.compile("|".join(map(_term_pattern, self.forms)), re.IGNORECASE)

    def where(self, texts: Sequence[ColumnElement[Any]]) -> ColumnElement[bool]:
        """An SQL condition true for every row that may name the person (and some that do not)."""
        checks = [t.icontains(f, autoescape=True) for t in texts for f in self.forms]
        return or_(*checks) if checks else false()

    def names(self, text: str | None) -> bool:
        """Whether `text` names the person."""
        return bool(self.forms) and text is not None and self.pattern.search(text) is not None


def _term_pattern(term: str) -> str:
    # a name counts only as a whole word: "ada" is not in "canada", but is in "@ada" and "u/ada"
    if term.isdigit():  # a bare number names someone only as a whole value
        return rf'(?:^|(?<=")){term}(?:$|(?="))'
    return rf"(?<![\w.+-]){re.escape(term)}(?![\w@-])"


def _terms(session: Session, person: Person) -> list[str]:
    """Every handle, address and id under which the person's data may appear elsewhere.

    Names are left out: "Sam" or "Support" would erase rows about other people.
    """
    terms: list[str | None] = []
    for author in session.scalars(
        select(models.Author).where(models.Author.id.in_(person.author_ids))
    ):
        terms += [author.handle, author.key, author.url, *identities.emails_in(author.bio or "")]
    for customer in session.scalars(
        select(models.Customer).where(models.Customer.id.in_(person.customer_ids))
    ):
        terms += [customer.email, customer.crm_id]
    query = select(models.Identity.value)
    terms += session.scalars(query.where(models.Identity.customer_id.in_(person.customer_ids)))
    return [t for t in terms if isinstance(t, str)]


def _naming(
    session: Session,
    model: Model,
    columns: Texts,
    matcher: _Matcher,
    among: ColumnElement[bool] | None = None,
) -> list[int]:
    """Ids of `model` rows whose text in `columns` names the person."""
    pk = inspect_model(model).primary_key[0]
    texts = [cast(column, Text) for column in columns]
    query = select(pk, *texts).where(matcher.where(texts))
    if among is not None:
        query = query.where(among)
    rows = session.execute(query.execution_options(yield_per=500))
    return [row[0] for row in rows if any(matcher.names(text) for text in row[1:])]


def _scope(
    session: Session, person: Person, matcher: _Matcher | None = None
) -> dict[Model, ColumnElement[bool]]:
    """Which rows of each table are the person's, in the order they can be deleted."""
    m = models
    matcher = matcher or _Matcher(_terms(session, person))
    named = {model: _naming(session, model, texts, matcher) for model, texts in SCANNED.items()}
    customers, authors = person.customer_ids, person.author_ids
    mentions = select(m.Mention.id).where(m.Mention.author_id.in_(authors))
    tasks = select(m.Task.id).where(
        or_(m.Task.mention_id.in_(mentions), m.Task.author_id.in_(authors))
    )
    replies = select(m.Reply.id).where(m.Reply.mention_id.in_(mentions))
    subjects: dict[str, list[str] | Select[tuple[str]]] = {
        "customer": [str(i) for i in customers],
        "author": [str(i) for i in authors],
        "mention": select(cast(mentions.subquery().c.id, String)),
        "task": select(cast(tasks.subquery().c.id, String)),
        "reply": select(cast(replies.subquery().c.id, String)),
    }
    audit, suggestion, message, history = (
        m.AuditEntry,
        m.LinkSuggestion,
        m.OutboxMessage,
        m.CustomerHistory,
    )
    about = [
        and_(audit.subject_type == t, audit.subject_id.in_(ids)) for t, ids in subjects.items()
    ]
    return {
        m.AuditEntry: or_(*about, audit.id.in_(named[m.AuditEntry])),
        m.Classification: m.Classification.mention_id.in_(mentions),
        m.Reply: m.Reply.mention_id.in_(mentions),
        m.TaskNote: or_(m.TaskNote.task_id.in_(tasks), m.TaskNote.id.in_(named[m.TaskNote])),
        m.TaskMention: or_(
            m.TaskMention.mention_id.in_(mentions), m.TaskMention.task_id.in_(tasks)
        ),
        m.RouteDecision: m.RouteDecision.mention_id.in_(mentions),
        m.Task: m.Task.id.in_(tasks),
        m.LabelCorrection: m.LabelCorrection.mention_id.in_(mentions),
        m.Mention: m.Mention.author_id.in_(authors),
        suggestion: or_(
            suggestion.author_id.in_(authors),
            suggestion.customer_id.in_(customers),
            suggestion.id.in_(named[suggestion]),
        ),
        message: or_(
            message.author_id.in_(authors),
            message.customer_id.in_(customers),
            message.id.in_(named[message]),
        ),
        history: or_(history.customer_id.in_(customers), history.id.in_(named[history])),
        m.QuarantinedItem: m.QuarantinedItem.id.in_(named[m.QuarantinedItem]),
        m.Identity: m.Identity.customer_id.in_(customers),
        m.Author: m.Author.id.in_(authors),
        m.Customer: m.Customer.id.in_(customers),
    }


def held(session: Session, person: Person) -> dict[str, int]:
    """How many rows of each table hold the person's data (what export shows, forget erases)."""
    counts = {}
    for model, condition in _scope(session, person).items():
        query = select(func.count()).select_from(model).where(condition)
        counts[model.__tablename__] = session.scalar(query) or 0
    return counts


def export(session: Session, person: Person) -> dict[str, Any]:
    """Everything held about `person`, ready for JSON: the rows of each table, column by column."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for model, condition in reversed(_scope(session, person).items()):
        pk = inspect_model(model).primary_key
        rows = session.scalars(select(model).where(condition).order_by(*pk))
        tables[model.__tablename__] = [_as_dict(row) for row in rows]
    return {
        "schema": EXPORT_SCHEMA,
        "exported_at": utcnow().isoformat(),
        "person": person.label,
        "tables": tables,
    }


def _as_dict(row: models.Base) -> dict[str, Any]:
    values = {c.key: getattr(row, c.key) for c in inspect_model(type(row)).column_attrs}
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def forget(session: Session, person: Person, actor: str, connectors: Sequence[str]) -> Forgotten:
    """Erase every row that names `person`, keep one audit entry of counts, tell the CRM.

    The contact.forget messages are the one exception: they must name the contact for the CRM
    to find it, and are queued without a customer id so that nothing deletes them before then.
    """
    messages = _forget_messages(session, person) if connectors else []
    matcher = _Matcher(_terms(session, person))
    counts = {"references_cleared": _clear_references(session, person, matcher)}
    # unmerge first: a cascade from the survivor would delete the merged records uncounted
    session.execute(
        update(models.Customer)
        .where(models.Customer.id.in_(person.customer_ids))
        .values(merged_into_id=None)
        .execution_options(synchronize_session=False)
    )
    counts["chat_messages_erased"] = _erase_from_chat(session, person)
    for model, condition in _scope(session, person, matcher).items():
        statement = delete(model).where(condition).execution_options(synchronize_session=False)
        result: CursorResult[Any] = session.execute(statement)  # type: ignore[assignment]
        counts[model.__tablename__] = int(result.rowcount)
    queued = len(messages) * len(connectors)
    session.add(
        models.AuditEntry(
            actor=actor,
            action=FORGOTTEN,
            subject_type="person",
            after={"erased": counts, "crm_messages": queued},
        )
    )
    for payload in messages:
        outbox.enqueue(session, connectors, payload)
    log.info("a person was forgotten by %s: %s", actor, counts)
    return Forgotten(counts, queued)


ERASED_IN_CHAT: Final = "(erased at the person's request)"


def _erase_from_chat(session: Session, person: Person) -> int:
    """Chat cards of the person's tasks, and incident posts of theirs, are edited away.

    A card's row would go with its task, leaving the text in chat: it becomes an alert that
    says the card was erased, so the next delivery edits the chat message to say only that.
    """
    m = models
    mentions = select(m.Mention.id).where(m.Mention.author_id.in_(person.author_ids))
    tasks = select(m.Task.id).where(
        or_(m.Task.mention_id.in_(mentions), m.Task.author_id.in_(person.author_ids))
    )
    # the tasks first, in id order: the order the queue's actions and chat delivery lock them
    session.execute(
        select(m.Task.id).where(m.Task.id.in_(tasks)).order_by(m.Task.id).with_for_update()
    )
    cards = update(m.ChatMessage).where(
        m.ChatMessage.task_id.in_(tasks), m.ChatMessage.message_id.is_not(None)
    )
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        cards.values(
            task_id=None,
            kind="alert",
            payload={"text": ERASED_IN_CHAT},
            version=m.ChatMessage.version + 1,
            state="pending",
        ).execution_options(synchronize_session=False)
    )
    urls = set(session.scalars(select(m.Mention.url).where(m.Mention.id.in_(mentions))))
    urls.discard(None)
    incidents = 0
    for incident in session.scalars(select(m.Incident)):
        posts = incident.drivers.get("posts") or []
        kept = [post for post in posts if post.get("url") not in urls]
        if len(kept) < len(posts):
            incident.drivers = {**incident.drivers, "posts": kept}
            session.execute(
                update(m.ChatMessage)
                .where(m.ChatMessage.incident_id == incident.id)
                .values(version=m.ChatMessage.version + 1, state="pending")
                .execution_options(synchronize_session=False)
            )
            incidents += 1
    return int(result.rowcount) + incidents


def _forget_messages(session: Session, person: Person) -> list[dict[str, Any]]:
    """One contact.forget per customer record, or one for authors that are no customer."""
    now = utcnow()
    whos: list[dict[str, Any]] = []
    held = identities_of(session, person.customer_ids)
    for customer in session.scalars(
        select(models.Customer).where(models.Customer.id.in_(person.customer_ids))
    ):
        whos.append(events.contact(customer, held.get(customer.id, [])))
    if not whos:
        authors = session.scalars(
            select(models.Author).where(models.Author.id.in_(person.author_ids))
        )
        pairs_of = [identities.of_author(a.source, a.handle, a.key) for a in authors]
        whos.append(events.contact(None, [p for pairs in pairs_of for p in pairs]))
    # the CRM finds the contact by crm id, email or identities; it needs no name
    forget = events.CONTACT_FORGET
    return [
        events.envelope(forget, f"forget-{uuid.uuid4().hex}", now, {**who, "name": None})
        for who in whos
    ]


def _clear_references(session: Session, person: Person, matcher: _Matcher) -> int:
    """Other people's posts stay, but their pointers to the person's posts are cleared.

    A Bluesky reply's parent and thread ids are at:// URIs that hold the DID of whom it answers.
    """
    others = models.Mention.author_id.not_in(person.author_ids)
    row = models.Mention
    ids = _naming(session, row, (row.thread_id, row.parent_id, row.extra), matcher, others)
    for mention in session.scalars(select(models.Mention).where(models.Mention.id.in_(ids))):
        if matcher.names(mention.thread_id):
            mention.thread_id = None
        if matcher.names(mention.parent_id):
            mention.parent_id = None
        mention.extra = {k: v for k, v in mention.extra.items() if not matcher.names(json.dumps(v))}
    # another account's profile may give the person's address, and its link may cite it as a
    # clue: the account stays (it may be someone else's), what names the person goes
    strangers = models.Author.id.not_in(person.author_ids)
    texts = (models.Author.bio, models.Author.links, models.Author.link_evidence)
    cited = _naming(session, models.Author, texts, matcher, strangers)
    for author in session.scalars(select(models.Author).where(models.Author.id.in_(cited))):
        if matcher.names(author.bio) or matcher.names(json.dumps(author.links)):
            author.bio = author.links = None
        clues = author.link_evidence or []
        author.link_evidence = [c for c in clues if not matcher.names(json.dumps(c))]
    session.flush()
    return len(ids) + len(cited)
