"""rdiag-collector: serve, tickets, silences, findings, incidents, hosts, rules, config."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import collector
from agent.common.cli import (
    config_command,
    fail,
    install_stop_handlers,
    load_or_exit,
    run_main,
    setup_logging,
)
from collector.config import ENV_PREFIX, CollectorConfig
from collector.store import StoreError
from collector.tickets.cli import add_parsers as add_ticket_parsers
from collector.tickets.cli import run_silences, run_tickets
from collector.web.cli import add_parsers as add_account_parsers

PROG = "rdiag-collector"
log = logging.getLogger("rdiag.collector")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="rdiag collector")
    p.add_argument("--version", action="version", version=f"{PROG} {collector.__version__}")
    p.add_argument("--config", type=Path, help="TOML configuration file")
    p.add_argument(
        "--store", metavar="URL", help="database URL (default sqlite:///rdiag-collector.db)"
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="receive agent streams, diagnose, open tickets")
    serve.add_argument("--listen", metavar="HOST:PORT", help="gRPC listen address (port 0: any)")
    serve.add_argument("--insecure", action="store_true", help="plaintext gRPC (tests and demos)")
    serve.add_argument("--tls-cert", type=Path)
    serve.add_argument("--tls-key", type=Path)
    serve.add_argument(
        "--client-ca", type=Path, help="require agent certificates signed by this CA"
    )
    serve.add_argument("--rules", type=Path, help="rules folder (default: the shipped rules/)")
    serve.add_argument(
        "--console", metavar="HOST:PORT", help="the web console's address (default 127.0.0.1:8480)"
    )
    serve.add_argument("--no-console", action="store_true", help="do not serve the web console")
    serve.add_argument("--log-format", choices=("text", "json"))

    add_ticket_parsers(sub)
    add_account_parsers(sub)

    findings = sub.add_parser("findings", help="what the rules found, per host and component")
    findings.add_argument("--host", help="agent id")
    findings.add_argument("--state", choices=("active", "cleared"))
    findings.add_argument("--json", action="store_true")

    incidents = sub.add_parser("incidents", help="fleet incidents: one rule, many hosts")
    incidents.add_argument("--json", action="store_true")

    hosts = sub.add_parser("hosts", help="list known hosts")
    hosts.add_argument("--json", action="store_true")

    rules = sub.add_parser("rules", help="lint the rule files or run their test cases")
    rules.add_argument(
        "action",
        choices=("lint", "test", "check"),
        help="lint: load every rule (file:line errors); test: run the *.test.yaml cases; "
        "check: the same as lint",
    )
    rules.add_argument(
        "path", type=Path, nargs="?", help="a rules folder, a subfolder or one file of it"
    )

    cfg = sub.add_parser("config", help="check or show the effective configuration")
    cfg.add_argument("action", choices=("check", "show"))

    verify = sub.add_parser(
        "verify", help="check the store's tickets and incidents against a scenario's expect:"
    )
    verify.add_argument("scenario", type=Path, help="a fleet simulator scenario (YAML)")
    verify.add_argument("--junit", type=Path, metavar="FILE", help="also write JUnit XML here")
    verify.add_argument("--json", action="store_true", help="the report as JSON, not a table")
    # Also after the subcommand (`verify s.yaml --store URL`); SUPPRESS keeps a --store
    # given before it from being reset by this parser's default.
    verify.add_argument(
        "--store", metavar="URL", default=argparse.SUPPRESS, help="database URL (as --store)"
    )
    return p


def _config(args: argparse.Namespace) -> CollectorConfig:
    get = vars(args).get

    def path(name: str) -> str | None:
        value = get(name)
        return str(value) if value else None

    overrides = {
        "store.url": get("store"),
        "server.listen": get("listen"),
        "server.insecure": "true" if get("insecure") else None,
        "server.tls_cert": path("tls_cert"),
        "server.tls_key": path("tls_key"),
        "server.client_ca": path("client_ca"),
        "rules.path": path("rules"),
        "console.listen": get("console"),
        "console.enabled": "false" if get("no_console") else None,
        "log.format": get("log_format"),
    }
    return load_or_exit(PROG, CollectorConfig, args.config, ENV_PREFIX, overrides)


def _serve(cfg: CollectorConfig) -> int:
    from collector.app import build

    async def main() -> None:
        app = build(cfg)
        stop = asyncio.Event()
        install_stop_handlers(stop)
        port = await app.start()
        host = cfg.server.listen.rpartition(":")[0]
        # One line on stdout that scripts and tests can wait for.
        console = f" console {app.console.url}" if app.console is not None else ""
        print(f"rdiag-collector listening on {host}:{port}{console}", flush=True)
        try:
            await stop.wait()
        finally:
            log.info("stopping")
            await app.stop()

    asyncio.run(main())
    return 0


def _open(cfg: CollectorConfig) -> Any:
    from collector.store import open_store

    return open_store(
        cfg.store.url, sqlite_synchronous=cfg.store.sqlite_synchronous,
        policy=cfg.tickets.policy(),
    )  # fmt: skip


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _tickets(args: argparse.Namespace, cfg: CollectorConfig) -> int:
    store = _open(cfg)
    try:
        return run_silences(args, store) if args.command == "silences" else run_tickets(args, store)
    finally:
        store.close()


def _hosts(args: argparse.Namespace, cfg: CollectorConfig) -> int:
    store = _open(cfg)
    try:
        hosts = store.list_hosts()
        if args.json:
            rows = [
                {"agent_id": h.agent_id, "hostname": h.inventory.hostname,
                 "os": h.inventory.os_name, "last_seen": _when(h.last_seen_ms)}
                for h in hosts
            ]  # fmt: skip
            json.dump(rows, sys.stdout, indent=2)
            print()
            return 0
        for h in hosts:
            print(f"{h.agent_id:38} {h.inventory.hostname:24} {h.inventory.os_name:32} "
                  f"last seen {_when(h.last_seen_ms)}")  # fmt: skip
        print(f"({len(hosts)} hosts)")
        return 0
    finally:
        store.close()


def _findings(args: argparse.Namespace, cfg: CollectorConfig) -> int:
    store = _open(cfg)
    try:
        rows = store.list_findings(agent_id=args.host, phase=args.state)
        if args.json:
            out = [{"agent_id": f.agent_id, "rule": f.state.rule_id, "component": f.state.component,
                    "state": f.state.phase, "summary": f.state.summary,
                    "opened": _when(f.state.opened_ms), "last_fired": _when(f.state.last_fire_ms),
                    "occurrences": f.state.occurrences, "held": f.state.held}
                   for f in rows]  # fmt: skip
            json.dump(out, sys.stdout, indent=2)
            print()
            return 0
        print(f"{'STATE':8} {'SEEN':>5}  {'HOST':24} {'RULE':36} SUMMARY")
        for f in rows:
            s = f.state
            held = f"  [{s.held}]" if s.held else ""
            print(
                f"{s.phase:8} {s.occurrences:>5}  {f.agent_id:24} {s.rule_id:36} {s.summary}{held}"
            )
        print(f"({len(rows)} findings)")
        return 0
    finally:
        store.close()


def _incidents(args: argparse.Namespace, cfg: CollectorConfig) -> int:
    store = _open(cfg)
    try:
        rows = store.list_incidents()
        if args.json:
            out = [{"id": i.id, "rule": i.rule_id, "shared": i.group, "state": i.state,
                    "summary": i.summary, "opened": _when(i.opened_ms),
                    "last_seen": _when(i.last_seen_ms),
                    "hosts": [{"agent_id": a, "hostname": h, "last_fired": _when(t)}
                              for a, h, t in i.hosts]}
                   for i in rows]  # fmt: skip
            json.dump(out, sys.stdout, indent=2)
            print()
            return 0
        for i in rows:
            print(f"#{i.id} {i.state:8} {i.summary}  (rule {i.rule_id}, shared: {i.group})")
            for agent_id, hostname, fired in i.hosts:
                print(f"    {hostname or agent_id:24} last fired {_when(fired)}")
        print(f"({len(rows)} incidents)")
        return 0
    finally:
        store.close()


def _rules(args: argparse.Namespace, cfg: CollectorConfig) -> int:
    from collector.engine.casetest import run_file
    from collector.engine.evaluate import RuleSet
    from collector.engine.load import default_rules_dir, load_rules

    pack = (cfg.rules.path or default_rules_dir()).resolve()
    target = (args.path or pack).resolve()
    if not target.exists():
        print(f"{target}: no such file or folder", file=sys.stderr)
        return 2
    # The pack is always loaded whole (correlation needs every rule); a path outside it
    # is a pack of its own.
    root = pack if target == pack or pack in target.parents else target
    if root.is_file():
        root = root.parent
    result = load_rules(root)
    for err in result.errors:
        print(err, file=sys.stderr)
    if args.action in ("lint", "check"):
        print(f"{len(result.rules)} rules loaded from {result.files} files, "
              f"{len(result.errors)} errors ({root})")  # fmt: skip
        return 1 if result.errors else 0
    files = [target] if target.is_file() else sorted(target.rglob("*.test.yaml"))
    rules = RuleSet(result.rules)
    by_rule: dict[str, list[bool]] = {}
    failed = []
    for file in files:
        for res in run_file(file, rules):
            by_rule.setdefault(res.rule_id or str(file), []).append(res.passed)
            if not res.passed:
                failed.append(res)
    width = max((len(k) for k in by_rule), default=10)
    print(f"{'rule':{width}}  cases  passed  failed")
    for rule_id, outcomes in sorted(by_rule.items()):
        print(f"{rule_id:{width}}  {len(outcomes):5}  {sum(outcomes):6}  "
              f"{len(outcomes) - sum(outcomes):6}")  # fmt: skip
    for res in failed:
        print(f"FAIL {res.name}: {res.message}", file=sys.stderr)
    tested = {k for k in by_rule}
    untested = sorted(
        r.id
        for r in result.rules
        if r.id not in tested and (target == root or target in Path(r.source).parents)
    )
    for rule_id in untested:
        print(f"{rules.by_id[rule_id].source}: {rule_id}: no test cases", file=sys.stderr)
    total = sum(len(v) for v in by_rule.values())
    print(f"{total} cases, {total - len(failed)} passed, {len(failed)} failed, "
          f"{len(untested)} rules without tests, {len(result.errors)} load errors")  # fmt: skip
    return 1 if failed or result.errors or untested or not total else 0


def _verify(args: argparse.Namespace, cfg: CollectorConfig) -> int:
    """0: every expectation holds; 1: some do not; 2: bad scenario or no store."""
    from collector.sim.scenario import ScenarioError, load_scenario
    from collector.sim.verify import verify_command

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        fail(PROG, str(exc), status=2)
    return verify_command(scenario, cfg.store.url, junit=args.junit, as_json=args.json, prog=PROG)


def _accounts(args: argparse.Namespace, cfg: CollectorConfig) -> int:
    from collector.web.cli import run_tokens, run_users

    store = _open(cfg)
    try:
        return run_users(args, store) if args.command == "users" else run_tokens(args, store)
    finally:
        store.close()


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)

    def dispatch() -> int:
        cfg = _config(args)
        setup_logging(cfg.log.level, cfg.log.format)
        try:
            match args.command:
                case "serve":
                    return _serve(cfg)
                case "tickets" | "silences":
                    return _tickets(args, cfg)
                case "hosts":
                    return _hosts(args, cfg)
                case "findings":
                    return _findings(args, cfg)
                case "incidents":
                    return _incidents(args, cfg)
                case "rules":
                    return _rules(args, cfg)
                case "config":
                    return config_command(args.action, cfg)
                case "verify":
                    return _verify(args, cfg)
                case "users" | "tokens":
                    return _accounts(args, cfg)
        except StoreError as exc:
            fail(PROG, f"store error: {exc}", status=1)
        return 2

    run_main(PROG, dispatch)
