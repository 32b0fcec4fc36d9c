"""Kernel log lines → classified Events: `dmesg` text, syslog / "messages" files and
`journalctl -k` short outputs. The signature table (`classify`) is shared with the
journal JSON and /dev/kmsg readers.

Line formats (a real sample of each; docs: dmesg(1) https://man7.org/linux/man-pages/man1/dmesg.1.html,
/dev/kmsg https://www.kernel.org/doc/Documentation/ABI/testing/dev-kmsg, journalctl(1)
https://www.freedesktop.org/software/systemd/man/latest/journalctl.html, BSD syslog RFC 3164):

    [    2.874051] XFS (vda1): Mounting V5 Filesystem                       dmesg
    kern  :warn  : [    0.000000] [Firmware Bug]: TSC doesn't count ...     dmesg -x
    <6>[   85.501187] nouveau  [     DRM] suspending kernel object tree... dmesg -r, consoles
    [  560.713151][ T1194] WARNING: CPU: 2 PID: 1194 at net/xfrm/...      CONFIG_PRINTK_CALLER
    May 18 15:13:34 lxc-rhel68-sat56 kernel: bnx2 0000:0b:00.0: eth0: using MSIX   messages
    Dec 01 19:21:21.180499 vm kernel: zram: Added device: zram0       journalctl -o short-precise
    2026-12-01T19:21:21+0000 vm kernel: tun: Universal TUN/TAP device   journalctl -o short-iso

The signatures are those of ../shared/domain/failure-signatures.md sections 2-5; the id next
to each pattern names its catalog entry. Kernel strings change between versions, so every
known variant is listed. Matching is on the message only (the prefix stripped), and most
lines match nothing: one combined keyword regex rejects them before any pattern runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import MappingProxyType

from agent.parsers import Parsed, Warnings
from agent.records import Event, Severity

INFO, WARNING, ERROR, CRITICAL = (
    Severity.INFO,
    Severity.WARNING,
    Severity.ERROR,
    Severity.CRITICAL,
)


@dataclass(frozen=True, slots=True)
class Classified:
    kind: str  # dotted event kind, e.g. disk.io_error
    severity: Severity
    fields: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))


@dataclass(frozen=True, slots=True)
class _Signature:
    id: str  # failure-signatures.md entry
    kind: str
    severity: Severity
    # Literals one of which every match contains ("^x": the message starts with x); the
    # prefilter is built from them.
    keywords: tuple[str, ...]
    regex: re.Pattern[str]
    fixed: tuple[tuple[str, str], ...]


def _sig(
    sid: str, kind: str, sev: Severity, keywords: str | tuple[str, ...], pattern: str, **fixed: str
) -> _Signature:
    words = (keywords,) if isinstance(keywords, str) else keywords
    return _Signature(sid, kind, sev, words, re.compile(pattern), tuple(fixed.items()))


_Node = dict[str, "_Node"]


def _trie(words: list[str]) -> str:
    """One regex matching any of `words`, with shared prefixes factored out."""
    root: _Node = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def emit(node: _Node) -> str:
        branches = [re.escape(c) + emit(sub) for c, sub in sorted(node.items()) if c]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 and "" not in node else f"(?:{'|'.join(branches)})"
        return body + ("?" if "" in node else "")

    return emit(root)


_ATA = r"(?P<port>ata\d+)(?:\.(?P<ata_device>\d+))?: "
_NVME = r"nvme (?P<device>nvme\d+): "
_USB = r"usb (?P<device>\d+-[\d.]+): "
_FS_DEV = r"\((?:device )?(?P<device>[^)\s]+)[^)]*\)"

# Order matters: the first matching signature wins, so specific forms precede general ones.
# fmt: off
SIGNATURES: tuple[_Signature, ...] = (
    # --- disk and filesystem ---------------------------------------------------------------
    _sig("DSK-14", "disk.io_error", INFO, ", dev ",  # TRIM unsupported on SD/eMMC: low
         r"^(?:(?:blk_update_request|print_req_error|end_request): )?(?P<error>[A-Za-z/ -]+?)"
         r" error, dev (?P<device>[^\s,]+), sector (?P<sector>\d+)"
         r" op 0x[0-9a-f]+:\((?P<op>DISCARD)\)"),
    _sig("DSK-14", "disk.io_error", ERROR, ", dev ",
         r"^(?:(?:blk_update_request|print_req_error|end_request): )?(?P<error>[A-Za-z/ -]+?)"
         r" error, dev (?P<device>[^\s,]+), sector (?P<sector>\d+)"
         r"(?: op 0x[0-9a-f]+:\((?P<op>\w+)\))?"),
    _sig("DSK-14", "disk.io_error", ERROR, "Buffer I/O",
         r"Buffer I/O error on dev(?:ice)? (?P<device>[^\s,]+), logical block (?P<block>\d+)",
         error="buffer I/O"),
    _sig("DSK-14", "disk.medium_error", ERROR, "Sense Key : ",
         r"\[(?P<device>[\w-]+)\]\s+(?:tag#\d+ )?Sense Key : "
         r"(?P<sense>Medium Error|Hardware Error)"),
    _sig("DSK-15", "disk.ata_error", ERROR, "^ata",  # UNC: the drive could not read
         _ATA + r"error: \{ (?P<detail>(?:\w+ )*UNC(?: \w+)*) \}"),
    _sig("DSK-15", "disk.ata_error", WARNING, "^ata", _ATA + r"error: \{ (?P<detail>[^}]*?) ?\}"),
    _sig("DSK-15", "disk.ata_error", WARNING, "^ata",
         _ATA + r"SError: \{ (?P<detail>[^}]*?) ?\}"),
    _sig("DSK-15", "disk.ata_error", WARNING, "^ata",
         _ATA + r"exception Emask (?P<emask>0x[0-9a-f]+)", detail="exception"),
    _sig("DSK-15", "disk.ata_error", WARNING, "^ata",
         _ATA + r"failed command: (?P<command>.+)", detail="failed command"),
    _sig("DSK-15", "disk.ata_error", WARNING, "^ata",
         _ATA + r"hard resetting link", detail="hard resetting link"),
    _sig("DSK-15", "disk.ata_error", WARNING, "^ata",
         _ATA + r"link is slow to respond", detail="link is slow to respond"),
    _sig("DSK-15", "disk.ata_error", WARNING, "^ata",
         _ATA + r"COMRESET failed \(errno=(?P<errno>-?\d+)\)", detail="COMRESET failed"),
    _sig("DSK-15", "disk.ata_error", WARNING, "^ata",
         _ATA + r"limiting SATA link speed to (?P<speed>[\d.]+ Gbps)", detail="link speed limited"),
    _sig("DSK-15", "disk.ata_error", INFO, "^ata",  # also every empty port at boot
         _ATA + r"SATA link down", detail="SATA link down"),
    _sig("DSK-16", "disk.nvme_reset", ERROR, "^nvme ",
         _NVME + r"I/O (?:tag )?\d+ .*QID (?P<qid>\d+) timeout, reset controller",
         action="reset controller"),
    _sig("DSK-16", "disk.nvme_timeout", WARNING, "^nvme ",
         _NVME + r"I/O (?:tag )?\d+ .*QID (?P<qid>\d+) timeout, aborting", action="aborting"),
    _sig("DSK-16", "disk.nvme_reset", ERROR, "^nvme ",
         _NVME + r"controller is down; will reset: CSTS=(?P<csts>0x[0-9a-f]+)",
         action="controller down"),
    _sig("DSK-16", "disk.nvme_reset", ERROR, "^nvme ",
         _NVME + r"Removing after probe failure status: (?P<status>-?\d+)", action="removed"),
    _sig("DSK-17", "disk.remount_ro", CRITICAL, "EXT",
         r"(?P<fs>EXT[234])-fs " + _FS_DEV + r": Remounting filesystem read-only"),
    _sig("DSK-17", "disk.remount_ro", CRITICAL, "BTRFS",
         r"BTRFS(?: \w+)? " + _FS_DEV + r": forced readonly", fs="btrfs"),
    _sig("DSK-17", "disk.remount_ro", CRITICAL, "FAT-fs",
         r"FAT-fs " + _FS_DEV + r": Filesystem has been set read-only", fs="vfat"),
    _sig("DSK-17", "disk.fs_error", ERROR, "EXT",
         r"(?P<fs>EXT[234])-fs error " + _FS_DEV + r"(?:: (?P<function>\w+):(?P<line>\d+))?"),
    _sig("DSK-17", "disk.fs_error", WARNING, "EXT",
         r"(?P<fs>EXT[234])-fs warning " + _FS_DEV + r"(?:: (?P<function>\w+):)?"),
    _sig("DSK-17", "disk.fs_error", ERROR, "Aborting journal on device",
         r"Aborting journal on device (?P<device>\S+?)(?:-\d+)?\.?$", fs="jbd2"),
    _sig("DSK-17", "disk.fs_shutdown", CRITICAL, "XFS (",
         r"XFS " + _FS_DEV + r": (?:.*Shutting down filesystem|Filesystem has been shut down)",
         fs="xfs"),
    _sig("DSK-17", "disk.fs_error", ERROR, "XFS (",
         r"XFS " + _FS_DEV + r": (?P<error>metadata I/O error|Metadata corruption|Corruption"
         r"|writeback error)", fs="xfs"),
    _sig("DSK-17", "disk.fs_error", ERROR, "BTRFS",
         r"BTRFS:? (?:error|critical) " + _FS_DEV, fs="btrfs"),
    _sig("DSK-17", "disk.fs_error", ERROR, "FAT-fs (",
         r"FAT-fs " + _FS_DEV + r": error", fs="vfat"),
    _sig("BOOT-14", "disk.fs_unclean", INFO, "EXT",
         r"(?P<fs>EXT[34])-fs " + _FS_DEV + r": recovery complete"),
    _sig("BOOT-14", "disk.fs_unclean", INFO, "FAT-fs",
         r"FAT-fs " + _FS_DEV + r": Volume was not properly unmounted", fs="vfat"),
    _sig("DSK-25", "disk.md_degraded", ERROR, "^md/",
         r"md/(?P<level>raid\d+):(?P<array>[\w-]+): Disk failure on (?P<device>[\w-]+)"),
    # --- network ---------------------------------------------------------------------------
    _sig("NET-01", "net.link_down", INFO, "Link is ",
         r"(?<![\w.@-])(?P<device>[\w.@-]+):? (?:NIC )?(?:Copper |Fiber )?Link is [Dd]own"),
    _sig("NET-01", "net.link_up", INFO, "Link is ",
         r"(?<![\w.@-])(?P<device>[\w.@-]+):? (?:NIC )?(?:Copper |Fiber )?Link is [Uu]p"),
    _sig("NET-04", "net.tx_timeout", ERROR, "NETDEV WATCHDOG",  # older, and 6.8+
         r"NETDEV WATCHDOG: (?P<device>\S+) \((?P<driver>[^)]+)\): transmit queue (?P<queue>\d+)"
         r" timed out"),
    _sig("NET-04", "net.tx_timeout", ERROR, "NETDEV WATCHDOG",  # netdev_crit() form
         r"(?P<device>[\w.@-]+): NETDEV WATCHDOG: (?:CPU: \d+: )?transmit queue (?P<queue>\d+)"
         r" timed out"),
    _sig("NET-05", "net.wifi_fw_crash", WARNING, "Microcode SW error",
         r"Microcode SW error detected\.?\s*Restarting (?P<code>0x[0-9A-Fa-f]+)"),
    _sig("NET-05", "net.wifi_fw_crash", WARNING, "Hardware error detected",
         r"Hardware error detected\.\s*Restarting"),
    _sig("NET-05", "net.wifi_fw_crash", WARNING, ("^ath", "^mt7", "^rtw", "^brcmfmac", "^mwifiex"),
         r"^(?P<driver>ath\d+k\w*|mt7\w+|rtw\w+|brcmfmac|mwifiex\w*) .*firmware crashed"),
    # --- drivers and devices ---------------------------------------------------------------
    _sig("DRV-03", "driver.probe_failed", ERROR, ": probe of ",
         r"^(?P<driver>[\w.-]+)(?: [\w:.-]+)?: probe of (?P<device>\S+) failed with error "
         r"(?P<error>-?\d+)"),
    _sig("DRV-06", "driver.firmware_missing", INFO, "Direct firmware load for",
         r"Direct firmware load for (?P<firmware>\S+) failed with error (?P<error>-?\d+)"),
    _sig("DRV-07", "driver.module_sig_failed", ERROR, "Loading of unsigned module is rejected",
         r"Loading of unsigned module is rejected"),
    _sig("DRV-07", "driver.module_sig_failed", ERROR, "Loading of module with unavailable key",
         r"Loading of module with unavailable key is rejected"),
    _sig("DRV-07", "driver.module_sig_failed", ERROR, "Lockdown: ",
         r"Lockdown: (?P<process>[^:]+): unsigned module loading is restricted"),
    _sig("DRV-07", "driver.module_sig_failed", ERROR, "PKCS#7 signature not found",
         r"PKCS#7 signature not found"),
    _sig("DRV-08", "driver.taint", INFO, "taint",
         r"^(?P<module>[\w-]+): module verification failed", reason="unsigned"),
    _sig("DRV-08", "driver.taint", INFO, "taint",
         r"^(?P<module>[\w-]+): loading out-of-tree module taints kernel", reason="out_of_tree"),
    _sig("DRV-08", "driver.taint", INFO, "taint",
         r"^(?P<module>[\w-]+): module license '(?P<license>[^']*)' taints kernel",
         reason="proprietary"),
    _sig("DRV-09", "driver.gpu_reset", WARNING, "GPU HANG",
         r"GPU HANG: ecode (?P<ecode>[\w:]+)", driver="i915"),
    _sig("DRV-09", "driver.gpu_reset", WARNING, "[drm] Resetting",
         r"\[drm\] Resetting (?P<engine>\w+) for (?P<reason>.+)"),
    _sig("DRV-09", "driver.gpu_reset", WARNING, "[drm:amdgpu_job_timedout",
         r"amdgpu_job_timedout.*\*ERROR\* ring (?P<ring>\S+) timeout", driver="amdgpu"),
    _sig("DRV-09", "driver.gpu_reset", WARNING, "GPU reset begin",
         r"amdgpu: GPU reset begin", driver="amdgpu"),
    _sig("DRV-09", "driver.gpu_error", ERROR, "NVRM: Xid",  # 79: fallen off the bus
         r"NVRM: Xid \((?P<device>[^)]*)\): (?P<xid>79)\b", driver="nvidia"),
    _sig("DRV-09", "driver.gpu_error", WARNING, "NVRM: Xid",
         r"NVRM: Xid \((?P<device>[^)]*)\): (?P<xid>\d+)", driver="nvidia"),
    _sig("DRV-10", "driver.usb_error", WARNING, "^usb ",
         r"usb (?P<device>usb\d+-port\d+): over-current condition", detail="over-current"),
    _sig("DRV-10", "driver.usb_error", INFO, "^usb ",
         _USB + r"device descriptor read/(?P<request>\w+), error (?P<error>-?\d+)",
         detail="descriptor read"),
    _sig("DRV-10", "driver.usb_error", INFO, "^usb ",
         _USB + r"device not accepting address (?P<address>\d+), error (?P<error>-?\d+)",
         detail="address"),
    _sig("DRV-10", "driver.usb_error", INFO, "^usb ",
         r"usb (?P<device>[\w.-]+): unable to enumerate USB device", detail="enumerate"),
    _sig("DRV-11", "driver.pcie_aer", INFO, "PCIe Bus Error",
         r"PCIe Bus Error: severity=(?P<aer_severity>Correct\w*), type=(?P<type>[^,]+)"),
    _sig("DRV-11", "driver.pcie_aer", ERROR, "PCIe Bus Error",
         r"PCIe Bus Error: severity=(?P<aer_severity>[^,]+), type=(?P<type>[^,]+)"),
    _sig("DRV-12", "driver.mce", CRITICAL, "[Hardware Error]",
         r"\[Hardware Error\]: CPU (?P<cpu>\d+): Machine Check Exception: (?P<detail>.*)"),
    _sig("DRV-12", "driver.mce", ERROR, "[Hardware Error]",
         r"\[Hardware Error\]: CPU (?P<cpu>\d+): Machine Check: (?P<detail>.*)"),
    _sig("DRV-12", "driver.mce", WARNING, "Machine check events logged",
         r"Machine check events logged"),
    _sig("DRV-12", "driver.mce", WARNING, "Hardware error from APEI",
         r"Hardware error from APEI Generic Hardware Error Source: (?P<ghes_source>\d+)"),
    _sig("DRV-12", "driver.edac", CRITICAL, "EDAC ",
         r"EDAC (?:\w+ )?(?P<mc>MC\d+): (?P<count>\d+) (?P<type>UE) (?P<detail>.*)"),
    _sig("DRV-12", "driver.edac", WARNING, "EDAC ",
         r"EDAC (?:\w+ )?(?P<mc>MC\d+): (?P<count>\d+) (?P<type>CE) (?P<detail>.*)"),
    _sig("DRV-13", "driver.thermal_throttle", WARNING, ("Core temperature", "Package temperature"),
         r"CPU(?P<cpu>\d+): (?P<scope>Core|Package) temperature above threshold"),
    _sig("DRV-13", "driver.thermal_shutdown", CRITICAL, ("^thermal ", "Critical temperature"),
         r"[Cc]ritical temperature reached(?: \((?P<temp_c>-?\d+) C\))?"),
    # --- boot and stability ----------------------------------------------------------------
    _sig("BOOT-13", "boot.panic", CRITICAL, "Kernel panic - not syncing",
         r"^Kernel panic - not syncing: (?P<reason>.*?)\s*$"),
    _sig("BOOT-15", "boot.soft_lockup", ERROR, "BUG: soft lockup",
         r"BUG: soft lockup - CPU#(?P<cpu>\d+) stuck for (?P<seconds>\d+)s!"
         r" \[(?P<task>.+):(?P<pid>\d+)\]"),
    _sig("BOOT-15", "boot.soft_lockup", ERROR, "BUG: workqueue lockup",
         r"^BUG: workqueue lockup - pool (?P<pool>.*?) stuck for (?P<seconds>\d+)s",
         what="workqueue"),
    _sig("BOOT-15", "boot.hard_lockup", ERROR, "LOCKUP",
         r"Watchdog detected hard LOCKUP on cpu (?P<cpu>\d+)"),
    _sig("BOOT-15", "boot.rcu_stall", ERROR, "INFO: rcu_",
         r"INFO: rcu_(?P<flavor>\w+?) (?:self-)?detected (?:expedited )?stall"),
    _sig("BOOT-15", "boot.hung_task", WARNING, "INFO: task ",
         r"^INFO: task (?P<task>.+):(?P<pid>\d+) blocked for more than (?P<seconds>\d+) seconds"),
    _sig("BOOT-16", "boot.oom_kill", WARNING, "Memory cgroup",
         r"^Memory cgroup out of memory: Kill(?:ed)? process (?P<pid>\d+) \((?P<process>[^)]*)\)",
         scope="cgroup"),
    _sig("BOOT-16", "boot.oom_kill", WARNING, "Out of memory: Kill",
         r"^Out of memory: Kill(?:ed)? process (?P<pid>\d+) \((?P<process>[^)]*)\)",
         scope="system"),
    _sig("BOOT-13", "boot.oops", ERROR, "BUG: ",  # the page-fault oops header (x86)
         r"^BUG: (?:unable to handle (?:kernel )?(?P<what>NULL pointer dereference|paging request"
         r"|page fault)?|kernel (?P<what__2>NULL pointer dereference))"),
    _sig("BOOT-13", "boot.oops", ERROR, "Unable to handle kernel",  # arm, arm64, powerpc
         r"^Unable to handle kernel (?P<what>NULL pointer dereference|paging request"
         r"|data access|instruction fetch)"),
    _sig("BOOT-13", "boot.oops", ERROR, "Oops",
         r"^(?:Internal error: )?Oops(?: - [^:]+)?: (?:(?P<what>.+?): )?(?P<code>[0-9a-f]+)"
         r" \[#(?P<count>\d+)\]"),
    _sig("BOOT-13", "boot.oops", ERROR, "[#",  # die() without the "Oops: " prefix (before 6.11)
         r"^(?P<what>general protection fault|divide error|divide_error|invalid opcode"
         r"|stack segment|double fault|kernel stack overflow \(double-fault\))[^:]*:"
         r" (?P<code>[0-9a-f]{4}) \[#(?P<count>\d+)\]"),
    _sig("BOOT-13", "boot.oops", ERROR, "Internal error: ",  # arm, arm64 die()
         r"^Internal error: (?P<what>[^:]*): (?P<code>[0-9a-f]+) \[#(?P<count>\d+)\]"),
    _sig("BOOT-13", "boot.oops", ERROR, "Unhandled fault: ",  # arm
         r"^Unhandled fault: (?P<what>.+?) \("),
    _sig("BOOT-13", "boot.bug", ERROR, "BUG at",
         r"^kernel BUG at (?P<location>[^!\s]+)"),
    _sig("BOOT-13", "boot.sanitizer", ERROR, "BUG: K",  # debug kernels only
         r"^BUG: (?P<tool>KASAN|KMSAN|KCSAN|KFENCE): (?P<what>.+)"),
    _sig("BOOT-13", "boot.sanitizer", ERROR, "UBSAN: ", r"^UBSAN: (?P<what>.+)", tool="UBSAN"),
    _sig("BOOT-13", "boot.sanitizer", ERROR, "BUG: ",  # kmemleak's report format
         r"^BUG: (?P<what>memory leak)", tool="kmemleak"),
    *(  # lock validator reports (debug kernels); old kernels bracket them: "[ INFO: ... ]"
        _sig("BOOT-13", "boot.lockdep", WARNING, ("WARNING: ", "INFO: ", "BUG: "),
             r"^(?:\[ )?(?:WARNING|INFO|BUG): (?P<what>(?:\w+-safe -> \w+-unsafe )?"
             + re.escape(phrase) + ")")
        for phrase in (
            "possible circular locking dependency", "possible recursive locking",
            "possible irq lock inversion", "inconsistent lock state", "bad unlock balance",
            "held lock freed", "lock order detected", "lock held when returning to user space",
            "trying to register non-static key",
        )
    ),
    _sig("BOOT-13", "boot.warning", WARNING, ("WARNING: ", "INFO: "),  # RCU-lockdep splat
         r"^(?:\[ )?(?:WARNING|INFO): (?P<what>suspicious RCU usage)"),
    _sig("BOOT-13", "boot.bug", ERROR, "BUG: ", r"^BUG: (?P<what>.+)"),
    _sig("BOOT-13", "boot.warning", WARNING, "WARNING: ",  # the unwinder found a bad stack
         r"^WARNING: kernel stack (?P<what>regs|frame pointer) at .* has bad"),
    _sig("BOOT-13", "boot.warning", WARNING, "WARNING: ",  # WARN(); older: "WARNING: at ..."
         r"^WARNING: (?:CPU: (?P<cpu>\d+) PID: (?P<pid>\d+) )?at (?:(?P<location>\S+:\d+) )?"
         r"(?P<function>[\w.]+)\+0x[0-9a-f]+/0x[0-9a-f]+(?:\(\))?(?: \[(?P<module>[\w-]+)\])?"),
    _sig("BOOT-13", "boot.warning", WARNING, "WARNING: ",  # 6.16+: "WARNING: file:line at ..."
         r"^WARNING: (?P<location>\S+:\d+) at (?P<function>[\w.]+)\+0x[0-9a-f]+/0x[0-9a-f]+"
         r"(?: \[(?P<module>[\w-]+)\])?"),
)

# fmt: on
# Most lines match nothing, so a cheap test rejects them first: a start among the "^"
# keywords, or one regex over the others. The regex is a trie (common prefixes factored
# out), which the regex engine runs several times faster than a flat alternation.
_KEYWORDS = {k for s in SIGNATURES for k in s.keywords}
_PREFIXES = tuple(sorted(k[1:] for k in _KEYWORDS if k[0] == "^"))
# A lowercase start matches at most positions of a line: those few are plain substring tests.
_SCANNED = re.compile("|".join(sorted(re.escape(k) for k in _KEYWORDS if k[0].islower())))
_PREFILTER = re.compile(_trie(sorted(k for k in _KEYWORDS if k[0] != "^" and not k[0].islower())))
# dev_printk() prefix: "<driver> <bus id>: ..." (PCI, SCSI, USB) names the component.
_DEV_PREFIX = re.compile(
    r"^(?P<driver>[\w-]+) (?P<bus_id>[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]|\d+:\d+:\d+:\d+"
    r"|\d+-[\d.]+(?::[\d.]+)?)[: ]"
)


def classify(message: str) -> Classified | None:
    """The signature a kernel message matches (prefix already stripped), or None."""
    if not _candidate(message):
        return None
    for sig in SIGNATURES:
        if not any(_contains(message, k) for k in sig.keywords):
            continue
        match = sig.regex.search(message)
        if match is None:
            continue
        fields = {"signature": sig.id, **dict(sig.fixed)}
        for name, value in match.groupdict().items():
            if value is not None:
                fields[name.split("__")[0]] = value
        return Classified(sig.kind, sig.severity, _complete(sig.kind, message, fields))
    return None


def _candidate(message: str) -> bool:
    if message.startswith(_PREFIXES) or _PREFILTER.search(message):
        return True
    return _SCANNED.search(message) is not None


def _contains(message: str, keyword: str) -> bool:
    return message.startswith(keyword[1:]) if keyword[0] == "^" else keyword in message


def _complete(kind: str, message: str, fields: dict[str, str]) -> dict[str, str]:
    prefix = _DEV_PREFIX.match(message)
    if prefix:
        fields.setdefault("driver", prefix["driver"])
        fields.setdefault("bus_id", prefix["bus_id"])
    if "fs" in fields:
        fields["fs"] = fields["fs"].lower()
    if kind == "driver.pcie_aer":
        raw = fields["aer_severity"].lower()
        fields["severity"] = "corrected" if raw.startswith("correct") else "uncorrected"
        fields["fatal"] = "true" if "(fatal)" in raw else "false"
        if "bus_id" in fields:
            fields.setdefault("device", fields["bus_id"])
    return fields


# --- line prefixes -----------------------------------------------------------------------

_DMESG = re.compile(
    r"^(?:[a-z]+ *:[a-z]+ *: )?"  # dmesg -x: facility:level
    r"(?:<\d{1,3}>)?"  # dmesg -r, console: <syslog priority>
    r"\[ *(?P<sec>\d+)\.(?P<frac>\d+)\]"
    r"(?:\[ *(?P<caller>[CT]\d+)\])?"  # CONFIG_PRINTK_CALLER
    r" ?(?P<msg>.*)$"
)
_LOOKS_STAMPED = re.compile(r"^(?:[a-z]+ *:[a-z]+ *: )?(?:<\d{1,3}>)?\[")


@dataclass(frozen=True, slots=True)
class DmesgLine:
    offset_ms: int  # since boot
    caller: str  # "T1194" / "C1" with CONFIG_PRINTK_CALLER, else ""
    message: str


def split_dmesg(line: str) -> DmesgLine | None:
    """The parts of a dmesg line; None when it has no "[seconds]" prefix."""
    m = _DMESG.match(line)
    if m is None:
        return None
    return DmesgLine(_offset_ms(m), m["caller"] or "", m["msg"])


def _offset_ms(m: re.Match[str]) -> int:
    return int(m["sec"]) * 1000 + int(m["frac"][:3].ljust(3, "0"))


def parse_dmesg(text: str, boot_time_ms: int) -> Parsed[tuple[Event, ...]]:
    """`dmesg` (also -x, -r) → the Events its lines classify as; time = boot + offset.

    A line without a timestamp (a continuation, or `printk.time=0` output) is still
    classified, at the time of the line before it; it counts as a warning only when the
    text does have timestamps elsewhere, or when it starts like a prefix but is garbled.
    """
    warnings = Warnings()
    lines = text.splitlines()
    stamped = any(_DMESG.match(line) for line in lines)
    events: list[Event] = []
    stamp: re.Match[str] | None = None  # the last timestamp seen; converted only when needed
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        m = _DMESG.match(raw)  # not split_dmesg(): no object per line on this hot path
        if m is None:
            message = raw.strip()
            if stamped or _LOOKS_STAMPED.match(raw):
                warnings.add(f"line {number}: no [seconds] timestamp: {raw!r:.80}")
        else:
            stamp, message = m, m["msg"]
        found = classify(message)
        if found is not None:
            time_ms = boot_time_ms + (_offset_ms(stamp) if stamp else 0)
            events.append(Event(time_ms, "kernel", found.kind, found.severity, raw, found.fields))
    return Parsed.of(tuple(events), warnings)


def _event(time_ms: int, line: str, message: str, **extra: str) -> Event | None:
    found = classify(message)
    if found is None:
        return None
    return Event(time_ms, "kernel", found.kind, found.severity, line, {**found.fields, **extra})


_SYSLOG = re.compile(
    r"^(?:(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<hms>\d\d:\d\d:\d\d)(?:\.(?P<us>\d{1,6}))?"
    r"|(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:?\d\d)?))"
    r" (?P<host>\S+) (?P<ident>[^\s:\[]+)(?:\[(?P<pid>\d+)\])?: ?(?P<msg>.*)$"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


@dataclass(frozen=True, slots=True)
class SyslogLine:
    month: int  # 0 when the line has an ISO timestamp (then `iso` is set)
    day: int
    hms: str
    micros: int
    iso: str
    host: str
    identifier: str
    message: str  # a kernel line's "[  12.345678] " prefix removed


def split_syslog(line: str) -> SyslogLine | None:
    """The parts of a syslog / journalctl short line; None when it is not one."""
    m = _SYSLOG.match(line)
    if m is None or (m["mon"] and m["mon"] not in _MONTHS):
        return None
    message = m["msg"]
    if m["ident"] == "kernel":
        stamped = split_dmesg(message)  # rsyslog keeps the kernel's own timestamp
        if stamped is not None:
            message = stamped.message
    return SyslogLine(
        _MONTHS.get(m["mon"] or "", 0),
        int(m["day"] or 0),
        m["hms"] or "",
        int((m["us"] or "0").ljust(6, "0")),
        m["iso"] or "",
        m["host"],
        m["ident"],
        message,
    )


def parse_syslog(text: str, year: int, utc_offset_s: int = 0) -> Parsed[tuple[Event, ...]]:
    """/var/log/messages, /var/log/kern.log or `journalctl -k -o short-iso|short-precise`.

    Only the `kernel:` lines are classified. BSD timestamps carry neither year nor zone:
    `year` is that of the last line (a month that runs backwards, Dec → Jan, is a year
    boundary), and `utc_offset_s` the host's offset from UTC (local time = UTC + offset).
    ISO timestamps carry both. journalctl's "-- Boot ... --" and "-- Logs begin ... --"
    lines are skipped.
    """
    warnings = Warnings()
    parsed: list[tuple[int, str, SyslogLine]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or (raw.startswith("-- ") and raw.rstrip().endswith("--")):
            continue
        parts = split_syslog(raw)
        if parts is None:
            warnings.add(f"line {number}: not a syslog line: {raw!r:.80}")
            continue
        parsed.append((number, raw, parts))
    years = _years([p.month for _, _, p in parsed], year)
    events: list[Event] = []
    for (number, raw, parts), line_year in zip(parsed, years, strict=True):
        if parts.identifier != "kernel":
            continue
        time_ms = _syslog_ms(parts, line_year, utc_offset_s)
        if time_ms is None:
            warnings.add(f"line {number}: bad timestamp: {raw!r:.80}")
            continue
        event = _event(time_ms, raw, parts.message)
        if event is not None:
            events.append(event)
    return Parsed.of(tuple(events), warnings)


def _years(months: list[int], last_year: int) -> list[int]:
    years = [last_year] * len(months)
    current, later = last_year, 13
    for i in range(len(months) - 1, -1, -1):
        if months[i] == 0:  # ISO line: carries its own year
            continue
        if months[i] > later:
            current -= 1
        years[i], later = current, months[i]
    return years


def _syslog_ms(parts: SyslogLine, year: int, utc_offset_s: int) -> int | None:
    try:
        if parts.iso:
            stamp = datetime.fromisoformat(parts.iso)
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=timezone(timedelta(seconds=utc_offset_s)))
        else:
            hour, minute, second = (int(x) for x in parts.hms.split(":"))
            stamp = datetime(
                year,
                parts.month,
                parts.day,
                hour,
                minute,
                second,
                parts.micros,
                tzinfo=timezone(timedelta(seconds=utc_offset_s)),
            )
    except ValueError:
        return None  # 30 Feb, 25:00, an offset beyond a day
    return int(stamp.timestamp() * 1000)
