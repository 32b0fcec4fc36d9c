"""Alembic environment: runs on the connection the store hands over.

The store runs Alembic programmatically (collector.store.sql.migrate) with an
open connection in config.attributes["connection"]; there is no alembic.ini and
no URL here, so migrations run in the store's transaction, with its PRAGMAs.
To draft a new revision from schema.py, on a database at head:
    command.revision(alembic_config(connection), "message", autogenerate=True)
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from collector.store.schema import metadata

if context.is_offline_mode():
    raise RuntimeError("rdiag store migrations run online only, on the store's connection")

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError('rdiag store migrations need config.attributes["connection"]')

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    # foreign_keys=ON is set per connection and cannot change inside this
    # transaction, so rebuilding a referenced table (hosts, streams) needs care.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
