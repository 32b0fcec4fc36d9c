"""The L2 console: users, sessions, API tokens, and the indexes its pages read by.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

Users log in with an argon2id password hash; a session or an API token is kept only as
the SHA-256 of its secret. The host page reads a host's snapshots by time
(telemetry by agent, kind, time), the overview counts open tickets per host, and a host's
or an incident's tickets are read by hostname or incident id.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_login_ms", sa.BigInteger(), nullable=False, server_default="0"),
        sa.UniqueConstraint("name", name="uq_users_name"),
    )
    op.create_table(
        "sessions",
        sa.Column("token_sha256", sa.Text(), primary_key=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("csrf", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
    op.create_table(
        "api_tokens",
        sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("token_sha256", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_used_ms", sa.BigInteger(), nullable=False, server_default="0"),
        sa.UniqueConstraint("name", name="uq_api_tokens_name"),
        sa.UniqueConstraint("token_sha256", name="uq_api_tokens_token_sha256"),
    )
    op.create_index("ix_telemetry_host_time", "telemetry", ["agent_id", "kind", "observed_at_ms"])
    op.create_index("ix_tickets_open_by_host", "tickets", ["state", "agent_id", "priority"])
    op.create_index("ix_tickets_hostname", "tickets", ["hostname"])
    op.create_index("ix_tickets_incident_id", "tickets", ["incident_id"])


def downgrade() -> None:
    op.drop_index("ix_tickets_incident_id", "tickets")
    op.drop_index("ix_tickets_hostname", "tickets")
    op.drop_index("ix_tickets_open_by_host", "tickets")
    op.drop_index("ix_telemetry_host_time", "telemetry")
    op.drop_table("api_tokens")
    op.drop_index("ix_sessions_user_id", "sessions")
    op.drop_table("sessions")
    op.drop_table("users")
