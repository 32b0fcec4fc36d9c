"""Initial schema: hosts, streams, telemetry, agent_stats, tickets, rejected_batches.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Tables are spelled out here rather than taken from collector.store.schema, so
this revision keeps creating what it created even after schema.py moves on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "hosts",
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("hostname", sa.Text(), nullable=False),
        sa.Column("os_family", sa.Text(), nullable=False),
        sa.Column("os_name", sa.Text(), nullable=False),
        sa.Column("os_version", sa.Text(), nullable=False),
        sa.Column("kernel", sa.Text(), nullable=False),
        sa.Column("arch", sa.Text(), nullable=False),
        sa.Column("cpu_model", sa.Text(), nullable=False),
        sa.Column("cpu_cores", sa.Integer(), nullable=False),
        sa.Column("memory_bytes", sa.BigInteger(), nullable=False),
        sa.Column("boot_time_unix", sa.BigInteger(), nullable=False),
        sa.Column("machine_id", sa.Text(), nullable=False),
        sa.Column("agent_version", sa.Text(), nullable=False),
        sa.Column("first_seen_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", name="pk_hosts"),
    )
    op.create_table(
        "streams",
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("epoch", sa.Text(), nullable=False),
        sa.Column("acked_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", "epoch", name="pk_streams"),
        sa.ForeignKeyConstraint(["agent_id"], ["hosts.agent_id"], name="fk_streams_agent_id_hosts"),
    )
    op.create_table(
        "telemetry",
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("epoch", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("observed_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("received_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", "epoch", "seq", name="pk_telemetry"),
        sa.ForeignKeyConstraint(
            ["agent_id", "epoch"],
            ["streams.agent_id", "streams.epoch"],
            name="fk_telemetry_agent_id_epoch_streams",
        ),
    )
    op.create_index("ix_telemetry_received_at_ms", "telemetry", ["received_at_ms"])
    op.create_table(
        "agent_stats",
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("spool_records", sa.BigInteger(), nullable=False),
        sa.Column("spool_bytes", sa.BigInteger(), nullable=False),
        sa.Column("dropped", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", name="pk_agent_stats"),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["hosts.agent_id"], name="fk_agent_stats_agent_id_hosts"
        ),
    )
    op.create_table(
        "tickets",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("dedup_key", sa.Text(), nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("hostname", sa.Text(), nullable=False),
        sa.Column("rule_id", sa.Text(), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("component", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("priority", sa.Text(), nullable=False),
        sa.Column("tier", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("occurrences", sa.BigInteger(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("first_seen_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
    )
    op.create_index("ix_tickets_agent_id", "tickets", ["agent_id"])
    op.create_index("ix_tickets_state", "tickets", ["state"])
    op.create_index(
        "uq_tickets_open_dedup_key",
        "tickets",
        ["dedup_key"],
        unique=True,
        sqlite_where=sa.text("state = 'open'"),
        postgresql_where=sa.text("state = 'open'"),
    )
    op.create_table(
        "rejected_batches",
        sa.Column("id", ID_TYPE, autoincrement=True, nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("epoch", sa.Text(), nullable=False),
        sa.Column("seq_first", sa.BigInteger(), nullable=False),
        sa.Column("seq_last", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("received_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rejected_batches"),
    )


def downgrade() -> None:
    op.drop_table("rejected_batches")
    op.drop_index("uq_tickets_open_dedup_key", table_name="tickets")
    op.drop_index("ix_tickets_state", table_name="tickets")
    op.drop_index("ix_tickets_agent_id", table_name="tickets")
    op.drop_table("tickets")
    op.drop_table("agent_stats")
    op.drop_index("ix_telemetry_received_at_ms", table_name="telemetry")
    op.drop_table("telemetry")
    op.drop_table("streams")
    op.drop_table("hosts")
