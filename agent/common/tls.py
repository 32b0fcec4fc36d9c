"""gRPC channel credentials from certificate paths, with operator-readable errors."""

from __future__ import annotations

from pathlib import Path

from agent.common.config import ConfigError


def read_pem(path: Path, key: str, where: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(where, key, f"cannot read {path}: {exc.strerror}") from None
    if b"-----BEGIN" not in data:
        raise ConfigError(where, key, f"{path} is not a PEM file")
    return data
