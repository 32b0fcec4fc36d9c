"""rdiag-agent: run | collect | capture | spool | config. `rdiag-agent COMMAND --help` for each."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import agent
from agent.common.cli import (
    config_command,
    install_stop_handlers,
    load_or_exit,
    run_main,
    setup_logging,
)
from agent.config import ENV_PREFIX, AgentConfig
from agent.sources import DirectorySource, LiveSource, Source
from agent.uplink.spool import Spool, SpoolError

PROG = "rdiag-agent"
DEFAULT_CONFIG = Path("/etc/rdiag/agent.toml")
log = logging.getLogger("rdiag.agent")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="rdiag workstation agent")
    p.add_argument("--version", action="version", version=f"{PROG} {agent.__version__}")
    p.add_argument(
        "--config",
        type=Path,
        help=f"TOML configuration file (default: {DEFAULT_CONFIG} when it exists)",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="collect on an interval and stream to the collector")
    run.add_argument("--collector", metavar="HOST:PORT", help="collector address")
    run.add_argument("--insecure", action="store_true", help="plaintext gRPC (tests and demos)")
    run.add_argument(
        "--source", type=Path, metavar="DIR", help="read a capture folder, not this host"
    )
    run.add_argument("--state-dir", type=Path, help="where the agent id and the spool live")
    run.add_argument("--spool", type=Path, help="spool file (default: STATE_DIR/spool.db)")
    run.add_argument("--agent-id", help="agent id (default: made once, kept in STATE_DIR)")
    run.add_argument("--interval", help="collection interval, e.g. 60s")
    run.add_argument(
        "--probe-timeout", help="per-probe timeout, e.g. 20s (capped at twice the interval)"
    )
    run.add_argument(
        "--once", action="store_true", help="one cycle, deliver it, exit (1 if undelivered)"
    )
    run.add_argument(
        "--once-timeout", type=float, default=60.0, help="seconds --once waits for acks"
    )
    run.add_argument("--log-format", choices=("text", "json"))

    col = sub.add_parser("collect", help="run the probes once and print the snapshot as JSON")
    col.add_argument(
        "--source", type=Path, metavar="DIR", help="read a capture folder, not this host"
    )
    col.add_argument("--probe-timeout", help="per-probe timeout, e.g. 20s")

    cap = sub.add_parser(
        "capture", help="write everything the probes read into DIR (a capture folder)"
    )
    cap.add_argument("dir", type=Path)
    cap.add_argument(
        "--no-redact",
        action="store_true",
        help="keep user names, e-mail addresses and tokens (for test fixtures only)",
    )

    sp = sub.add_parser("spool", help="show the spool: records waiting, bytes, drops by reason")
    sp.add_argument("--state-dir", type=Path)
    sp.add_argument("--spool", type=Path)

    cfg = sub.add_parser("config", help="check or show the effective configuration")
    cfg.add_argument("action", choices=("check", "show"))
    return p


def _config(args: argparse.Namespace) -> AgentConfig:
    path = args.config
    if path is None and DEFAULT_CONFIG.exists():
        path = DEFAULT_CONFIG
    get = vars(args).get
    overrides = {
        "collector.address": get("collector"),
        "collector.insecure": "true" if get("insecure") else None,
        "collect.source": str(get("source")) if get("source") else None,
        "identity.state_dir": str(get("state_dir")) if get("state_dir") else None,
        "identity.agent_id": get("agent_id"),
        "spool.path": str(get("spool")) if get("spool") else None,
        "collect.interval": get("interval"),
        "collect.probe_timeout": get("probe_timeout"),
        "log.format": get("log_format"),
    }
    return load_or_exit(PROG, AgentConfig, path, ENV_PREFIX, overrides)


def source_for(cfg: AgentConfig) -> Source:
    if cfg.collect.source is not None:
        if not cfg.collect.source.is_dir():
            from agent.common.cli import fail

            fail(PROG, f"config error: collect.source: {cfg.collect.source} is not a folder")
        return DirectorySource(cfg.collect.source)
    return LiveSource()


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    return obj


def _run(args: argparse.Namespace, cfg: AgentConfig) -> int:
    from agent.service import AgentRuntime, resolve_agent_id

    async def main() -> bool:
        runtime = AgentRuntime(cfg, agent_id=resolve_agent_id(cfg), source=source_for(cfg))
        install_stop_handlers(runtime.stop)
        log.info(
            "agent starting",
            extra={"agent_id": runtime.agent_id, "collector": cfg.collector.address,
                   "spool": str(cfg.spool_path), "version": agent.__version__},
        )  # fmt: skip
        return await runtime.run(once=args.once, once_timeout=args.once_timeout)

    try:
        delivered = asyncio.run(main())
    except SpoolError as exc:
        from agent.common.cli import fail

        fail(PROG, str(exc))
    except OSError as exc:
        # A state dir that is read-only, full, or has a file in the way.
        from agent.common.cli import fail

        fail(PROG, f"cannot write the agent state in {cfg.identity.state_dir}: {exc}")
    if args.once and not delivered:
        log.error("snapshot spooled but not acknowledged by the collector in time")
        return 1
    if args.once:
        log.info("snapshot delivered", extra={"collector": cfg.collector.address})
    return 0


def _collect(cfg: AgentConfig) -> int:
    from agent.probes import PROBES
    from agent.redact import Redactor
    from agent.runner import collect
    from agent.service import now_ms, probe_context

    probes = [p for p in PROBES if p.name in cfg.collect.probes]
    got = asyncio.run(
        collect(
            source_for(cfg),
            probes,
            timeout_s=float(cfg.collect.probe_timeout),
            clock_ms=now_ms,
            agent_version=agent.__version__,
            context=probe_context(cfg),
        )
    )
    # Exactly what `run` would spool: redacted (rates need two cycles, so none here).
    redactor = Redactor(cfg.redact)
    snap = redactor.record(got.snapshot)
    events = [redactor.record(e) for evs in got.events.values() for e in evs]
    json.dump({"snapshot": _jsonable(snap), "events": _jsonable(events)}, sys.stdout, indent=2)
    print()
    return 0


def _capture(args: argparse.Namespace, cfg: AgentConfig) -> int:
    from agent.capture import capture
    from agent.probes import PROBES
    from agent.redact import Redactor
    from agent.specs import BOOT_ID, KMSG_DUMP

    source = source_for(cfg)
    extra = (BOOT_ID, KMSG_DUMP) if source.os == "linux" and cfg.collect.follow_kernel_log else ()
    redactor = None if args.no_redact else Redactor(cfg.redact)
    from agent.service import probe_context

    readings = capture(
        source, (*extra, *PROBES), args.dir, redactor=redactor, context=probe_context(cfg)
    )
    missing = sum(1 for r in readings.values() if r.content is None)
    print(
        f"captured {len(readings)} specs into {args.dir} ({missing} unavailable, "
        f"{'redacted' if redactor else 'NOT redacted'}; see manifest.json)"
    )
    return 0


def _spool(cfg: AgentConfig) -> int:
    from agent.common.cli import fail

    if not cfg.spool_path.exists():
        fail(PROG, f"no spool at {cfg.spool_path}", status=1)
    try:
        spool = Spool(cfg.spool_path, int(cfg.spool.max_bytes))
    except SpoolError as exc:
        fail(PROG, str(exc), status=1)
    status = spool.status()
    spool.close()
    json.dump(dataclasses.asdict(status), sys.stdout, indent=2)
    print()
    return 0


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)

    def dispatch() -> int:
        cfg = _config(args)
        setup_logging(cfg.log.level, cfg.log.format)
        match args.command:
            case "run":
                return _run(args, cfg)
            case "collect":
                return _collect(cfg)
            case "capture":
                return _capture(args, cfg)
            case "spool":
                return _spool(cfg)
            case "config":
                return config_command(args.action, cfg)
        return 2

    run_main(PROG, dispatch)
