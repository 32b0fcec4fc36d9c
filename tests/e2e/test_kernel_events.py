"""Kernel-log events end to end, with real processes: a simulated host's kernel log reaches
the collector as events, once, however often the agent restarts; a SIGKILL between two
runs changes nothing.

The host is the real capture of this VM with three kernel lines appended to its `kmsg`
(the /dev/kmsg dump the follower replays for a capture).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

from collector.store import open_store
from rdiag_proto.v1 import telemetry_pb2
from tests.helpers.procs import BIN, ROOT, env, start_collector

BASE = ROOT / "tests" / "fixtures" / "hosts" / "linux-debian12-vm"
LINES = (
    "blk_update_request: I/O error, dev sdb, sector 2048 op 0x0:(READ) flags 0x0 "
    "phys_seg 1 prio class 0",
    "EXT4-fs error (device sdb1): ext4_find_entry:1463: inode #2: comm ls: reading "
    "directory lblock 0",
    "nvme nvme0: controller is down; will reset: CSTS=0xffffffff, PCI_STATUS=0xffff",
)


def _host(tmp: Path) -> Path:
    host = tmp / "host"
    shutil.copytree(BASE, host)
    kmsg = (host / "kmsg").read_text()
    last = int(kmsg.strip().splitlines()[-1].split(",")[1])
    kmsg += "".join(
        f"3,{last + i},{(900 + i) * 10**6},-;{line}\n" for i, line in enumerate(LINES, 1)
    )
    (host / "kmsg").write_text(kmsg)
    manifest = json.loads((host / "manifest.json").read_text())
    manifest["specs"]["kmsg"]["bytes"] = len((host / "kmsg").read_bytes())
    (host / "manifest.json").write_text(json.dumps(manifest))
    return host


def _agent(host: Path, state: Path, address: str, *extra: str) -> list[str]:
    return [
        str(BIN / "rdiag-agent"), "--config", str(state.parent / "agent.toml"), "run",
        "--insecure", "--collector", address, "--state-dir", str(state), "--source", str(host),
        "--agent-id", "events-e2e", *extra,
    ]  # fmt: skip


def _epoch(state: Path) -> str:
    done = subprocess.run(
        [str(BIN / "rdiag-agent"), "--config", str(state.parent / "agent.toml"), "spool",
         "--state-dir", str(state)],
        capture_output=True, text=True, env=env(), cwd=ROOT, timeout=60, check=True,
    )  # fmt: skip
    return str(json.loads(done.stdout)["epoch"])


def _events(url: str, epoch: str) -> list[telemetry_pb2.Event]:
    with open_store(url) as store:
        rows = store.telemetry_payloads("events-e2e", epoch)
    records = [telemetry_pb2.Record.FromString(payload) for _, _, payload in rows]
    return [r.event for r in records if r.WhichOneof("body") == "event"]


def test_events_arrive_once_across_restarts_and_a_kill(tmp_path: Path) -> None:
    host = _host(tmp_path)
    state = tmp_path / "state"
    (tmp_path / "agent.toml").write_text("")
    col_dir = tmp_path / "collector"
    col_dir.mkdir()
    with start_collector(col_dir / "c.db", col_dir / "c.log") as col:
        for _ in range(2):  # a second run replays the same log: nothing new to send
            done = subprocess.run(
                _agent(host, state, col.address, "--once"),
                capture_output=True, text=True, env=env(), cwd=ROOT, timeout=120, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
        # A running agent SIGKILLed mid-interval, then started again.
        proc = subprocess.Popen(
            _agent(host, state, col.address, "--interval", "1s"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env(), cwd=ROOT,
        )  # fmt: skip
        time.sleep(3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        done = subprocess.run(
            _agent(host, state, col.address, "--once"),
            capture_output=True, text=True, env=env(), cwd=ROOT, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        events = _events(col.url, _epoch(state))
    kinds = [e.kind for e in events]
    assert kinds == ["disk.io_error", "disk.fs_error", "disk.nvme_reset"]
    assert [e.source for e in events] == ["kernel"] * 3
    assert events[0].fields["device"] == "sdb"
    assert events[0].severity >= telemetry_pb2.SEVERITY_ERROR
