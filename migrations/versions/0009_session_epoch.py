"""web: session epochs of users, failed log-ins for the rate limit

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision; never drop data that a user could still want."""
    with op.batch_alter_table("web_users", schema=None) as batch_op:
        # cookies made before this revision carry no epoch: their users log in once more
        batch_op.add_column(
            sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "web_login_failures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_login_failures")),
    )
    with op.batch_alter_table("web_login_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_login_failures_at"), ["at"], unique=False)
        batch_op.create_index("ix_web_login_failures_key_at", ["key", "at"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("web_login_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_web_login_failures_key_at")
        batch_op.drop_index(batch_op.f("ix_web_login_failures_at"))
    op.drop_table("web_login_failures")
    with op.batch_alter_table("web_users", schema=None) as batch_op:
        batch_op.drop_column("session_epoch")
