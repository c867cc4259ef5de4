"""nlp label corrections, unlabelled classifications

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 20:43:41.657964
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision; never drop data that a user could still want."""
    op.create_table(
        "label_corrections",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "mention_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("sentiment", sa.String(length=16), nullable=True),
        sa.Column("intents", sa.JSON(), nullable=True),
        sa.Column("corrected_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mention_id"],
            ["mentions.id"],
            name=op.f("fk_label_corrections_mention_id_mentions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_corrections")),
    )
    with op.batch_alter_table("label_corrections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_label_corrections_mention_id"), ["mention_id"], unique=False
        )

    with op.batch_alter_table("classifications", schema=None) as batch_op:
        batch_op.alter_column("sentiment", existing_type=sa.VARCHAR(length=16), nullable=True)
        batch_op.alter_column("needs_reply", existing_type=sa.FLOAT(), nullable=True)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("classifications", schema=None) as batch_op:
        batch_op.alter_column("needs_reply", existing_type=sa.FLOAT(), nullable=False)
        batch_op.alter_column("sentiment", existing_type=sa.VARCHAR(length=16), nullable=False)

    with op.batch_alter_table("label_corrections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_label_corrections_mention_id"))

    op.drop_table("label_corrections")
