"""The store's tables as SQLAlchemy Core objects, shared by the queries in sql.py.

Migrations create these tables explicitly (migrations/versions); a test checks
that a database migrated to head matches this metadata exactly.

Types are chosen to mean the same on SQLite and PostgreSQL: BigInteger for
millisecond timestamps and sequence numbers, Text for strings, JSON as sorted
Text (portable and byte-stable), LargeBinary for serialized records.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    literal_column,
)

# SQLite only auto-assigns ids to an INTEGER PRIMARY KEY (a rowid alias).
ID_TYPE = BigInteger().with_variant(Integer, "sqlite")

# Deterministic constraint names, so a later migration can name what it alters.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

hosts = Table(
    "hosts",
    metadata,
    Column("agent_id", Text, primary_key=True),
    # Inventory columns carry the names of agent.records.HostInventory's scalar fields
    # (its lists, disks and NICs, stay in the snapshots).
    Column("hostname", Text, nullable=False),
    Column("os_family", Text, nullable=False),
    Column("os_name", Text, nullable=False),
    Column("os_version", Text, nullable=False),
    Column("kernel", Text, nullable=False),
    Column("arch", Text, nullable=False),
    Column("cpu_model", Text, nullable=False),
    Column("cpu_cores", Integer, nullable=False),
    Column("memory_bytes", BigInteger, nullable=False),
    Column("boot_time_unix", BigInteger, nullable=False),
    Column("machine_id", Text, nullable=False),
    Column("agent_version", Text, nullable=False),
    Column("vendor", Text, nullable=False, server_default=""),
    Column("first_seen_ms", BigInteger, nullable=False),
    Column("last_seen_ms", BigInteger, nullable=False),
    # The newest snapshot the rules evaluated: an older or replayed one is not evaluated again.
    Column("last_snapshot_ms", BigInteger, nullable=False, server_default="0"),
)

# One row per (agent, spool epoch): how far the collector has committed.
streams = Table(
    "streams",
    metadata,
    Column("agent_id", Text, nullable=False),
    Column("epoch", Text, nullable=False),
    Column("acked_seq", BigInteger, nullable=False),
    PrimaryKeyConstraint("agent_id", "epoch"),
    ForeignKeyConstraint(["agent_id"], ["hosts.agent_id"]),
)

telemetry = Table(
    "telemetry",
    metadata,
    Column("agent_id", Text, nullable=False),
    Column("epoch", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("kind", Text, nullable=False),
    Column("observed_at_ms", BigInteger, nullable=False),
    Column("received_at_ms", BigInteger, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    # The primary key is what makes a replayed record a no-op.
    PrimaryKeyConstraint("agent_id", "epoch", "seq"),
    ForeignKeyConstraint(["agent_id", "epoch"], ["streams.agent_id", "streams.epoch"]),
    Index(None, "received_at_ms"),  # retention purge
)

agent_stats = Table(
    "agent_stats",
    metadata,
    Column("agent_id", Text, primary_key=True),
    Column("time_ms", BigInteger, nullable=False),
    Column("spool_records", BigInteger, nullable=False),
    Column("spool_bytes", BigInteger, nullable=False),
    Column("dropped", Text, nullable=False),  # JSON object: reason -> count
    ForeignKeyConstraint(["agent_id"], ["hosts.agent_id"]),
)

tickets = Table(
    "tickets",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("dedup_key", Text, nullable=False),
    Column("agent_id", Text, nullable=False),
    Column("hostname", Text, nullable=False),
    Column("rule_id", Text, nullable=False),
    Column("rule_version", Integer, nullable=False),
    Column("component", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("priority", Text, nullable=False),
    Column("tier", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("evidence", Text, nullable=False),  # JSON object
    Column("state", Text, nullable=False),
    Column("occurrences", BigInteger, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
    Column("first_seen_ms", BigInteger, nullable=False),
    Column("last_seen_ms", BigInteger, nullable=False),
    # A merged ticket's problem is tracked elsewhere: by the root-cause ticket on the same
    # host (merged_into) or by a fleet incident (incident_id).
    Column("merged_into", BigInteger, nullable=True),
    Column("incident_id", BigInteger, nullable=True),
    Index(None, "agent_id"),
    Index(None, "state"),
)

# Rendered as the literal 'open', never a bound parameter: an ON CONFLICT target
# only matches this partial index when the database can prove its WHERE clause
# implies the index predicate, which a parameter defeats.
OPEN_TICKET = tickets.c.state == literal_column("'open'")

# At most one open ticket per problem; resolved and closed ones may repeat.
Index(
    "uq_tickets_open_dedup_key",
    tickets.c.dedup_key,
    unique=True,
    sqlite_where=OPEN_TICKET,
    postgresql_where=OPEN_TICKET,
)

rejected_batches = Table(
    "rejected_batches",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("agent_id", Text, nullable=False),
    Column("epoch", Text, nullable=False),
    Column("seq_first", BigInteger, nullable=False),
    Column("seq_last", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("received_at_ms", BigInteger, nullable=False),
)

# -- rule history: what windows, trends and persistence need, bounded per host ----------

host_events = Table(
    "host_events",
    metadata,
    Column("agent_id", Text, nullable=False),
    Column("event_key", Text, nullable=False),  # digest of the event: replays are no-ops
    Column("time_ms", BigInteger, nullable=False),
    Column("kind", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("fields", Text, nullable=False),  # JSON object
    PrimaryKeyConstraint("agent_id", "event_key"),
    ForeignKeyConstraint(["agent_id"], ["hosts.agent_id"]),
)

series_points = Table(
    "series_points",
    metadata,
    Column("agent_id", Text, nullable=False),
    Column("series", Text, nullable=False),  # subject.field: volume.used_bytes
    Column("component", Text, nullable=False),
    Column("t_ms", BigInteger, nullable=False),
    Column("value", Float, nullable=False),
    PrimaryKeyConstraint("agent_id", "series", "component", "t_ms"),
    ForeignKeyConstraint(["agent_id"], ["hosts.agent_id"]),
)

# One row per (host, rule, component) that is pending, active or cleared: the findings.
rule_states = Table(
    "rule_states",
    metadata,
    Column("agent_id", Text, nullable=False),
    Column("rule_id", Text, nullable=False),
    Column("component", Text, nullable=False),
    Column("phase", Text, nullable=False),  # pending | active | cleared
    Column("streak", Integer, nullable=False),
    Column("since_ms", BigInteger, nullable=False),
    Column("last_eval_ms", BigInteger, nullable=False),
    Column("opened_ms", BigInteger, nullable=False),
    Column("last_fire_ms", BigInteger, nullable=False),
    Column("cleared_ms", BigInteger, nullable=False),
    Column("occurrences", BigInteger, nullable=False),
    Column("held", Text, nullable=False),  # absorbed:<rule> | incident:<group> | ""
    Column("summary", Text, nullable=False),
    PrimaryKeyConstraint("agent_id", "rule_id", "component"),
    ForeignKeyConstraint(["agent_id"], ["hosts.agent_id"]),
    Index(None, "phase"),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("rule_id", Text, nullable=False),
    Column("group_value", Text, nullable=False),  # the shared attribute's value
    Column("state", Text, nullable=False),  # open | resolved
    Column("summary", Text, nullable=False),
    Column("opened_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("last_seen_ms", BigInteger, nullable=False),
    Column("host_count", BigInteger, nullable=False),
    UniqueConstraint("rule_id", "group_value"),
)

incident_hosts = Table(
    "incident_hosts",
    metadata,
    Column("incident_id", BigInteger, nullable=False),
    Column("agent_id", Text, nullable=False),
    Column("hostname", Text, nullable=False),
    Column("last_fired_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("incident_id", "agent_id"),
    ForeignKeyConstraint(["incident_id"], ["incidents.id"]),
)
