"""hosts.vendor: the system manufacturer and model the agents now report.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

The inventory's lists (disks, NICs) are not host columns: they live in the snapshots,
which keep the whole inventory.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        batch.add_column(sa.Column("vendor", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        batch.drop_column("vendor")
