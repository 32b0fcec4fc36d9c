"""The collector's store: one SQLAlchemy Core implementation for SQLite and PostgreSQL.

    store = open_store("sqlite:///rdiag.db")          # migrates to head
    store = open_store("postgresql+psycopg://u@h/db")

Every method is synchronous and runs one transaction; the asyncio ingest path
calls it from a worker thread.
"""

from collector.store.model import (
    AgentHealth,
    BatchResult,
    DeliveryStatus,
    Host,
    Incident,
    IncomingBatch,
    PendingOp,
    RecordKind,
    RejectedBatch,
    Resolution,
    Silence,
    StoredFinding,
    StoredRecord,
    Ticket,
    TicketDraft,
    TicketFile,
    TicketNote,
    TicketRef,
    TicketState,
)
from collector.store.sql import SqlStore, StoreError, open_store
from collector.store.ticketing import TicketError

__all__ = [
    "AgentHealth",
    "DeliveryStatus",
    "PendingOp",
    "Resolution",
    "Silence",
    "TicketError",
    "TicketFile",
    "TicketNote",
    "TicketRef",
    "BatchResult",
    "Host",
    "Incident",
    "IncomingBatch",
    "RecordKind",
    "RejectedBatch",
    "SqlStore",
    "StoreError",
    "StoredFinding",
    "StoredRecord",
    "Ticket",
    "TicketDraft",
    "TicketState",
    "open_store",
]
