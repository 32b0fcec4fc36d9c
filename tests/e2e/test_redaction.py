"""No unredacted sample value leaves the agent: a host full of planted personal data and
secrets, a real agent process, a real collector, and then every byte either of them
wrote (the agent's spool, the collector's SQLite file and WAL) is searched for them.

The planted values sit where real ones do: user names in mount points and kernel-log
paths, an e-mail address and a password in a kernel line, a disk serial and IP addresses
(hashed here, as `redact.hash_serials` and `redact.hash_ips` configure).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.helpers.procs import BIN, ROOT, env, start_collector

BASE = ROOT / "tests" / "fixtures" / "hosts" / "linux-debian12-vm"

USER = "jdoe7secretuser"
EMAIL = "alice.secret@corp-example.com"
PASSWORD = "Sup3rS3cretPw"
SERIAL = "SERIALSECRET9876"
ADDRESS = "192.0.2.2"  # the capture's real eth0 address
GATEWAY = "192.0.2.1"
DNS_SERVER = "10.255.255.53"
PLANTED = (USER, EMAIL, PASSWORD, SERIAL, ADDRESS, GATEWAY, DNS_SERVER)


def _plant(host: Path) -> None:
    shutil.copytree(BASE, host)
    usage = json.loads((host / "disk_usage").read_text())
    mount = dict(usage["mounts"][0], mount=f"/media/{USER}/BACKUP", device="/dev/sdb1")
    usage["mounts"].append(mount)
    (host / "disk_usage").write_text(json.dumps(usage))
    lsblk = json.loads((host / "lsblk").read_text())
    lsblk["blockdevices"].append(
        {"name": "sdb", "model": "USB Disk", "serial": SERIAL, "size": 64 * 2**30,
         "rota": False, "tran": "usb", "type": "disk"}
    )  # fmt: skip
    (host / "lsblk").write_text(json.dumps(lsblk))
    kmsg = (host / "kmsg").read_text()
    seq = len(kmsg.splitlines()) + 1000
    kmsg += (
        f"3,{seq},900000000,-;EXT4-fs error (device sdb1): ext4_lookup:1855: inode #2: "
        f"comm rsync: /media/{USER}/BACKUP/{EMAIL}.pst password={PASSWORD} from {ADDRESS}\n"
    )
    (host / "kmsg").write_text(kmsg)
    manifest = json.loads((host / "manifest.json").read_text())
    for name in ("disk_usage", "lsblk", "kmsg"):
        manifest["specs"][name]["bytes"] = len((host / name).read_bytes())
    (host / "manifest.json").write_text(json.dumps(manifest))
    for value in PLANTED:  # the test is only as good as its plants
        assert any(value in p.read_text(errors="replace") for p in host.iterdir()), value


def _all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_no_planted_value_reaches_the_spool_or_the_collector(tmp_path: Path) -> None:
    host = tmp_path / "host"
    _plant(host)
    config = tmp_path / "agent.toml"
    config.write_text('[redact]\nhash_serials = true\nhash_ips = true\nsalt = "fleet-salt"\n')
    col_dir = tmp_path / "collector"
    col_dir.mkdir()
    with start_collector(col_dir / "collector.db", col_dir / "collector.log") as col:
        state = tmp_path / "state"
        done = subprocess.run(
            [str(BIN / "rdiag-agent"), "--config", str(config), "run", "--once", "--insecure",
             "--collector", col.address, "--state-dir", str(state), "--source", str(host),
             "--agent-id", "redaction-e2e"],
            capture_output=True, text=True, env=env(), cwd=ROOT, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        shown = subprocess.run(
            [str(BIN / "rdiag-collector"), "--store", col.url, "hosts"],
            capture_output=True, text=True, env=env(), cwd=ROOT, timeout=60, check=False,
        )  # fmt: skip
        assert shown.returncode == 0, shown.stderr
    written = _all_bytes(state) + _all_bytes(col_dir)
    leaked = [v for v in PLANTED if v.encode() in written]
    assert leaked == [], f"unredacted values left the agent: {leaked}"
    # ... and what replaced them did arrive: the evidence is there, minus the person.
    assert b"/media/<user>/BACKUP" in written
    assert b"<email>" in written and b"password=<redacted>" in written
    assert b"h:" in written
    assert b"EXT4-fs error (device sdb1)" in written
