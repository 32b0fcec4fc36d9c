"""In-process sysfs and crash-folder reads for the drivers and boot probes (Linux).

They gather, the parsers interpret: each function returns JSON text of raw values (the
form a capture stores), read by agent/parsers/sysfs_devices_json.py and
agent/parsers/crash_dirs_json.py, whose docstrings show the shapes.

* pci_devices(): /sys/bus/pci/devices/* - ids, class, bound driver, AER counter files.
* edac_counts(): /sys/devices/system/edac/mc/mc*/ - corrected/uncorrected memory errors.
* crash_dirs(): the files pstore, systemd-pstore and kdump/apport left, with a bounded
  part of the text of those that hold a kernel log.

Every read is guarded: a file a driver refuses becomes null, never an exception. Only a
missing or unlistable root raises OSError (the source reports it as unavailable; for
EDAC that is the normal case on desktops without an EDAC driver).
"""

from __future__ import annotations

import json
import os
import time

SYS_PCI_DEVICES = "/sys/bus/pci/devices"
SYS_EDAC_MC = "/sys/devices/system/edac/mc"
PSTORE = "/sys/fs/pstore"
SYSTEMD_PSTORE = "/var/lib/systemd/pstore"
VAR_CRASH = "/var/crash"

MAX_DEVICES = 1024
_SMALL = 4096  # sysfs attributes are at most a page
_PCI_IDS = ("vendor", "device", "class", "subsystem_vendor", "subsystem_device")
AER_FILES = ("aer_dev_correctable", "aer_dev_nonfatal", "aer_dev_fatal")

TEXT_LIMIT = 64 * 1024  # per file
TEXT_BUDGET = 1024 * 1024  # all files together: a crash folder must not bloat a snapshot
MAX_FILES = 200  # per folder tree
MAX_DEPTH = 3  # /var/lib/systemd/pstore/<time>/<id>/dmesg.txt, /var/crash/<stamp>/dmesg.<stamp>


def _read(path: str, limit: int = _SMALL) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", errors="replace").strip()
    except OSError:
        return None


def _link_name(path: str) -> str | None:
    try:
        return os.path.basename(os.readlink(path))
    except OSError:
        return None


# --- PCI devices ------------------------------------------------------------------------


def pci_devices(root: str = SYS_PCI_DEVICES) -> str:
    slots = sorted(os.listdir(root))
    devices = [_pci_device(slot, os.path.join(root, slot)) for slot in slots[:MAX_DEVICES]]
    return json.dumps({"devices": devices, "omitted": max(0, len(slots) - MAX_DEVICES)}, indent=1)


def _pci_device(slot: str, path: str) -> dict[str, object]:
    device: dict[str, object] = {"slot": slot}
    for name in _PCI_IDS:
        device[name] = _read(os.path.join(path, name))
    device["driver"] = _link_name(os.path.join(path, "driver"))
    for name in AER_FILES:  # only PCIe devices with AER have them (kernel 5.1+)
        text = _read(os.path.join(path, name))
        if text is not None:
            device[name] = text
    return device


# --- EDAC memory controllers ------------------------------------------------------------


def edac_counts(root: str = SYS_EDAC_MC) -> str:
    names = sorted(n for n in os.listdir(root) if n.startswith("mc") and n[2:].isdigit())
    controllers = [_controller(name, os.path.join(root, name)) for name in names]
    return json.dumps({"time_ms": int(time.time() * 1000), "controllers": controllers}, indent=1)


def _int(path: str) -> int | None:
    text = _read(path)
    return int(text) if text is not None and text.isdigit() else None


def _controller(name: str, path: str) -> dict[str, object]:
    mc: dict[str, object] = {"mc": name, "mc_name": _read(os.path.join(path, "mc_name"))}
    for counter in ("ce_count", "ue_count", "ce_noinfo_count", "ue_noinfo_count"):
        mc[counter] = _int(os.path.join(path, counter))
    dimms = []
    try:
        # dimmN since kernel 3.6 (rankN on csrow-based drivers): per-DIMM counts and labels.
        children = sorted(os.listdir(path))
    except OSError:
        children = []
    for child in children:
        if not child.startswith(("dimm", "rank")) or not child[4:].isdigit():
            continue
        d = os.path.join(path, child)
        dimms.append(
            {
                "dimm": child,
                "label": _read(os.path.join(d, "dimm_label")),
                "ce_count": _int(os.path.join(d, "dimm_ce_count")),
                "ue_count": _int(os.path.join(d, "dimm_ue_count")),
            }
        )
    mc["dimms"] = dimms
    return mc


# --- crash folders ----------------------------------------------------------------------


def crash_dirs(
    pstore: str = PSTORE, var_crash: str = VAR_CRASH, systemd_pstore: str = SYSTEMD_PSTORE
) -> str:
    budget = [TEXT_BUDGET]
    dirs = [
        _crash_dir("pstore", pstore, budget),
        _crash_dir("pstore", systemd_pstore, budget),
        _crash_dir("var_crash", var_crash, budget),
    ]
    doc = {"time_ms": int(time.time() * 1000), "text_limit": TEXT_LIMIT, "dirs": dirs}
    return json.dumps(doc, indent=1)


def _crash_dir(source: str, root: str, budget: list[int]) -> dict[str, object]:
    entry: dict[str, object] = {"source": source, "root": root, "present": False, "error": ""}
    files: list[dict[str, object]] = []
    entry["files"] = files
    if not os.path.isdir(root):
        return entry
    entry["present"] = True
    try:
        _walk(root, 1, files, budget)
    except OSError as exc:  # the root itself unreadable (not root, or a hung mount)
        entry["error"] = f"{type(exc).__name__}: {exc.strerror or exc}"
    return entry


def _walk(path: str, depth: int, files: list[dict[str, object]], budget: list[int]) -> None:
    with os.scandir(path) as it:
        entries = sorted(it, key=lambda e: e.name)
    for e in entries:
        if len(files) >= MAX_FILES:
            return
        try:
            if e.is_dir(follow_symlinks=False):
                if depth < MAX_DEPTH:
                    _walk(e.path, depth + 1, files, budget)
                continue
            if not e.is_file(follow_symlinks=False):
                continue
            st = e.stat(follow_symlinks=False)
        except OSError:
            continue  # vanished or unreadable below the root: skip this one
        record: dict[str, object] = {
            "path": e.path,
            "name": e.name,
            "size": st.st_size,
            "mtime_ms": int(st.st_mtime * 1000),
            "text": None,
            "truncated": False,
        }
        how = _text_kind(e.name)
        if how and budget[0] > 0:
            text, truncated = _bounded_text(e.path, st.st_size, min(TEXT_LIMIT, budget[0]), how)
            if text is not None:
                budget[0] -= len(text)
                record["text"], record["truncated"] = text, truncated
        files.append(record)


def _text_kind(name: str) -> str:
    """ "tail" for kernel logs (the oops is at their end), "head" for apport reports
    (their header names the problem), "" for the rest (vmcores, compressed records)."""
    if name.endswith((".z", ".enc.z", ".gz", ".xz", ".lz4", ".zst")):
        return ""
    if name.startswith("dmesg") or name == "vmcore-dmesg.txt":
        return "tail"
    if name.endswith(".crash"):
        return "head"
    return ""


def _bounded_text(path: str, size: int, limit: int, how: str) -> tuple[str | None, bool]:
    try:
        with open(path, "rb") as f:
            if how == "tail" and size > limit:
                f.seek(size - limit)
                data = f.read(limit)
                # Start at a line boundary so the first line is not a fragment.
                cut = data.find(b"\n")
                return data[cut + 1 :].decode("utf-8", errors="replace"), True
            data = f.read(limit + 1)
    except OSError:
        return None, False
    return data[:limit].decode("utf-8", errors="replace"), len(data) > limit
