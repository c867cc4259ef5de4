"""customers: links, suggestions, history, merges; outbox connector

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 23:22:50.160773
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision; never drop data that a user could still want."""
    op.create_table(
        "customer_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_history_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_history")),
    )
    with op.batch_alter_table("customer_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_history_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "link_suggestions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "author_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["authors.id"],
            name=op.f("fk_link_suggestions_author_id_authors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_link_suggestions_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_suggestions")),
        sa.UniqueConstraint(
            "author_id", "customer_id", name=op.f("uq_link_suggestions_author_id_customer_id")
        ),
    )
    with op.batch_alter_table("link_suggestions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_link_suggestions_author_id"), ["author_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_link_suggestions_customer_id"), ["customer_id"], unique=False
        )

    with op.batch_alter_table("authors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bio", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("links", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("link_method", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("link_confidence", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("link_evidence", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("linked_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "merged_into_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("dirty_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_customers_dirty_since"), ["dirty_since"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_customers_merged_into_id"), ["merged_into_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_customers_merged_into_id_customers"),
            "customers",
            ["merged_into_id"],
            ["id"],
            ondelete="CASCADE",
        )

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        # rows queued before connectors existed had one destination: none
        batch_op.add_column(
            sa.Column("connector", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column(
                "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "author_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.create_index(batch_op.f("ix_outbox_author_id"), ["author_id"], unique=False)
        batch_op.create_index("ix_outbox_connector_state", ["connector", "state"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_customer_id"), ["customer_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_customer_id_customers"),
            "customers",
            ["customer_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_author_id_authors"),
            "authors",
            ["author_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_outbox_author_id_authors"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_outbox_customer_id_customers"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_outbox_customer_id"))
        batch_op.drop_index("ix_outbox_connector_state")
        batch_op.drop_index(batch_op.f("ix_outbox_author_id"))
        batch_op.drop_column("author_id")
        batch_op.drop_column("customer_id")
        batch_op.drop_column("connector")

    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_customers_merged_into_id_customers"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_customers_merged_into_id"))
        batch_op.drop_index(batch_op.f("ix_customers_dirty_since"))
        batch_op.drop_column("dirty_since")
        batch_op.drop_column("merged_into_id")

    with op.batch_alter_table("authors", schema=None) as batch_op:
        batch_op.drop_column("linked_at")
        batch_op.drop_column("link_evidence")
        batch_op.drop_column("link_confidence")
        batch_op.drop_column("link_method")
        batch_op.drop_column("links")
        batch_op.drop_column("bio")

    with op.batch_alter_table("link_suggestions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_link_suggestions_customer_id"))
        batch_op.drop_index(batch_op.f("ix_link_suggestions_author_id"))

    op.drop_table("link_suggestions")
    with op.batch_alter_table("customer_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_history_customer_id"))

    op.drop_table("customer_history")
