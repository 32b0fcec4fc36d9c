"""`/proc/modules` → DriverInfo per loaded kernel module.

One module per line (proc(5), https://man7.org/linux/man-pages/man5/proc_modules.5.html;
kernel/module/procfs.c m_show):

    nvidia 56512512 541 nvidia_uvm,nvidia_modeset, Live 0xffffffffc0200000 (POE)
    snd_hda_intel 57344 3 - Live 0x0000000000000000
    vboxdrv 696320 2 vboxnetadp,vboxnetflt, Loading 0xffffffffc0e52000 (OE+)

    name size refcount used-by state address [(taint letters and +/- while loading/unloading)]

The address is 0 for readers without CAP_SYSLOG (kptr_restrict); refcount and used-by
are "-" on kernels built without module unloading. The taint letters are the module's
own (Documentation/admin-guide/tainted-kernels.rst): P proprietary licence, O built
out of tree, E unsigned (signature missing or not verifiable), F force-loaded,
C staging, K live patch, X auxiliary (distro), T struct-randomised.

How the letters map onto DriverInfo (which has no taint field):
* signed: False when E is set, else True - a kernel that does not check signatures
  cannot tell us more, so "unknown" counts as signed.
* provider: where the module comes from - "proprietary" (P), "out-of-tree" (O),
  "staging" (C), else "" (an in-tree module). The raw letters are not kept.
* version, date, device: not in /proc/modules ("" ; /sys/module/<name>/version has the
  version of modules that declare one).
The state (Live / Loading / Unloading) is not kept either.
"""

from __future__ import annotations

import re

from agent.parsers import Parsed, ParseError, Warnings
from agent.records import DriverInfo

_LINE = re.compile(
    r"(?P<name>[\w-]+)\s+(?P<size>\d+)\s+(?P<refs>-?\d+|-)\s+(?P<used>\S+)\s+"
    r"(?P<state>Live|Loading|Unloading)\s+(?P<addr>0x[0-9a-fA-F]+)(?:\s+\((?P<taint>[A-Z+-]*)\))?"
)


def parse(text: str) -> Parsed[tuple[DriverInfo, ...]]:
    warnings = Warnings()
    modules: list[DriverInfo] = []
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    for n, line in lines:
        match = _LINE.fullmatch(line)
        if match is None:
            warnings.add(f"line {n}: not a /proc/modules line: {line}")
            continue
        taint = match["taint"] or ""
        modules.append(
            DriverInfo(name=match["name"], provider=_provider(taint), signed="E" not in taint)
        )
    if lines and not modules:
        raise ParseError("modules: no line in the /proc/modules format")
    return Parsed.of(tuple(modules), warnings)


def _provider(taint: str) -> str:
    if "P" in taint:
        return "proprietary"
    if "O" in taint:
        return "out-of-tree"
    if "C" in taint:
        return "staging"
    return ""
