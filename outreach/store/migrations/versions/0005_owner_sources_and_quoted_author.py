"""where each owner address came from; the author and date of the message a reply quotes

* ``mailbox_address.source``: ``config`` (the config file or ``--address``) or ``sent-folder`` (the From of
  a message in the mailbox's Sent folder), and ``added_at``: ``outreach mailbox show`` lists them.
* ``message.quoted_name`` / ``quoted_address`` / ``quoted_date``: the topmost quoted message of a reply
  (``-----Original Message-----``, ``On … wrote:``, a Notes header), as the signals analysis reads it: a reply
  that quotes the mailbox's owner is evidence that the owner wrote to its sender, even when the owner's copy
  is not stored.
* an index on ``message.in_reply_to``: an original synced after its replies (the inbox before the Sent
  folder) finds them, and their threads merge into its own.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mailbox_address") as batch:
        batch.add_column(sa.Column("source", sa.String(length=20), nullable=False, server_default="config"))
        batch.add_column(sa.Column("added_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("quoted_name", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("quoted_address", sa.String(length=320), nullable=True))
        batch.add_column(sa.Column("quoted_date", sa.DateTime(), nullable=True))
    op.create_index("ix_message_in_reply_to", "message", ["in_reply_to"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_message_in_reply_to", table_name="message")
    with op.batch_alter_table("message") as batch:
        batch.drop_column("quoted_date")
        batch.drop_column("quoted_address")
        batch.drop_column("quoted_name")
    with op.batch_alter_table("mailbox_address") as batch:
        batch.drop_column("added_at")
        batch.drop_column("source")
