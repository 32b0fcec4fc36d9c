"""The `crash_dirs` call's JSON (agent/syscalls_linux.py) → CrashFile per file a crash left.

Where crashes are kept on Linux:
* pstore (/sys/fs/pstore; Documentation/ABI/testing/pstore): the kernel's last log lines
  saved by a firmware or RAM backend when it panicked: dmesg-efi-<id>, dmesg-erst-<id>,
  dmesg-ramoops-<n> (".enc.z" when compressed), console-ramoops-<n>, pmsg-ramoops-<n>.
* systemd-pstore (/var/lib/systemd/pstore; systemd-pstore.service(8)) moves those files
  there at boot (Storage=external), joining dmesg parts into <id>/dmesg.txt.
* kdump: Debian's kdump-tools writes /var/crash/<YYYYmmddHHMM>/dmesg.<YYYYmmddHHMM> and
  dump.<YYYYmmddHHMM> (the vmcore); Red Hat's kdump /var/crash/<host>-<date>/vmcore and
  vmcore-dmesg.txt. Ubuntu's apport writes /var/crash/*.crash reports (mostly userspace
  crashes; "ProblemType: KernelCrash" for kernel ones).

Shape (the build VM's real answer has empty pstore folders and no /var/crash):

    {"time_ms": 1717398000000, "text_limit": 65536,
     "dirs": [
      {"source": "pstore", "root": "/sys/fs/pstore", "present": true, "error": "",
       "files": [{"path": "/sys/fs/pstore/dmesg-efi-171739800001", "name": "dmesg-efi-171739800001",
                  "size": 17543, "mtime_ms": 1717397990000, "text": "Panic#1 Part1\\n...",
                  "truncated": false}]},
      {"source": "pstore", "root": "/var/lib/systemd/pstore", "present": true, "error": "",
       "files": []},
      {"source": "var_crash", "root": "/var/crash", "present": false, "error": "", "files": []}]}

`text` is null for files whose content is not a readable log (vmcores, compressed
records); for kernel logs it is their last `text_limit` bytes (the oops is at the end),
for apport reports their first. pstore sets a file's mtime to when the record was
written, so time_ms is the crash time there; for kdump it is when the dump was saved.

What counts as a crash (see _pstore and _var_crash): pstore dmesg records, grouped per
dump; one entry per kdump folder (its dmesg when saved, else the vmcore: a dump alone
still says "this host crashed"); apport .crash reports. Everything else listed there
(console-ramoops, kexec_cmd, upload markers) is the normal state of a healthy host.
The kernel crash classifier reads `text`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.parsers import Parsed, ParseError, Warnings
from agent.parsers._json import get_list, load_object

SOURCES = frozenset({"pstore", "var_crash"})


@dataclass(frozen=True, slots=True)
class CrashFile:
    """One crash: its best file (a kernel log where there is one) and that file's text."""

    source: str  # pstore | var_crash
    path: str
    time_ms: int = 0
    text: str = ""  # "" when not read (a vmcore, a compressed record, over the budget)
    size: int = 0
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class _Listed:
    source: str
    root: str
    path: str
    name: str
    time_ms: int
    text: str | None
    size: int
    truncated: bool


def parse(text: str) -> Parsed[tuple[CrashFile, ...]]:
    doc = load_object(text, "crash_dirs")
    if "dirs" not in doc:
        raise ParseError("crash_dirs: missing key 'dirs'")
    warnings = Warnings()
    listed: list[_Listed] = []
    for i, folder in enumerate(get_list(doc, "dirs")):
        if not isinstance(folder, dict):
            warnings.add(f"dirs[{i}]: not an object")
            continue
        source, root = folder.get("source"), folder.get("root")
        if source not in SOURCES or not isinstance(root, str):
            warnings.add(f"dirs[{i}]: unknown source {source!r} or no root")
            continue
        if error := folder.get("error"):
            warnings.add(f"dirs[{i}] ({root}): {error}")
        entries = folder.get("files")
        for j, entry in enumerate(entries if isinstance(entries, list) else ()):
            if not isinstance(entry, dict):
                warnings.add(f"dirs[{i}].files[{j}]: not an object")
                continue
            path, name = entry.get("path"), entry.get("name")
            if not isinstance(path, str) or not isinstance(name, str):
                warnings.add(f"dirs[{i}].files[{j}]: no 'path' or 'name'")
                continue
            body = entry.get("text")
            listed.append(
                _Listed(
                    str(source),
                    root,
                    path,
                    name,
                    _int(entry.get("mtime_ms")),
                    body if isinstance(body, str) else None,
                    _int(entry.get("size")),
                    entry.get("truncated") is True,
                )
            )
    crashes = [*_pstore([f for f in listed if f.source == "pstore"])]
    crashes += _var_crash([f for f in listed if f.source == "var_crash"])
    return Parsed.of(tuple(crashes), warnings)


def _pstore(files: list[_Listed]) -> list[CrashFile]:
    """dmesg records only (console-/pmsg-/ftrace- hold the previous boot's normal output,
    there after every reboot). The parts of one dump share its time: one CrashFile each,
    their texts joined oldest part first (Part1 holds the end of the log)."""
    groups: dict[tuple[str, int], list[_Listed]] = {}
    for f in files:
        if f.name.startswith("dmesg"):
            groups.setdefault((f.root, f.time_ms // 1000), []).append(f)
    crashes = []
    for parts in groups.values():
        parts.sort(key=lambda f: f.name)
        first = parts[0]
        texts = [p.text for p in reversed(parts) if p.text]
        crashes.append(
            CrashFile(
                "pstore",
                first.path,
                first.time_ms,
                "\n".join(texts),
                sum(p.size for p in parts),
                any(p.truncated for p in parts),
            )
        )
    return crashes


_KDUMP_LOG = re.compile(r"dmesg\.\d+|vmcore-dmesg\.txt")
_KDUMP_CORE = re.compile(r"dump\.\d+|vmcore(?:\.flat)?")


def _var_crash(files: list[_Listed]) -> list[CrashFile]:
    """One CrashFile per kdump folder (its dmesg if saved, else the dump) and per apport
    report. Skipped: kexec_cmd (kdump-tools writes it at every boot), apport's
    .upload/.uploaded markers, locks."""
    folders: dict[str, list[_Listed]] = {}
    crashes = []
    for f in files:
        parent = f.path[: -len(f.name)].rstrip("/")
        if parent != f.root.rstrip("/") and (
            _KDUMP_LOG.fullmatch(f.name) or _KDUMP_CORE.fullmatch(f.name)
        ):
            folders.setdefault(parent, []).append(f)
        elif f.name.endswith(".crash"):
            crashes.append(_crash(f))
    for members in folders.values():
        logs = [m for m in members if _KDUMP_LOG.fullmatch(m.name)]
        crashes.append(_crash((logs or members)[0]))
    return crashes


def _crash(f: _Listed) -> CrashFile:
    return CrashFile(f.source, f.path, f.time_ms, f.text or "", f.size, f.truncated)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
