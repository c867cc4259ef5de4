"""mentions: an index for reading a thread

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 04:55:00
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision; never drop data that a user could still want."""
    op.create_index("ix_mentions_source_thread_id", "mentions", ["source", "thread_id"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_mentions_source_thread_id", table_name="mentions")
