"""What both command lines share: config loading with exit status 2, logging, signals."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NoReturn, TypeVar

from agent.common import logs
from agent.common.config import ConfigError, load, redacted

T = TypeVar("T")
EXIT_CONFIG = 2


def fail(prog: str, message: str, status: int = EXIT_CONFIG) -> NoReturn:
    print(f"{prog}: {message}", file=sys.stderr)
    raise SystemExit(status)


def load_or_exit(
    prog: str,
    cls: type[T],
    path: Path | None,
    env_prefix: str,
    overrides: Mapping[str, str | None],
) -> T:
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return load(cls, path, env_prefix=env_prefix, overrides=given)
    except ConfigError as exc:
        fail(prog, f"config error: {exc}")


def config_command(action: str, cfg: object) -> int:
    """`config show` prints the effective configuration, secrets masked; `config check`
    only says it loaded (loading is the check: errors exit 2 before this runs)."""
    if action == "show":
        json.dump(redacted(cfg), sys.stdout, indent=2)
        print()
    else:
        print("configuration OK")
    return 0


def setup_logging(level: str, fmt: str) -> None:
    logs.setup(level, fmt)


def install_stop_handlers(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set stop (graceful shutdown); a second signal is left to the default."""
    loop = asyncio.get_running_loop()

    def handler(sig: signal.Signals) -> None:
        stop.set()
        loop.remove_signal_handler(sig)

    for sig in (signal.SIGTERM, signal.SIGINT):
        # Windows has no loop signal handlers: the service wrapper stops us there.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, handler, sig)


def run_main(prog: str, fn: Callable[[], int]) -> NoReturn:
    """Turn expected failures into one line and an exit status, never a traceback."""
    try:
        status = fn()
    except ConfigError as exc:
        fail(prog, f"config error: {exc}")
    except KeyboardInterrupt:
        status = 130
    except BrokenPipeError:
        # `rdiag-agent collect | head`: the reader left. Say nothing, like other Unix tools,
        # and keep the interpreter's final flush from raising again on the dead pipe.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        status = 128 + 13  # as if killed by SIGPIPE, the shell convention
    raise SystemExit(status)
