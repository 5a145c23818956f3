"""thread lookup by subject and date: (subject_key, last_date) replaces the index on subject_key alone

A sync reads the threads under a subject whose time window reaches its messages' dates; with only
subject_key indexed SQLite visited every thread of a common subject for each lookup.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 06:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_thread_subject_key_last_date", "thread", ["subject_key", "last_date"], unique=False)
    op.drop_index("ix_thread_subject_key", table_name="thread")


def downgrade() -> None:
    op.create_index("ix_thread_subject_key", "thread", ["subject_key"], unique=False)
    op.drop_index("ix_thread_subject_key_last_date", table_name="thread")
