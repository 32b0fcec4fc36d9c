"""A real `rdiag-collector serve` process: started, waited for, stopped (the tests' and the
pytest plugin's way to run one)."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent


def clean_env() -> dict[str, str]:
    """The environment without RDIAG_* settings: the collector runs on its --config alone."""
    return {k: v for k, v in os.environ.items() if not k.startswith("RDIAG_")}


@dataclass
class CollectorProc:
    proc: subprocess.Popen[str]
    address: str
    url: str
    log: Path
    console_url: str = ""  # the web console's base URL, when started with console=True

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL: no graceful anything, as a crash or an OOM kill would do."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._close()

    def _close(self) -> None:
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def stop(self, grace: float = 20) -> int:
        """SIGTERM, then SIGKILL after grace seconds (and raise: it should have stopped)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise
            finally:
                self._close()
        self._close()
        return self.proc.returncode

    def __enter__(self) -> CollectorProc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_collector(
    db: Path | str,
    log: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    config: str = "",
    extra: tuple[str, ...] = (),
    timeout: float = 30,
    env: Mapping[str, str] | None = None,
    console: bool = False,
) -> CollectorProc:
    """Start a plaintext `rdiag-collector serve` on loopback; wait for its listening line.

    db is a SQLite file or a database URL; config is TOML text for --config; host is the
    address to listen on instead of loopback (one an agent in a network namespace reaches);
    console=True serves the web console on a free loopback port (console_url), else none.
    """
    url = db if isinstance(db, str) else f"sqlite:///{db}"
    argv = [str(BIN / "rdiag-collector")]
    if config:
        path = log.with_suffix(".toml")
        path.write_text(config)
        argv += ["--config", str(path)]
    argv += ["--store", url, "serve", "--insecure", "--listen", f"{host}:{port}"]
    argv += ["--console", "127.0.0.1:0"] if console else ["--no-console"]
    argv += extra
    console_url = ""  # on the listening line (one line: the reader must not wait for two)
    child_env = dict(env) if env is not None else clean_env()
    with open(log, "a") as errfile:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=errfile,
            text=True,
            env=child_env,
        )
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        # Wait with a deadline: a collector that hangs before its listening line must not
        # hang the caller (the line itself is written whole and flushed).
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if not ready:
            break
        line = proc.stdout.readline()
        if not line:
            break
        c = re.search(r" console (\S+)", line)
        if c:
            console_url = c.group(1)
        m = re.search(r"listening on (\S+)", line)
        if m:
            return CollectorProc(proc, m.group(1), url, log, console_url)
    proc.kill()
    proc.wait()
    proc.stdout.close()
    raise RuntimeError(f"collector did not start; log:\n{log.read_text(errors='replace')}")
