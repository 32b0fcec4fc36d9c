"""The agent's path to the collector: records → protobuf → durable spool → gRPC stream."""
