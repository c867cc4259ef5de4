"""reports: daily rollups kept by triggers, full-text search, indexes for the report queries

The rollups (`report_daily`, `report_intent_daily`) count mentions per UTC day, source, query
and label. Triggers on `mentions` and `classifications` keep them exact on every insert, update
and delete (the pipeline, imports, retention and forget need not know); every change is an
upsert of +1/-1, so the sum over a key is right whatever order the changes come in. A mention
deleted takes its labels out of the rollup BEFORE the delete (its classification is still
there); the cascaded classification delete then finds no mention and changes nothing.

Full text: SQLite gets an FTS5 external-content table over `mentions.text` kept by triggers;
PostgreSQL a GIN index on `to_tsvector('simple', text)`. Neither is in the models: schema
comparisons skip them through `socialcrm.models.include_name`.

On SQLite, a later batch migration that copies `mentions` or `classifications` drops their
triggers with the old table: such a revision must run `reports_triggers(op)` again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 04:10:00.000000
"""

# DDL built from this module's own constants: no value from outside reaches these strings
# ruff: noqa: S608

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# an intent counts from this probability (reports.filters.INTENT_THRESHOLD says the same)
INTENT_THRESHOLD = 0.5

ROLLUP_KEY = "day, source, query, sentiment, uncertain"
INTENT_KEY = "day, source, query, intent"
SQLITE_TRIGGERS = (
    "report_mentions_ai",
    "report_mentions_bd",
    "report_mentions_au",
    "report_labels_ai",
    "report_labels_ad",
    "report_labels_au",
    "mentions_fts_ai",
    "mentions_fts_ad",
    "mentions_fts_au",
)


def upgrade() -> None:
    """Apply this revision; never drop data that a user could still want."""
    op.create_table(
        "report_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("query", sa.String(length=255), nullable=False),
        sa.Column("sentiment", sa.String(length=16), nullable=False),
        sa.Column("uncertain", sa.Boolean(), nullable=False),
        sa.Column("volume", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "source", "query", "sentiment", "uncertain", name=op.f("pk_report_daily")
        ),
    )
    op.create_table(
        "report_intent_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("query", sa.String(length=255), nullable=False),
        sa.Column("intent", sa.String(length=64), nullable=False),
        sa.Column("volume", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "source", "query", "intent", name=op.f("pk_report_intent_daily")
        ),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tasks_opened_at"), ["opened_at"], unique=False)
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mentions_source_id"), ["source", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_mentions_matched_query_id"), ["matched_query", "id"], unique=False
        )
    reports_triggers(op)
    backfill(op)


def reports_triggers(operations: object = op) -> None:
    """Create (again) the rollup and full-text triggers of this dialect."""
    if op.get_bind().dialect.name == "postgresql":
        for statement in _postgresql_statements():
            op.execute(statement)
        return
    for statement in _sqlite_statements():
        op.execute(statement)


def backfill(operations: object = op) -> None:
    """Fill the rollups (and SQLite's full-text table) from the rows already stored."""
    day = _day_sql("m.created_at")
    intents, condition = _intents_sql("c")
    intent = "j.intent" if op.get_bind().dialect.name == "postgresql" else "j.key"
    op.execute(
        f"INSERT INTO report_daily ({ROLLUP_KEY}, volume) "
        f"SELECT {day}, m.source, coalesce(m.matched_query, ''), coalesce(c.sentiment, ''), "
        f"{_uncertain_sql('c')}, count(*) FROM mentions m "
        "LEFT JOIN classifications c ON c.mention_id = m.id "
        f"GROUP BY 1, 2, 3, 4, 5"
    )
    op.execute(
        f"INSERT INTO report_intent_daily ({INTENT_KEY}, volume) "
        f"SELECT {day}, m.source, coalesce(m.matched_query, ''), {intent}, count(*) "
        f"FROM mentions m JOIN classifications c ON c.mention_id = m.id, {intents} "
        f"WHERE {condition} GROUP BY 1, 2, 3, 4"
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute("INSERT INTO mentions_fts (mentions_fts) VALUES ('rebuild')")


def downgrade() -> None:
    """Revert this revision."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS report_mentions ON mentions")
        op.execute("DROP TRIGGER IF EXISTS report_mentions_delete ON mentions")
        op.execute("DROP TRIGGER IF EXISTS report_labels ON classifications")
        op.execute("DROP FUNCTION IF EXISTS report_mentions_change()")
        op.execute("DROP FUNCTION IF EXISTS report_labels_change()")
        op.execute(
            "DROP FUNCTION IF EXISTS report_add(text, boolean, json, boolean, int, date, text, text)"
        )
        op.execute("DROP INDEX IF EXISTS ix_mentions_text_fts")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS mentions_fts")
    with op.batch_alter_table("mentions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mentions_matched_query_id"))
        batch_op.drop_index(batch_op.f("ix_mentions_source_id"))
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_opened_at"))
    op.drop_table("report_intent_daily")
    op.drop_table("report_daily")


def _day_sql(column: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return f"({column} AT TIME ZONE 'UTC')::date"
    return f"date({column})"


def _uncertain_sql(labels: str) -> str:
    # unlabelled (no classification, or no sentiment) is one key: ('', false)
    return f"(coalesce({labels}.sentiment, '') <> '' AND coalesce({labels}.uncertain, false))"


def _intents_sql(labels: str) -> tuple[str, str]:
    """A table source `j` of the intents at or above the threshold (column `intent`), and the
    condition that goes with it."""
    if op.get_bind().dialect.name == "postgresql":
        return (
            "LATERAL (SELECT e.key AS intent FROM json_each(CASE WHEN "
            f"json_typeof({labels}.intents) = 'object' THEN {labels}.intents "
            "ELSE '{}'::json END) e WHERE json_typeof(e.value) = 'number' "
            f"AND (e.value::text)::float >= {INTENT_THRESHOLD}) j",
            "true",
        )
    # SQLite has no LATERAL: json_each itself is the table, its key the intent
    return (
        f"json_each({labels}.intents) AS j",
        f"typeof(j.key) = 'text' AND j.type IN ('integer', 'real') "
        f"AND j.value >= {INTENT_THRESHOLD}",
    )


# --- SQLite ------------------------------------------------------------------------------------


def _upsert(table: str, key: str, select: str) -> str:
    return (
        f"INSERT INTO {table} ({key}, volume) {select} "
        f"ON CONFLICT ({key}) DO UPDATE SET volume = volume + excluded.volume;"
    )


def _sqlite_add(
    mention: str, labels: str | None, sign: str, source: str = "", cond: str = "true"
) -> str:
    """+1/-1 for `mention` (a row alias) as `labels` (a classification alias) or unlabelled.

    `source` is the FROM clause that provides the aliases (empty: NEW/OLD of the trigger).
    """
    sentiment = f"coalesce({labels}.sentiment, '')" if labels else "''"
    uncertain = f"({sentiment} <> '' AND coalesce({labels}.uncertain, 0))" if labels else "0"
    where = f"FROM {source} WHERE {cond}" if source else f"WHERE {cond}"
    rollup = _upsert(
        "report_daily",
        ROLLUP_KEY,
        f"SELECT date({mention}.created_at), {mention}.source, "
        f"coalesce({mention}.matched_query, ''), {sentiment}, {uncertain}, {sign}1 {where}",
    )
    if labels is None:
        return rollup
    intents, condition = _intents_sql(labels)
    intents_from = f"{source}, {intents}" if source else intents
    return rollup + _upsert(
        "report_intent_daily",
        INTENT_KEY,
        f"SELECT date({mention}.created_at), {mention}.source, "
        f"coalesce({mention}.matched_query, ''), j.key, {sign}1 FROM {intents_from} "
        f"WHERE {cond} AND {condition}",
    )


def _sqlite_statements() -> list[str]:
    # the mention with its labels (if any); the mention of a classification
    labelled = "(SELECT 1) LEFT JOIN classifications c ON c.mention_id = {row}.id"
    of_new = ("mentions m", "m.id = NEW.mention_id")
    of_old = ("mentions m", "m.id = OLD.mention_id")
    moved = (
        "NEW.created_at IS NOT OLD.created_at OR NEW.source IS NOT OLD.source "
        "OR NEW.matched_query IS NOT OLD.matched_query"
    )
    old_out = _sqlite_add("OLD", "c", "-", labelled.format(row="OLD"))
    new_in = _sqlite_add("NEW", "c", "+", labelled.format(row="NEW"))
    return [
        "CREATE VIRTUAL TABLE mentions_fts USING fts5(text, content='mentions', "
        "content_rowid='id')",
        "CREATE TRIGGER mentions_fts_ai AFTER INSERT ON mentions BEGIN "
        "INSERT INTO mentions_fts (rowid, text) VALUES (NEW.id, NEW.text); END",
        "CREATE TRIGGER mentions_fts_ad AFTER DELETE ON mentions BEGIN "
        "INSERT INTO mentions_fts (mentions_fts, rowid, text) VALUES ('delete', OLD.id, OLD.text);"
        " END",
        "CREATE TRIGGER mentions_fts_au AFTER UPDATE OF text ON mentions BEGIN "
        "INSERT INTO mentions_fts (mentions_fts, rowid, text) VALUES ('delete', OLD.id, OLD.text);"
        "INSERT INTO mentions_fts (rowid, text) VALUES (NEW.id, NEW.text); END",
        f"CREATE TRIGGER report_mentions_ai AFTER INSERT ON mentions BEGIN "
        f"{_sqlite_add('NEW', None, '+')} END",
        f"CREATE TRIGGER report_mentions_bd BEFORE DELETE ON mentions BEGIN {old_out} END",
        f"CREATE TRIGGER report_mentions_au AFTER UPDATE OF created_at, source, matched_query "
        f"ON mentions WHEN {moved} BEGIN {old_out}{new_in} END",
        # a classification moves its mention from unlabelled to its labels, and back; with no
        # mention (a cascaded delete) it changes nothing
        f"CREATE TRIGGER report_labels_ai AFTER INSERT ON classifications BEGIN "
        f"{_sqlite_add('m', None, '-', *of_new)}{_sqlite_add('m', 'NEW', '+', *of_new)} END",
        f"CREATE TRIGGER report_labels_ad AFTER DELETE ON classifications BEGIN "
        f"{_sqlite_add('m', 'OLD', '-', *of_old)}{_sqlite_add('m', None, '+', *of_old)} END",
        f"CREATE TRIGGER report_labels_au AFTER UPDATE ON classifications BEGIN "
        f"{_sqlite_add('m', 'OLD', '-', *of_old)}{_sqlite_add('m', 'NEW', '+', *of_new)} END",
    ]


# --- PostgreSQL --------------------------------------------------------------------------------


def _postgresql_statements() -> list[str]:
    return [
        "CREATE INDEX ix_mentions_text_fts ON mentions USING gin (to_tsvector('simple', text))",
        _PG_ADD,
        _PG_MENTIONS,
        _PG_LABELS,
        "CREATE TRIGGER report_mentions AFTER INSERT OR UPDATE OF created_at, source, "
        "matched_query ON mentions FOR EACH ROW EXECUTE FUNCTION report_mentions_change()",
        "CREATE TRIGGER report_mentions_delete BEFORE DELETE ON mentions "
        "FOR EACH ROW EXECUTE FUNCTION report_mentions_change()",
        "CREATE TRIGGER report_labels AFTER INSERT OR UPDATE OR DELETE ON classifications "
        "FOR EACH ROW EXECUTE FUNCTION report_labels_change()",
    ]


# adds `delta` to one mention's keys: its labels (if `labelled`) and, with them, its intents
_PG_ADD = f"""
CREATE FUNCTION report_add(p_sentiment text, p_uncertain boolean, p_intents json,
                           p_labelled boolean, p_delta int, p_day date, p_source text,
                           p_query text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_daily ({ROLLUP_KEY}, volume)
    VALUES (p_day, p_source, coalesce(p_query, ''),
            CASE WHEN p_labelled THEN coalesce(p_sentiment, '') ELSE '' END,
            p_labelled AND coalesce(p_sentiment, '') <> '' AND coalesce(p_uncertain, false),
            p_delta)
    ON CONFLICT ({ROLLUP_KEY}) DO UPDATE SET volume = report_daily.volume + excluded.volume;
    IF p_labelled AND p_intents IS NOT NULL AND json_typeof(p_intents) = 'object' THEN
        INSERT INTO report_intent_daily ({INTENT_KEY}, volume)
        SELECT p_day, p_source, coalesce(p_query, ''), e.key, p_delta FROM json_each(p_intents) e
        WHERE json_typeof(e.value) = 'number' AND (e.value::text)::float >= {INTENT_THRESHOLD}
        ON CONFLICT ({INTENT_KEY})
        DO UPDATE SET volume = report_intent_daily.volume + excluded.volume;
    END IF;
END $$
"""

_PG_MENTIONS = """
CREATE FUNCTION report_mentions_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    c classifications%ROWTYPE;
    labelled boolean;
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM report_add(NULL, NULL, NULL, false, 1,
                           (NEW.created_at AT TIME ZONE 'UTC')::date, NEW.source,
                           NEW.matched_query);
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.created_at IS NOT DISTINCT FROM OLD.created_at
       AND NEW.source IS NOT DISTINCT FROM OLD.source
       AND NEW.matched_query IS NOT DISTINCT FROM OLD.matched_query THEN
        RETURN NULL;
    END IF;
    SELECT * INTO c FROM classifications WHERE mention_id = OLD.id;
    labelled := FOUND;
    PERFORM report_add(c.sentiment, c.uncertain, c.intents, labelled, -1,
                       (OLD.created_at AT TIME ZONE 'UTC')::date, OLD.source, OLD.matched_query);
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    PERFORM report_add(c.sentiment, c.uncertain, c.intents, labelled, 1,
                       (NEW.created_at AT TIME ZONE 'UTC')::date, NEW.source, NEW.matched_query);
    RETURN NULL;
END $$
"""

_PG_LABELS = """
CREATE FUNCTION report_labels_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    m mentions%ROWTYPE;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT * INTO m FROM mentions WHERE id = OLD.mention_id;
        IF FOUND THEN
            PERFORM report_add(OLD.sentiment, OLD.uncertain, OLD.intents, true, -1,
                               (m.created_at AT TIME ZONE 'UTC')::date, m.source,
                               m.matched_query);
            PERFORM report_add(NULL, NULL, NULL, false, 1,
                               (m.created_at AT TIME ZONE 'UTC')::date, m.source,
                               m.matched_query);
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT * INTO m FROM mentions WHERE id = NEW.mention_id;
        IF FOUND THEN
            PERFORM report_add(NULL, NULL, NULL, false, -1,
                               (m.created_at AT TIME ZONE 'UTC')::date, m.source,
                               m.matched_query);
            PERFORM report_add(NEW.sentiment, NEW.uncertain, NEW.intents, true, 1,
                               (m.created_at AT TIME ZONE 'UTC')::date, m.source,
                               m.matched_query);
        END IF;
    END IF;
    RETURN NULL;
END $$
"""
