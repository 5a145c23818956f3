"""drop the index on signal.kind: no query uses it, and every stored signal paid for it

Signals are read by message (ix_signal_message_id), never by kind alone; keeping the kind index up to date
cost a sync about a third of the time it takes to insert the signal rows (~8 per message).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 08:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_signal_kind", table_name="signal")


def downgrade() -> None:
    op.create_index("ix_signal_kind", "signal", ["kind"], unique=False)
