"""Real processes for the end-to-end and fault tests: collectors, agents, feeders."""

from __future__ import annotations

from pathlib import Path

from collector.sim.process import BIN, CollectorProc, clean_env
from collector.sim.process import start_collector as _start

ROOT = Path(__file__).resolve().parents[2]
__all__ = ["BIN", "ROOT", "CollectorProc", "env", "free_port", "start_collector"]


def env() -> dict[str, str]:
    out = clean_env()
    out["PYTHONPATH"] = str(ROOT)
    return out


def start_collector(
    db: Path | str,
    log: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    config: str = "",
    extra: tuple[str, ...] = (),
    timeout: float = 30,
    console: bool = False,
) -> CollectorProc:
    """collector.sim.process.start_collector with this checkout on PYTHONPATH."""
    return _start(db, log, host=host, port=port, config=config, extra=extra, timeout=timeout,
                  env=env(), console=console)  # fmt: skip


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
