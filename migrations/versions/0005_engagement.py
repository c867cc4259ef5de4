"""engagement: tasks per conversation, notes, incidents, chat messages

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 02:56:56.728673
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision; never drop data that a user could still want."""
    op.create_table(
        "incidents",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("query", sa.String(length=255), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("volume", sa.Integer(), nullable=False),
        sa.Column("negatives", sa.Integer(), nullable=False),
        sa.Column("baseline", sa.JSON(), nullable=False),
        sa.Column("drivers", sa.JSON(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=255), nullable=True),
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sa.UniqueConstraint("query", "window_start", name=op.f("uq_incidents_query_window_start")),
    )
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("queue", sa.String(length=255), nullable=False),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "incident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("delivered_version", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("thread_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_chat_messages_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tasks.id"],
            name=op.f("fk_chat_messages_task_id_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_messages")),
        sa.UniqueConstraint("key", name=op.f("uq_chat_messages_key")),
    )
    with op.batch_alter_table("chat_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chat_messages_incident_id"), ["incident_id"], unique=False
        )
        batch_op.create_index(
            "ix_chat_messages_state_priority", ["state", "priority"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_chat_messages_task_id"), ["task_id"], unique=False)

    op.create_table(
        "task_mentions",
        sa.Column(
            "mention_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mention_id"],
            ["mentions.id"],
            name=op.f("fk_task_mentions_mention_id_mentions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tasks.id"],
            name=op.f("fk_task_mentions_task_id_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("mention_id", name=op.f("pk_task_mentions")),
    )
    with op.batch_alter_table("task_mentions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_mentions_task_id"), ["task_id"], unique=False)

    op.create_table(
        "route_decisions",
        sa.Column(
            "mention_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("rule", sa.String(length=255), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("queue", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mention_id"],
            ["mentions.id"],
            name=op.f("fk_route_decisions_mention_id_mentions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tasks.id"],
            name=op.f("fk_route_decisions_task_id_tasks"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("mention_id", name=op.f("pk_route_decisions")),
    )

    op.create_table(
        "task_notes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("author", sa.String(length=255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_task_notes_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_notes")),
    )
    with op.batch_alter_table("task_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_notes_task_id"), ["task_id"], unique=False)

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("conversation", sa.String(length=600), nullable=True))
        batch_op.add_column(
            sa.Column(
                "author_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.add_column(sa.Column("rule", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("draft", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("drafted_by", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("approved_by", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("reply_key", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("reply_url", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("sla_warned_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("sla_breached_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("outcome_detail", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_tasks_author_id"), ["author_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tasks_sla_due_at"), ["sla_due_at"], unique=False)
        batch_op.create_unique_constraint(batch_op.f("uq_tasks_conversation"), ["conversation"])
        batch_op.create_foreign_key(
            batch_op.f("fk_tasks_author_id_authors"),
            "authors",
            ["author_id"],
            ["id"],
            ondelete="CASCADE",
        )
    # tasks written before this revision become conversations of their own mention
    op.execute(
        "UPDATE tasks SET conversation = 'task:' || id, opened_at = created_at,"
        " queue = COALESCE(queue, 'community'),"
        " author_id = (SELECT author_id FROM mentions WHERE mentions.id = tasks.mention_id)"
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.alter_column("queue", existing_type=sa.VARCHAR(length=255), nullable=False)
        for column, kind in (
            ("conversation", sa.String(length=600)),
            ("author_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite")),
            ("opened_at", sa.DateTime(timezone=True)),
        ):
            batch_op.alter_column(column, existing_type=kind, nullable=False)


def downgrade() -> None:
    """Revert this revision."""

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_tasks_author_id_authors"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_tasks_conversation"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_tasks_sla_due_at"))
        batch_op.drop_index(batch_op.f("ix_tasks_author_id"))
        batch_op.alter_column("queue", existing_type=sa.VARCHAR(length=255), nullable=True)
        batch_op.drop_column("outcome_at")
        batch_op.drop_column("outcome_detail")
        batch_op.drop_column("outcome")
        batch_op.drop_column("closed_at")
        batch_op.drop_column("first_response_at")
        batch_op.drop_column("opened_at")
        batch_op.drop_column("sla_breached_at")
        batch_op.drop_column("sla_warned_at")
        batch_op.drop_column("reply_url")
        batch_op.drop_column("reply_key")
        batch_op.drop_column("approved_by")
        batch_op.drop_column("drafted_by")
        batch_op.drop_column("draft")
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("rule")
        batch_op.drop_column("author_id")
        batch_op.drop_column("conversation")

    with op.batch_alter_table("task_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_notes_task_id"))

    op.drop_table("task_notes")
    op.drop_table("route_decisions")
    with op.batch_alter_table("task_mentions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_mentions_task_id"))

    op.drop_table("task_mentions")
    with op.batch_alter_table("chat_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_messages_task_id"))
        batch_op.drop_index("ix_chat_messages_state_priority")
        batch_op.drop_index(batch_op.f("ix_chat_messages_incident_id"))

    op.drop_table("chat_messages")
    op.drop_table("incidents")
