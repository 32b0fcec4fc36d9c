"""Both command lines as real processes: help everywhere, one-line config errors, masking, logs.

The subcommand lists are read from the programs' own argparse trees, so a new
subcommand is covered here without anyone remembering to add it.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import cli as agent_cli
from collector import cli as collector_cli
from tests.helpers.procs import BIN, ROOT, env, free_port

AGENT = str(BIN / "rdiag-agent")
COLLECTOR = str(BIN / "rdiag-collector")
FIXTURE = ROOT / "tests" / "fixtures" / "hosts" / "linux-debian12-vm"


def run(*argv: str, timeout: float = 60, extra_env: dict[str, str] | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout,
        env=env() | (extra_env or {}), cwd=cwd or ROOT,
    )  # fmt: skip


def command_paths(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    """Every subcommand path in an argparse tree: (), ("run",), ("tickets", "list"), ..."""
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from command_paths(sub, (*prefix, name))


AGENT_COMMANDS = list(command_paths(agent_cli._parser()))
COLLECTOR_COMMANDS = list(command_paths(collector_cli._parser()))
HELP_CASES = [(AGENT, p) for p in AGENT_COMMANDS] + [(COLLECTOR, p) for p in COLLECTOR_COMMANDS]


def test_the_command_trees_are_what_the_docs_promise() -> None:
    assert {p[0] for p in AGENT_COMMANDS if p} == {"run", "collect", "capture", "spool", "config"}
    assert set(COLLECTOR_COMMANDS) >= {("serve",), ("tickets",), ("tickets", "list"),
                                       ("tickets", "show"), ("hosts",), ("rules",),
                                       ("config",)}  # fmt: skip


@pytest.mark.parametrize(
    ("program", "path"), HELP_CASES, ids=[f"{Path(p).name} {' '.join(c)}" for p, c in HELP_CASES]
)
def test_help_for_every_command(program: str, path: tuple[str, ...]) -> None:
    out = run(program, *path, "--help")
    assert out.returncode == 0, out.stderr
    prog = Path(program).name
    assert out.stdout.startswith(f"usage: {prog} {' '.join(path)}".rstrip())
    assert "options:" in out.stdout
    assert out.stderr == ""


def test_version() -> None:
    out = run(AGENT, "--version")
    assert out.returncode == 0 and out.stdout.startswith("rdiag-agent ")


# --- bad configuration: exit 2, one line, no traceback -----------------------------------

BAD_CONFIGS = {
    "agent-unknown-key": (AGENT, '[collector]\naddres = "h:1"\n', "collector.addres",
                          "unknown key"),
    "agent-wrong-type": (AGENT, '[spool]\nmax_bytes = "lots"\n', "spool.max_bytes",
                         "expected a size such as 64MiB, got 'lots'"),
    "agent-wrong-int": (AGENT, '[collector]\nmax_in_flight = "four"\n', "collector.max_in_flight",
                        "expected an integer, got 'four'"),
    "agent-invalid-value": (AGENT, '[log]\nformat = "xml"\n', "log.format",
                            "expected text or json, got 'xml'"),
    "collector-unknown-key": (COLLECTOR, '[server]\nlisten_on = "h:1"\n', "server.listen_on",
                              "unknown key"),
    "collector-wrong-type": (COLLECTOR, "[store]\nretention = true\n", "store.retention",
                             "expected a duration such as 60s or 5m, got True"),
    "collector-bad-url": (COLLECTOR, '[store]\nurl = "rdiag.db"\n', "store.url",
                          "expected a database URL"),
}  # fmt: skip


def assert_one_line_error(out: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.mark.parametrize("case", BAD_CONFIGS)
@pytest.mark.parametrize("command", ["config check", "run"])
def test_bad_config_file(tmp_path: Path, case: str, command: str) -> None:
    program, text, key, expected = BAD_CONFIGS[case]
    if command == "run" and program == COLLECTOR:
        command = "serve"
    path = tmp_path / "bad.toml"
    path.write_text(text)
    out = run(program, "--config", str(path), *command.split())
    line = assert_one_line_error(out, str(path), key, expected)
    assert line.startswith(f"{Path(program).name}: config error: {path}: {key}: ")
    assert out.stdout == ""


@pytest.mark.parametrize("program", [AGENT, COLLECTOR])
def test_invalid_toml(tmp_path: Path, program: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[collector]\naddress = "h:1\n')
    out = run(program, "--config", str(path), "config", "check")
    assert_one_line_error(out, str(path), "not valid TOML", "line 2")


@pytest.mark.parametrize("program", [AGENT, COLLECTOR])
def test_missing_config_file(tmp_path: Path, program: str) -> None:
    path = tmp_path / "absent.toml"
    out = run(program, "--config", str(path), "config", "check")
    assert_one_line_error(out, str(path), "file not found")


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    out = run(AGENT, "config", "check", extra_env={"RDIAG_AGENT_SPOOL__MAX_BYTES": "lots"})
    assert_one_line_error(out, "environment", "RDIAG_AGENT_SPOOL__MAX_BYTES", "spool.max_bytes",
                          "expected a size")  # fmt: skip


def test_bad_flag_value_names_the_command_line(tmp_path: Path) -> None:
    out = run(AGENT, "run", "--insecure", "--collector", "nowhere", "--state-dir", str(tmp_path))
    assert_one_line_error(out, "command line", "collector.address", "expected host:port")


def test_a_source_that_is_not_a_folder(tmp_path: Path) -> None:
    out = run(AGENT, "collect", "--source", str(tmp_path / "missing"))
    assert_one_line_error(out, "collect.source", str(tmp_path / "missing"), "not a folder")


def test_a_state_dir_that_cannot_be_a_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    state = tmp_path / "file" / "state"
    out = run(AGENT, "run", "--insecure", "--collector", f"127.0.0.1:{free_port()}",
              "--source", str(FIXTURE), "--state-dir", str(state), "--once",
              "--probe-timeout", "5s")  # fmt: skip
    assert_one_line_error(out, str(state))


def test_config_check_ok() -> None:
    out = run(AGENT, "config", "check")
    assert (out.returncode, out.stdout.strip()) == (0, "configuration OK")


# --- config show -------------------------------------------------------------------------


def test_collector_config_show_masks_the_store_password() -> None:
    url = "postgresql://rdiag:s3cr3t-pw@db.example:5432/rdiag"
    for how in ("flag", "environment"):
        if how == "flag":
            out = run(COLLECTOR, "--store", url, "config", "show")
        else:
            out = run(COLLECTOR, "config", "show", extra_env={"RDIAG_COLLECTOR_STORE__URL": url})
        assert out.returncode == 0, out.stderr
        shown = json.loads(out.stdout)
        assert shown["store"]["url"] == "postgresql://rdiag:***@db.example:5432/rdiag", how
        assert "s3cr3t-pw" not in out.stdout + out.stderr


def test_agent_config_show_is_json_with_effective_values(tmp_path: Path) -> None:
    extra = {
        "RDIAG_AGENT_COLLECT__INTERVAL": "5m",
        "RDIAG_AGENT_IDENTITY__STATE_DIR": str(tmp_path),
    }
    out = run(AGENT, "config", "show", extra_env=extra)
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["collect"]["interval"] == 300
    assert shown["identity"]["state_dir"] == str(tmp_path)


# --- collect -----------------------------------------------------------------------------


def test_collect_from_a_capture_folder_prints_the_snapshot() -> None:
    out = run(AGENT, "collect", "--source", str(FIXTURE))
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout)
    snap = printed["snapshot"]
    assert snap["inventory"]["hostname"] == "vm"
    assert snap["inventory"]["os_family"] == "linux"
    assert any(v["mount"] == "/" for v in snap["volumes"])
    assert any(i["name"] == "eth0" for i in snap["interfaces"])
    assert snap["boot"]["boot_id"]
    assert printed["events"] == []
    assert "Traceback" not in out.stderr


def test_a_closed_stdout_is_not_a_traceback() -> None:
    proc = subprocess.Popen([AGENT, "collect", "--source", str(FIXTURE)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env(), cwd=ROOT)  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `| head -0`: the reader is gone before anything is written
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(60) == 141
    assert err == ""


# --- spool -------------------------------------------------------------------------------


def test_spool_command_without_a_spool(tmp_path: Path) -> None:
    out = run(AGENT, "spool", "--state-dir", str(tmp_path))
    assert out.returncode == 1
    assert out.stderr.strip() == f"rdiag-agent: no spool at {tmp_path / 'spool.db'}"


# --- logs --------------------------------------------------------------------------------


def json_lines(text: str) -> list[dict[str, object]]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "no log lines at all"
    return [json.loads(line) for line in lines]  # fails on any line that is not JSON


def test_agent_logs_are_json_lines(tmp_path: Path) -> None:
    out = run(AGENT, "run", "--insecure", "--collector", f"127.0.0.1:{free_port()}",
              "--source", str(FIXTURE), "--state-dir", str(tmp_path), "--once",
              "--once-timeout", "1", "--probe-timeout", "5s", "--log-format", "json")  # fmt: skip
    assert out.returncode == 1  # nothing listens there: spooled, not delivered
    logs = json_lines(out.stderr)
    assert {"ts", "level", "logger", "msg"} <= set(logs[0])
    msgs = [entry["msg"] for entry in logs]
    assert "agent starting" in msgs
    assert any(entry.get("status") == "UNAVAILABLE" for entry in logs)
    assert msgs[-1] == "snapshot spooled but not acknowledged by the collector in time"


def test_collector_logs_are_json_lines_and_hold_no_password(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    proc = subprocess.Popen(
        [COLLECTOR, "--store", f"sqlite:///{db}", "serve", "--insecure", "--listen",
         "127.0.0.1:0", "--log-format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline()
        assert line.startswith("rdiag-collector listening on 127.0.0.1:"), line
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    logs = json_lines(err)
    assert "stopping" in [entry["msg"] for entry in logs]


def test_collector_tickets_and_hosts_on_an_empty_store(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'c.db'}"
    out = run(COLLECTOR, "--store", store, "tickets", "list", "--json")
    assert (out.returncode, json.loads(out.stdout)) == (0, [])
    out = run(COLLECTOR, "--store", store, "hosts", "--json")
    assert (out.returncode, json.loads(out.stdout)) == (0, [])
    out = run(COLLECTOR, "--store", store, "tickets", "show", "7")
    assert (out.returncode, out.stderr.strip()) == (1, "rdiag-collector: no ticket #7")


def test_collector_rules_check_on_the_shipped_rules() -> None:
    out = run(COLLECTOR, "rules", "check")
    assert out.returncode == 0, out.stderr
    assert "0 errors" in out.stdout


def test_collector_port_in_use_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = run(COLLECTOR, "--store", f"sqlite:///{tmp_path / 'c.db'}", "serve", "--insecure",
                  "--listen", f"127.0.0.1:{port}")  # fmt: skip
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    # grpc's C core logs its own line about the failed bind; ours is the one that explains.
    ours = [line for line in out.stderr.splitlines() if line.startswith("rdiag-collector:")]
    assert len(ours) == 1 and f"127.0.0.1:{port}" in ours[0] and "server.listen" in ours[0]
