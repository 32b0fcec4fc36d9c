"""gRPC ingest: validate → convert → group commit → ack → rules."""
