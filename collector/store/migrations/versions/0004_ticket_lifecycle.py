"""Ticket lifecycle and delivery: ticket columns, notes, files, the outbox, silences.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

Tickets gain their ITIL fields (impact, urgency, SLA due times), the lifecycle's memory
(cleared, resolved, reopen and recurrence counts, links to the previous ticket, the
problem and the storm) and the report's structured parts. Notes and evidence files are
kept per ticket; ticket_ops is the outbox and deliveries each sink's progress through it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_TEXT = ("kind", "impact", "urgency", "site", "content", "assignee", "resolution")
_DEFAULTS = {"kind": "host", "content": "{}"}
_NUMBERS = ("auto_resolve", "sla_respond_ms", "sla_resolve_ms", "acknowledged_ms",
            "resolved_ms", "cleared_ms", "last_note_ms", "repeats_since_note")  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        for name in _TEXT:
            batch.add_column(
                sa.Column(name, sa.Text(), nullable=False, server_default=_DEFAULTS.get(name, ""))
            )
        for name in _NUMBERS:
            kind = sa.Integer() if name == "auto_resolve" else sa.BigInteger()
            batch.add_column(sa.Column(name, kind, nullable=False, server_default="0"))
        for name in ("reopen_count", "recurrence"):
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
        for name in ("previous_id", "problem_id", "storm_id"):
            batch.add_column(sa.Column(name, sa.BigInteger(), nullable=True))
        batch.create_index("ix_tickets_dedup_key", ["dedup_key"])
        batch.create_index("ix_tickets_created_at_ms", ["created_at_ms"])
        batch.create_index("ix_tickets_rule_id", ["rule_id"])
    # One live ticket per problem: a ticket held by a storm counts as live too.
    op.drop_index("uq_tickets_open_dedup_key", table_name="tickets")
    op.create_index(
        "uq_tickets_live_dedup_key",
        "tickets",
        ["dedup_key"],
        unique=True,
        sqlite_where=sa.text("state IN ('open', 'held')"),
        postgresql_where=sa.text("state IN ('open', 'held')"),
    )
    op.create_table(
        "ticket_notes",
        sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
    )
    op.create_index("ix_ticket_notes_ticket_id", "ticket_notes", ["ticket_id"])
    op.create_table(
        "ticket_files",
        sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("media_type", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("ticket_id", "name"),
    )
    op.create_table(
        "ticket_ops",
        sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("op", sa.Text(), nullable=False),
        sa.Column("ref_id", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("not_before_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("cancelled", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_ticket_ops_ticket_id", "ticket_ops", ["ticket_id"])
    op.create_table(
        "deliveries",
        sa.Column("op_id", sa.BigInteger(), nullable=False),
        sa.Column("sink", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("op_id", "sink"),
    )
    op.create_index("ix_deliveries_sink_state", "deliveries", ["sink", "state"])
    op.create_table(
        "ticket_refs",
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("sink", sa.Text(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("ticket_id", "sink"),
    )
    op.create_table(
        "sinks",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("since_ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("registered_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "silences",
        sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.BigInteger(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    for table in ("silences", "sinks", "ticket_refs", "deliveries", "ticket_ops",
                  "ticket_files", "ticket_notes"):  # fmt: skip
        op.drop_table(table)
    op.drop_index("uq_tickets_live_dedup_key", table_name="tickets")
    op.create_index(
        "uq_tickets_open_dedup_key",
        "tickets",
        ["dedup_key"],
        unique=True,
        sqlite_where=sa.text("state = 'open'"),
        postgresql_where=sa.text("state = 'open'"),
    )
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_rule_id")
        batch.drop_index("ix_tickets_created_at_ms")
        batch.drop_index("ix_tickets_dedup_key")
        for name in (*_TEXT, *_NUMBERS, "reopen_count", "recurrence", "previous_id",
                     "problem_id", "storm_id"):  # fmt: skip
            batch.drop_column(name)
