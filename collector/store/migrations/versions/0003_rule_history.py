"""Rule history and correlation: host_events, series_points, rule_states, incidents.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

What the rule engine's windows, trends and persistence need per host (bounded by the
engine), the findings' states, fleet incidents with their hosts, and on tickets the link
to what a merged ticket was merged into.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        batch.add_column(
            sa.Column("last_snapshot_ms", sa.BigInteger(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("merged_into", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("incident_id", sa.BigInteger(), nullable=True))
    op.create_table(
        "host_events",
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("event_key", sa.Text(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", "event_key", name="pk_host_events"),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["hosts.agent_id"], name="fk_host_events_agent_id_hosts"
        ),
    )
    op.create_table(
        "series_points",
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("series", sa.Text(), nullable=False),
        sa.Column("component", sa.Text(), nullable=False),
        sa.Column("t_ms", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", "series", "component", "t_ms", name="pk_series_points"),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["hosts.agent_id"], name="fk_series_points_agent_id_hosts"
        ),
    )
    op.create_table(
        "rule_states",
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("rule_id", sa.Text(), nullable=False),
        sa.Column("component", sa.Text(), nullable=False),
        sa.Column("phase", sa.Text(), nullable=False),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("since_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_eval_ms", sa.BigInteger(), nullable=False),
        sa.Column("opened_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_fire_ms", sa.BigInteger(), nullable=False),
        sa.Column("cleared_ms", sa.BigInteger(), nullable=False),
        sa.Column("occurrences", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", "rule_id", "component", name="pk_rule_states"),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["hosts.agent_id"], name="fk_rule_states_agent_id_hosts"
        ),
    )
    op.create_index("ix_rule_states_phase", "rule_states", ["phase"])
    op.create_table(
        "incidents",
        sa.Column("id", ID_TYPE, nullable=False, autoincrement=True),
        sa.Column("rule_id", sa.Text(), nullable=False),
        sa.Column("group_value", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("opened_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ms", sa.BigInteger(), nullable=False),
        sa.Column("host_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
        sa.UniqueConstraint("rule_id", "group_value", name="uq_incidents_rule_id_group_value"),
    )
    op.create_table(
        "incident_hosts",
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("agent_id", sa.Text(), nullable=False),
        sa.Column("hostname", sa.Text(), nullable=False),
        sa.Column("last_fired_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("incident_id", "agent_id", name="pk_incident_hosts"),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name="fk_incident_hosts_incident_id_incidents"
        ),
    )


def downgrade() -> None:
    op.drop_table("incident_hosts")
    op.drop_table("incidents")
    op.drop_index("ix_rule_states_phase", table_name="rule_states")
    op.drop_table("rule_states")
    op.drop_table("series_points")
    op.drop_table("host_events")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("incident_id")
        batch.drop_column("merged_into")
    with op.batch_alter_table("hosts") as batch:
        batch.drop_column("last_snapshot_ms")
