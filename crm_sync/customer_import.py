"""`socialcrm customers import`: customer records from a CRM export (CSV, JSON or JSON Lines).

Records are matched to existing customers by CRM id, then by email, so importing the next
export updates in place. A record that cannot be read is reported with its line and skipped;
an identity already held by another customer is reported and left where it is.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm_sync import identities
from crm_sync.customers import owners_of
from crm_sync.identities import Identity, IdentityError
from socialcrm import models
from socialcrm.mention import utcnow

CRM_ID = ("crm_id", "id", "record_id")
NAME = ("name", "display_name", "full_name")
IDENTITY_COLUMNS = (*identities.PLATFORMS, identities.EMAIL, identities.WEBSITE)
CHUNK = 1000
_SEPARATORS = re.compile(r"[\s,;]+")
_DECIMAL = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?")


class CustomerFileError(ValueError):
    """The file as a whole cannot be read; the message says why, in one line."""


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """One customer as the export describes it."""

    line: int
    crm_id: str | None
    name: str | None
    email: str | None
    identities: tuple[Identity, ...]
    attributes: Mapping[str, Any]


@dataclass
class ImportReport:
    """What an import did; `problems` are one line each, with the record's line."""

    created: int = 0
    updated: int = 0
    identities_added: int = 0
    authors_linked: int = 0
    problems: list[str] = field(default_factory=list)


def read_records(path: Path) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
    """(line, record) for each record of the file, or (line, error) where one is broken."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise CustomerFileError(f"{path}: cannot be read as UTF-8 text: {error}") from None
    start = text.lstrip()[:1]
    if path.suffix.lower() == ".csv" or start not in ("[", "{"):
        yield from _csv_records(path, text)
    elif start == "[" or _one_object(text):
        try:
            rows = json.loads(text)
        except ValueError as error:
            raise CustomerFileError(f"{path}: not valid JSON: {error}") from None
        for number, item in enumerate(rows if isinstance(rows, list) else [rows], start=1):
            yield number, item if isinstance(item, dict) else f"record {number} is not an object"
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                yield number, _json_line(line)


def _csv_records(path: Path, text: str) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
    try:
        for number, row in enumerate(csv.DictReader(text.splitlines()), start=2):
            yield number, {k: v for k, v in row.items() if k and v not in (None, "")}
    except csv.Error as error:
        raise CustomerFileError(f"{path}: not readable as CSV: {error}") from None


def _one_object(text: str) -> bool:
    """A single JSON object spread over several lines (not JSON Lines)."""
    try:
        return isinstance(json.loads(text), dict) and "\n" in text.strip()
    except ValueError:
        return False


def _json_line(line: str) -> Mapping[str, Any] | str:
    try:
        item = json.loads(line)
    except ValueError as error:
        return f"not valid JSON: {error.args[0]}"
    return item if isinstance(item, dict) else "not a JSON object"


def parse(line: int, raw: Mapping[str, Any]) -> CustomerRecord:
    """A record as a customer; IdentityError (one line) when an identity is malformed."""
    # "Record ID", "First Name" (HubSpot's headers) read as record_id, first_name
    fields = {_key(k): v for k, v in raw.items() if v not in (None, "")}
    crm_id = _first(fields, CRM_ID)
    name = _first(fields, NAME) or _full_name(fields)
    found: list[Identity] = []
    for kind in IDENTITY_COLUMNS:
        for value in _values(fields.pop(kind, None)):
            found.append((kind, identities.normalise(kind, value)))
    for item in _values(fields.pop("identities", None)):
        kind, _, value = item.partition(":")
        found.append((kind.strip().lower(), identities.normalise(kind, value)))
    if crm_id:
        found.append((identities.CRM, crm_id))
    email = next((v for k, v in found if k == identities.EMAIL), None)
    if not (crm_id or found):
        raise IdentityError("a record needs a crm_id, an email or another identity")
    attributes = {k: _number(v) for k, v in fields.items() if k not in ("first_name", "last_name")}
    return CustomerRecord(line, crm_id, name, email, tuple(dict.fromkeys(found)), attributes)


def _key(name: object) -> str:
    return "_".join(str(name).strip().lower().split())


def _first(fields: dict[str, Any], names: Sequence[str]) -> str | None:
    for name in names:
        if name in fields:
            return str(fields.pop(name)).strip() or None
    return None


def _full_name(fields: Mapping[str, Any]) -> str | None:
    parts = [str(fields[k]).strip() for k in ("first_name", "last_name") if k in fields]
    return " ".join(p for p in parts if p) or None


def _values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if str(v).strip()]
    return [v for v in _SEPARATORS.split(str(value)) if v]


def _number(value: Any) -> Any:
    """CSV has only text: a plain decimal number is kept as a number (e.g. revenue).

    Anything else stays text: "01234" and "+44 20..." are identifiers, and NaN or infinity
    cannot be stored as JSON on PostgreSQL.
    """
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value.strip()):
        return value
    return float(value) if "." in value else int(value)


def import_records(
    session: Session, rows: Iterable[tuple[int, Mapping[str, Any] | str]], actor: str
) -> ImportReport:
    """Create or update a customer per record, a chunk of records per round trip."""
    report = ImportReport()
    records = iter(rows)
    while chunk := list(islice(records, CHUNK)):
        parsed: list[CustomerRecord] = []
        for line, raw in chunk:
            if isinstance(raw, str):
                report.problems.append(f"line {line}: {raw}")
                continue
            try:
                parsed.append(parse(line, raw))
            except IdentityError as error:
                report.problems.append(f"line {line}: {error}")
        _save_chunk(session, parsed, actor, report)
    return report


def _save_chunk(
    session: Session, records: Sequence[CustomerRecord], actor: str, report: ImportReport
) -> None:
    by_crm, by_email = _existing(session, records)
    owners = owners_of(session, [i for r in records for i in r.identities])
    added: list[tuple[models.Customer, Identity, int]] = []
    for record in records:
        customer = by_crm.get(record.crm_id or "") or by_email.get(record.email or "")
        if customer is not None and record.crm_id and customer.crm_id not in (None, record.crm_id):
            report.problems.append(
                f"line {record.line}: {record.email} belongs to customer {customer.id} "
                f"(crm_id {customer.crm_id}), not to crm_id {record.crm_id}; skipped"
            )
            continue
        if customer is None:
            customer = models.Customer(attributes={})
            session.add(customer)
            report.created += 1
        else:
            report.updated += 1
        _apply(customer, record)
        if record.crm_id:
            by_crm[record.crm_id] = customer
        if record.email:
            by_email[record.email] = customer
        added += [(customer, identity, record.line) for identity in record.identities]
    session.flush()
    _add_identities(session, [(_survivor(session, c), i, n) for c, i, n in added], owners, report)


def _survivor(session: Session, customer: models.Customer) -> models.Customer:
    """The record a merged customer's identities live on now (itself when not merged)."""
    while customer.merged_into_id is not None:
        survivor = session.get(models.Customer, customer.merged_into_id)
        if survivor is None:
            break
        customer = survivor
    return customer


def _existing(
    session: Session, records: Sequence[CustomerRecord]
) -> tuple[dict[str, models.Customer], dict[str, models.Customer]]:
    """Customers the records name by crm id or email, merged ones too (they keep their crm id)."""
    crm_ids = [r.crm_id for r in records if r.crm_id]
    emails = [r.email for r in records if r.email]
    found = session.scalars(
        select(models.Customer)
        .where(or_(models.Customer.crm_id.in_(crm_ids), models.Customer.email.in_(emails)))
        .order_by(models.Customer.merged_into_id.is_not(None), models.Customer.id)
    )
    by_crm: dict[str, models.Customer] = {}
    by_email: dict[str, models.Customer] = {}
    for customer in found:  # active records first: an email shared after a merge finds the survivor
        if customer.crm_id:
            by_crm.setdefault(customer.crm_id, customer)
        if customer.email:
            by_email.setdefault(customer.email, customer)
    return by_crm, by_email


def _apply(customer: models.Customer, record: CustomerRecord) -> None:
    customer.crm_id = record.crm_id or customer.crm_id
    customer.display_name = record.name or customer.display_name
    customer.email = record.email or customer.email
    customer.attributes = {**customer.attributes, **record.attributes}
    customer.updated_at = utcnow()


def _add_identities(
    session: Session,
    added: Sequence[tuple[models.Customer, Identity, int]],
    owners: dict[Identity, int],
    report: ImportReport,
) -> None:
    for customer, identity, line in added:
        owner = owners.get(identity)
        if owner == customer.id:
            continue
        if owner is not None:
            report.problems.append(
                f"line {line}: {identity[0]}:{identity[1]} belongs to customer {owner}; "
                "left there (merge the two if they are one person)"
            )
            continue
        session.add(
            models.Identity(
                customer_id=customer.id,
                kind=identity[0],
                value=identity[1],
                confidence=1.0,
                evidence={"via": "crm import"},
            )
        )
        owners[identity] = customer.id
        report.identities_added += 1
    session.flush()
