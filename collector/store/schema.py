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
    text,
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
    # The lifecycle (0004). kind: host | fleet | storm | problem.
    Column("kind", Text, nullable=False, server_default="host"),
    Column("impact", Text, nullable=False, server_default=""),
    Column("urgency", Text, nullable=False, server_default=""),
    Column("site", Text, nullable=False, server_default=""),
    Column("content", Text, nullable=False, server_default="{}"),  # JSON: the report's parts
    Column("auto_resolve", Integer, nullable=False, server_default="0"),
    Column("sla_respond_ms", BigInteger, nullable=False, server_default="0"),  # due at
    Column("sla_resolve_ms", BigInteger, nullable=False, server_default="0"),  # due at
    Column("acknowledged_ms", BigInteger, nullable=False, server_default="0"),
    Column("assignee", Text, nullable=False, server_default=""),
    Column("resolution", Text, nullable=False, server_default=""),  # fixed|auto|wont_fix|duplicate
    Column("resolved_ms", BigInteger, nullable=False, server_default="0"),
    Column("cleared_ms", BigInteger, nullable=False, server_default="0"),  # 0: still firing
    Column("last_note_ms", BigInteger, nullable=False, server_default="0"),
    Column("repeats_since_note", BigInteger, nullable=False, server_default="0"),
    Column("reopen_count", Integer, nullable=False, server_default="0"),
    Column("recurrence", Integer, nullable=False, server_default="0"),
    Column("previous_id", BigInteger, nullable=True),  # the earlier ticket this one recurs
    Column("problem_id", BigInteger, nullable=True),  # the problem record it belongs to
    Column("storm_id", BigInteger, nullable=True),  # the storm that holds it
    Index(None, "agent_id"),
    Index(None, "state"),
    Index(None, "dedup_key"),
    Index(None, "created_at_ms"),
)

OPEN_TICKET = tickets.c.state == literal_column("'open'")

# At most one live ticket per problem, open or held by a storm (0004: held too); resolved,
# closed and merged ones may repeat.
LIVE_TICKET = text("state IN ('open', 'held')")
Index(
    "uq_tickets_live_dedup_key",
    tickets.c.dedup_key,
    unique=True,
    sqlite_where=LIVE_TICKET,
    postgresql_where=LIVE_TICKET,
)
Index(None, tickets.c.rule_id)

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


# -- the ticket lifecycle and delivery (0004) ----------------------------------

ticket_notes = Table(
    "ticket_notes",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("ticket_id", BigInteger, nullable=False),
    Column("time_ms", BigInteger, nullable=False),
    Column("kind", Text, nullable=False),  # repeat | cleared | reopened | resolved | comment ...
    Column("body", Text, nullable=False),
    Index(None, "ticket_id"),
)

ticket_files = Table(
    "ticket_files",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("ticket_id", BigInteger, nullable=False),
    Column("name", Text, nullable=False),
    Column("media_type", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=False),
    UniqueConstraint("ticket_id", "name"),
)

# The outbox: every operation on a ticket a helpdesk must see, in order, written in the
# same transaction as the change; deliveries records each sink's progress through it.
ticket_ops = Table(
    "ticket_ops",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("ticket_id", BigInteger, nullable=False),
    Column("op", Text, nullable=False),  # create | note | attach | resolve | reopen
    Column("ref_id", BigInteger, nullable=False, server_default="0"),  # the note or file
    Column("not_before_ms", BigInteger, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("cancelled", Integer, nullable=False, server_default="0"),
    Index(None, "ticket_id"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("op_id", BigInteger, nullable=False),
    Column("sink", Text, nullable=False),
    Column("state", Text, nullable=False),  # waiting | retrying | done | failed | cancelled
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_ms", BigInteger, nullable=False),
    Column("last_error", Text, nullable=False),
    Column("memo", Text, nullable=False),  # JSON: what makes the adapter's retry safe
    Column("updated_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("op_id", "sink"),
    Index(None, "sink", "state"),  # the pending ones, per sink
)

ticket_refs = Table(
    "ticket_refs",
    metadata,
    Column("ticket_id", BigInteger, nullable=False),
    Column("sink", Text, nullable=False),
    Column("external_id", Text, nullable=False),
    Column("url", Text, nullable=False),
    PrimaryKeyConstraint("ticket_id", "sink"),
)

# A sink delivers the tickets opened after it was first configured (since_ticket_id):
# adding a helpdesk does not replay the store's whole history into it.
sinks = Table(
    "sinks",
    metadata,
    Column("name", Text, primary_key=True),
    Column("since_ticket_id", BigInteger, nullable=False),
    Column("registered_ms", BigInteger, nullable=False),
)

silences = Table(
    "silences",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("scope", Text, nullable=False),  # host | site | rule
    Column("value", Text, nullable=False),  # a hostname or agent id, a site, a rule glob
    Column("reason", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Column("hits", BigInteger, nullable=False, server_default="0"),
)

# -- the console's people and integrations (0005) ----------------------------------

# Local console users; the password is an argon2id hash (collector/web/auth.py).
users = Table(
    "users",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False, unique=True),
    Column("role", Text, nullable=False),  # viewer | L1 | L2 | admin
    Column("password_hash", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("last_login_ms", BigInteger, nullable=False, server_default="0"),
)

# A browser session: only the SHA-256 of its cookie is kept, so a copy of the database
# does not hand out logins. csrf is the token every state-changing form must carry.
sessions = Table(
    "sessions",
    metadata,
    Column("token_sha256", Text, primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("csrf", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Index(None, "user_id"),
)

# API tokens for integrations: a bearer secret with a role of its own, shown once.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False, unique=True),
    Column("role", Text, nullable=False),
    Column("token_sha256", Text, nullable=False, unique=True),
    Column("created_by", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("last_used_ms", BigInteger, nullable=False, server_default="0"),
)

# The host page reads one host's snapshots by time; the overview counts open tickets by
# priority and tier, and a host's health is its worst open ticket.
Index("ix_telemetry_host_time", telemetry.c.agent_id, telemetry.c.kind, telemetry.c.observed_at_ms)
Index("ix_tickets_open_by_host", tickets.c.state, tickets.c.agent_id, tickets.c.priority)
# A host's tickets are asked for by agent id or hostname (page_tickets, list_tickets: an OR,
# which SQLite answers from two indexes or else by scanning every ticket); an incident's
# members and its fleet ticket by incident_id (the incident page, related_tickets).
Index("ix_tickets_hostname", tickets.c.hostname)
Index("ix_tickets_incident_id", tickets.c.incident_id)
