"""`/proc/mdstat` → RaidArray per Linux md array.

The format (drivers/md/md.c md_seq_show and status_resync; examples in the kernel's
Documentation/admin-guide/md.rst and mdadm(8), https://raid.wiki.kernel.org/index.php/Mdstat):

    Personalities : [raid1] [raid6] [raid5] [raid4]
    md1 : active raid1 sdb1[1](F) sda1[0]
          976630464 blocks super 1.2 [2/1] [U_]
          bitmap: 2/8 pages [8KB], 65536KB chunk

    md0 : active raid5 sdd1[4] sdc1[2] sdb1[1] sda1[0]
          2929893888 blocks super 1.2 level 5, 512k chunk, algorithm 2 [4/3] [UUU_]
          [=======>.............]  recovery = 35.5% (346799616/976631296) finish=74.3min ...

    md127 : inactive sdc[1](S) sdb[0](S)
          1953260976 blocks super 1.2

    unused devices: <none>

* The first line of an array is `name : active|inactive [(read-only)|(auto-read-only)]
  [level] member[role](flags)...`. An inactive array has no personality, so no level.
  Member flags: (F) faulty, (S) spare, (W) write-mostly, (J) journal, (R) replacement.
* `[n/m]` is devices wanted / devices working, `[UU_]` one letter per slot (`_` = missing).
  RAID0 and linear arrays print neither: their totals are counted from the members.
* A `recovery|resync|check|reshape|repair = 12.3%` line is a running sync action;
  `resync=DELAYED` / `resync=PENDING` is one waiting (progress 0).

`state` is "active" or "inactive" (read-only qualifiers are dropped: the array still
serves reads). An inactive array counts its listed members as `devices_total` and none
as active. `degraded` is `[..._..]` or fewer working than wanted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.parsers import Parsed, ParseError, Warnings
from agent.records import RaidArray

_HEAD = re.compile(r"(?P<name>md[\w.-]*|[\w.-]+)\s+:\s+(?P<state>active|inactive)\b(?P<rest>.*)")
_LEVELS = frozenset(
    {"raid0", "raid1", "raid4", "raid5", "raid6", "raid10", "linear", "multipath", "faulty"}
)
_MEMBER = re.compile(r"(?P<dev>[^\s\[]+)\[(?P<role>\d+)\](?P<flags>(?:\([A-Z]\))*)")
_COUNTS = re.compile(r"\[(?P<total>\d+)/(?P<active>\d+)\]")
_SLOTS = re.compile(r"\[(?P<slots>[U_]+)\]")
_PROGRESS = re.compile(r"\b(?P<action>recovery|resync|check|reshape|repair)\s*=\s*(?P<pct>[\d.]+)%")
_WAITING = re.compile(
    r"\b(?P<action>recovery|resync|check|reshape|repair)\s*=\s*(?:DELAYED|PENDING)"
)
_KNOWN_DETAIL = ("bitmap:", "blocks", "[", "resync=", "recovery=", "reshape=", "check=")


@dataclass(slots=True)
class _Array:
    name: str
    state: str
    level: str = ""
    members: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    spares: int = 0
    total: int | None = None
    active: int | None = None
    missing_slot: bool = False
    action: str = ""
    progress: float = 0.0

    def record(self) -> RaidArray:
        working = len(self.members) - len(self.failed) - self.spares
        if self.state == "inactive":
            total, active = len(self.members), 0
        elif self.total is None or self.active is None:
            total, active = len(self.members) - self.spares, working
        else:
            total, active = self.total, self.active
        return RaidArray(
            name=self.name,
            level=self.level,
            state=self.state,
            devices_total=total,
            devices_active=active,
            failed_devices=tuple(self.failed),
            degraded=self.state == "active" and (self.missing_slot or active < total),
            sync_action=self.action,
            sync_progress_pct=self.progress,
        )


def parse(text: str) -> Parsed[tuple[RaidArray, ...]]:
    warnings = Warnings()
    arrays: list[_Array] = []
    current: _Array | None = None
    recognised = False
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            current = None
            continue
        if line.startswith(("Personalities", "unused devices", "read_ahead")):
            recognised = True
            current = None
            continue
        head = _HEAD.fullmatch(line) if not raw[:1].isspace() else None
        if head is not None:
            recognised = True
            current = _head(head, n, warnings)
            arrays.append(current)
            continue
        if current is None:
            warnings.add(f"line {n}: outside an array: {line}")
            continue
        _detail(current, line, n, warnings)
    if not recognised and text.strip():
        raise ParseError("mdstat: no 'Personalities' line and no array (not /proc/mdstat?)")
    return Parsed.of(tuple(a.record() for a in arrays), warnings)


def _head(match: re.Match[str], n: int, warnings: Warnings) -> _Array:
    array = _Array(match["name"], match["state"])
    words = match["rest"].split()
    while words and words[0].startswith("("):  # (read-only), (auto-read-only)
        words.pop(0)
    if words and words[0] in _LEVELS:
        array.level = words.pop(0)
    for word in words:
        member = _MEMBER.fullmatch(word)
        if member is None:
            warnings.add(f"line {n}: member {word!r} not understood")
            continue
        array.members.append(member["dev"])
        if "(F)" in member["flags"]:
            array.failed.append(member["dev"])
        elif "(S)" in member["flags"]:
            array.spares += 1
    return array


def _detail(array: _Array, line: str, n: int, warnings: Warnings) -> None:
    if counts := _COUNTS.search(line):
        array.total, array.active = int(counts["total"]), int(counts["active"])
    if slots := _SLOTS.search(line):
        array.missing_slot = "_" in slots["slots"]
    if progress := _PROGRESS.search(line):
        array.action, array.progress = progress["action"], float(progress["pct"])
    elif waiting := _WAITING.search(line):
        array.action, array.progress = waiting["action"], 0.0
    elif not any(key in line for key in _KNOWN_DETAIL):
        warnings.add(f"line {n}: not understood: {line}")
