"""The sysfs and crash-folder gatherers on fake trees, and once on this machine."""

import json
import os
import sys
from pathlib import Path

import pytest

from agent import syscalls_linux
from agent.parsers import crash_dirs_json, sysfs_devices_json

# Documentation/ABI/testing/sysfs-bus-pci-devices-aer: one "<error> <count>" line each.
AER_COR = "".join(
    f"{name} {count}\n"
    for name, count in [
        *(("RxErr", 3), ("BadTLP", 0), ("BadDLLP", 0), ("Rollover", 0), ("Timeout", 0)),
        *(("NonFatalErr", 0), ("CorrIntErr", 0), ("HeaderOF", 0), ("TOTAL_ERR_COR", 3)),
    ]
)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _pci_tree(root: Path) -> Path:
    devices = root / "bus" / "pci" / "devices"
    drivers = root / "bus" / "pci" / "drivers"
    for slot, ids, driver in [
        ("0000:00:1f.6", ("0x8086", "0x15fa", "0x020000"), "e1000e"),
        ("0000:02:00.0", ("0x8086", "0x2723", "0x028000"), None),
    ]:
        d = devices / slot
        for name, value in zip(("vendor", "device", "class"), ids, strict=True):
            _write(d / name, value + "\n")
        if driver:
            (drivers / driver).mkdir(parents=True, exist_ok=True)
            os.symlink(drivers / driver, d / "driver")
    _write(devices / "0000:00:1f.6" / "aer_dev_correctable", AER_COR)
    return devices


def test_pci_devices_on_a_fake_tree(tmp_path: Path) -> None:
    doc = json.loads(syscalls_linux.pci_devices(str(_pci_tree(tmp_path))))
    nic, wifi = doc["devices"]
    assert nic["slot"] == "0000:00:1f.6"
    assert (nic["vendor"], nic["device"], nic["class"], nic["driver"]) == (
        "0x8086",
        "0x15fa",
        "0x020000",
        "e1000e",
    )
    assert nic["aer_dev_correctable"].endswith("TOTAL_ERR_COR 3")
    assert nic["subsystem_vendor"] is None  # absent file: null, not an error
    assert wifi["driver"] is None and "aer_dev_correctable" not in wifi
    devices = sysfs_devices_json.parse(json.dumps(doc)).value
    assert [(d.driver, d.problem) for d in devices] == [("e1000e", ""), ("", "no driver bound")]
    aer = sysfs_devices_json.parse_aer(json.dumps(doc)).value
    assert [(a.slot, a.correctable) for a in aer] == [("0000:00:1f.6", 3)]


def test_missing_roots_raise_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        syscalls_linux.pci_devices(str(tmp_path / "nope"))
    with pytest.raises(OSError):
        syscalls_linux.edac_counts(str(tmp_path / "nope"))


def test_edac_counts_on_a_fake_tree(tmp_path: Path) -> None:
    mc0 = tmp_path / "mc0"
    _write(mc0 / "mc_name", "Skylake Socket#0 IMC#0\n")
    _write(mc0 / "ce_count", "4\n")
    _write(mc0 / "ue_count", "0\n")
    _write(mc0 / "dimm0" / "dimm_label", "CPU_SrcID#0_MC#0_Chan#0_DIMM#0\n")
    _write(mc0 / "dimm0" / "dimm_ce_count", "4\n")
    _write(mc0 / "dimm0" / "dimm_ue_count", "0\n")
    (mc0 / "power").mkdir()
    (tmp_path / "mc1").mkdir()
    _write(tmp_path / "power" / "x", "")  # not a controller
    doc = json.loads(syscalls_linux.edac_counts(str(tmp_path)))
    first, second = doc["controllers"]
    assert (first["mc"], first["ce_count"], first["ue_count"]) == ("mc0", 4, 0)
    assert first["dimms"] == [
        {"dimm": "dimm0", "label": "CPU_SrcID#0_MC#0_Chan#0_DIMM#0", "ce_count": 4, "ue_count": 0}
    ]
    assert (second["mc"], second["ce_count"], second["dimms"]) == ("mc1", None, [])
    assert isinstance(doc["time_ms"], int) and doc["time_ms"] > 0
    edac0, edac1 = sysfs_devices_json.parse_edac_devices(json.dumps(doc)).value
    assert edac0.problem == "memory errors on CPU_SrcID#0_MC#0_Chan#0_DIMM#0: 4 CE, 0 UE"
    assert (edac0.corrected_errors, edac1.corrected_errors) == (4, 0)


def test_crash_dirs_on_fake_trees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pstore, var_crash = tmp_path / "pstore", tmp_path / "crash"
    _write(
        pstore / "dmesg-ramoops-0", "Oops#1 Part1\n<4>[  12.3] BUG: unable to handle page fault\n"
    )
    _write(pstore / "dmesg-ramoops-1.enc.z", "\x78\x9c compressed")
    _write(pstore / "console-ramoops-0", "console\n")
    big = (
        "".join(f"[{i:6d}] line {i}\n" for i in range(9000))
        + "Kernel panic - not syncing: Fatal exception\n"
    )
    _write(var_crash / "202406010700" / "dmesg.202406010700", big)
    _write(var_crash / "202406010700" / "dump.202406010700", "ELF")
    _write(var_crash / "kexec_cmd", "kexec -p ...\n")
    _write(var_crash / "a" / "b" / "c" / "dmesg.too-deep", "x")
    monkeypatch.setattr(syscalls_linux, "TEXT_LIMIT", 4096)
    doc = json.loads(
        syscalls_linux.crash_dirs(str(pstore), str(var_crash), str(tmp_path / "no-systemd-pstore"))
    )
    assert [d["present"] for d in doc["dirs"]] == [True, False, True]
    files = {f["name"]: f for d in doc["dirs"] for f in d["files"]}
    assert files["dmesg-ramoops-0"]["text"].startswith("Oops#1 Part1")
    assert files["dmesg-ramoops-1.enc.z"]["text"] is None
    assert files["console-ramoops-0"]["text"] is None
    dmesg = files["dmesg.202406010700"]
    assert dmesg["truncated"] and dmesg["size"] == len(big)
    # The tail of a kernel log, from a line start: the panic is at the end.
    assert dmesg["text"].endswith("Kernel panic - not syncing: Fatal exception\n")
    assert dmesg["text"].startswith("[") and len(dmesg["text"]) <= 4096
    assert "dmesg.too-deep" not in files
    crashes = crash_dirs_json.parse(json.dumps(doc)).value
    assert [(c.source, Path(c.path).name) for c in crashes] == [
        ("pstore", "dmesg-ramoops-0"),
        ("var_crash", "dmesg.202406010700"),
    ]


def test_crash_text_budget_is_shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(3):
        _write(tmp_path / "pstore" / f"dmesg-erst-{i}", "x" * 100)
    monkeypatch.setattr(syscalls_linux, "TEXT_BUDGET", 150)
    doc = json.loads(
        syscalls_linux.crash_dirs(
            str(tmp_path / "pstore"), str(tmp_path / "c"), str(tmp_path / "s")
        )
    )
    texts = [f["text"] for f in doc["dirs"][0]["files"]]
    assert [len(t) if t else 0 for t in texts] == [100, 50, 0]


linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads this Linux host's /sys"
)


@linux_only
def test_real_sysfs_of_this_machine() -> None:
    if not os.path.isdir(syscalls_linux.SYS_PCI_DEVICES):
        pytest.skip("no PCI bus in this machine's sysfs")
    parsed = sysfs_devices_json.parse(syscalls_linux.pci_devices())
    assert parsed.warnings == 0
    assert parsed.value, "a PCI bus with no device"
    assert all(d.bus == "pci" and d.id.count(":") == 2 for d in parsed.value)
    # Whatever a device's driver is, it is what sysfs links to.
    for d in parsed.value:
        link = Path(syscalls_linux.SYS_PCI_DEVICES) / d.id / "driver"
        assert d.driver == (os.path.basename(os.readlink(link)) if link.is_symlink() else "")


@linux_only
def test_real_crash_dirs_and_edac_of_this_machine() -> None:
    parsed = crash_dirs_json.parse(syscalls_linux.crash_dirs())
    assert parsed.warnings == 0 or os.geteuid() != 0
    try:
        text = syscalls_linux.edac_counts()
    except OSError:
        assert not os.path.isdir(syscalls_linux.SYS_EDAC_MC)
    else:
        sysfs_devices_json.parse_edac_devices(text)
