"""Capture this machine, replay the capture: the fixture format is the capture format."""

import json
import sys
from pathlib import Path

import pytest

from agent.capture import RecordingSource, capture
from agent.probes import PROBES, ProbeOutput
from agent.sources import (
    DirectorySource,
    LiveSource,
    ScenarioSource,
    Source,
    SourceTimeout,
    Unavailable,
)
from agent.specs import MACHINE_ID, OS_RELEASE, SMARTCTL_SCAN


def _collect(source: Source) -> dict[str, ProbeOutput]:
    return {probe.name: probe.collect(source) for probe in PROBES}


def _spec_files(folder: Path) -> dict[str, bytes]:
    skip = {"host.toml", "manifest.json"}
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name not in skip}


@pytest.mark.live_host
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux probes only for now")
def test_capture_then_replay_reproduces_the_live_host(tmp_path):
    live = LiveSource()
    # What the probes made of this host while it was being captured ...
    recorder = RecordingSource(live)
    seen_live = _collect(recorder)
    readings = capture(recorder, PROBES, tmp_path / "a")
    assert {"host_facts", "os_release", "machine_id", "disk_usage", "smartctl_scan"} <= set(
        readings
    )
    assert {"ip_addr", "sysfs_net", "diskstats", "boot_id", "pci_devices"} <= set(readings)
    replayed = _collect(DirectorySource(tmp_path / "a"))
    # ... is exactly what they make of the capture: every record, every error.
    assert replayed == seen_live
    # Replay against replay: exactly the same, errors included.
    assert replayed == _collect(DirectorySource(tmp_path / "a"))
    # A capture of the replay is the same capture, byte for byte.
    capture(DirectorySource(tmp_path / "a"), PROBES, tmp_path / "b")
    assert _spec_files(tmp_path / "a") == _spec_files(tmp_path / "b")
    manifest_a = json.loads((tmp_path / "a" / "manifest.json").read_text())["specs"]
    manifest_b = json.loads((tmp_path / "b" / "manifest.json").read_text())["specs"]
    for entries in (manifest_a, manifest_b):
        for entry in entries.values():
            entry.pop("duration_s")
            entry.pop("started_s")
    assert manifest_a == manifest_b

    # Structure against a fresh live read: only fill levels may move on a busy machine.
    now = _collect(live)
    assert now["inventory"] == replayed["inventory"]
    assert [(v.mount, v.device, v.fstype, v.total_bytes) for v in now["disk"].volumes] == [
        (v.mount, v.device, v.fstype, v.total_bytes) for v in replayed["disk"].volumes
    ]
    assert now["smart"] == replayed["smart"]
    assert [e.kind for o in now.values() for e in o.errors] == [
        e.kind for o in replayed.values() for e in o.errors
    ]


def test_capture_writes_the_documented_layout(tmp_path):
    failed_output = '{"smartctl": {"exit_status": 2}}'
    source = ScenarioSource(
        "linux",
        {
            "os_release": "ID=x\r\n",
            "machine_id": "",  # empty is not "not captured"
            "smartctl_scan": Unavailable(
                "smartctl exited with status 2", output=failed_output, exit_status=2
            ),
        },
    )
    capture(source, (OS_RELEASE, MACHINE_ID, *PROBES), tmp_path / "c", hostname='pc "7"')
    out = tmp_path / "c"
    assert (out / "os_release").read_bytes() == b"ID=x\r\n"
    assert DirectorySource(out).read(MACHINE_ID) == ""
    host = (out / "host.toml").read_text()
    assert 'os = "linux"' in host and 'hostname = "pc \\"7\\""' in host
    assert "captured_at = " in host
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["os"], manifest["hostname"], manifest["redacted"]) == (
        "linux",
        'pc "7"',
        False,
    )
    assert {"captured_at", "finished_at", "agent_version", "python", "platform"} <= set(manifest)
    assert (
        "smartctl_scan" in manifest["unavailable"] and "os_release" not in manifest["unavailable"]
    )
    specs = manifest["specs"]
    assert specs["smartctl_scan"]["exit_status"] == 2
    assert specs["os_release"]["status"] == "ok"
    assert specs["os_release"]["path"] == "/etc/os-release"
    assert specs["smartctl_scan"]["status"] == "unavailable"
    assert specs["smartctl_scan"]["argv"] == list(SMARTCTL_SCAN.argv)
    # The replay fails the same way, output included.
    with pytest.raises(Unavailable, match="status 2") as info:
        DirectorySource(out).read(SMARTCTL_SCAN)
    assert info.value.output == failed_output


def test_capture_refuses_a_folder_in_use(tmp_path):
    (tmp_path / "old").write_text("stale")
    with pytest.raises(FileExistsError, match="not empty"):
        capture(ScenarioSource("linux", {}), (), tmp_path)


def test_recording_source_reads_each_spec_once():
    calls = []

    class Counting(ScenarioSource):
        def read(self, spec):
            calls.append(spec.name)
            return super().read(spec)

    recorder = RecordingSource(Counting("linux", {"os_release": "ID=x\n"}))
    assert recorder.read(OS_RELEASE) == recorder.read(OS_RELEASE) == "ID=x\n"
    for _ in range(2):
        with pytest.raises(Unavailable, match="not captured"):
            recorder.read(SMARTCTL_SCAN)
    assert calls == ["os_release", "smartctl_scan"]


def test_recording_source_keeps_a_timeout_a_timeout():
    slow = SourceTimeout("timeout: smartctl did not finish within 30 s (killed)")
    recorder = RecordingSource(ScenarioSource("linux", {"smartctl_scan": slow}))
    for _ in range(2):
        with pytest.raises(SourceTimeout, match="did not finish"):
            recorder.read(SMARTCTL_SCAN)
