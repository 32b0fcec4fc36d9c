"""/dev/kmsg records → KmsgRecord.

Each read(2) of /dev/kmsg returns one record (Documentation/ABI/testing/dev-kmsg):

    6,1234,5678901,-;usb 1-1: new high-speed USB device number 2 using xhci_hcd
     SUBSYSTEM=usb
     DEVICE=c189:1

"<syslog prefix: facility*8 + level>,<seq>,<usec since boot>,<flags>[,...];<message>",
then continuation lines, each starting with a space, of KEY=value device properties.
Non-printable bytes in the message arrive escaped as \\xNN. A dump of several records
(what `capture` saves) is the same records one after another.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.parsers import Parsed, Warnings


@dataclass(frozen=True, slots=True)
class KmsgRecord:
    level: int  # 0 emerg … 7 debug
    facility: int  # 0 = kernel; userspace writes to /dev/kmsg carry others
    seq: int
    usec: int  # since boot (CLOCK_MONOTONIC)
    message: str
    device: str = ""  # the DEVICE= property, when the driver gave one


def parse_record(text: str) -> KmsgRecord | None:
    head, sep, rest = text.partition(";")
    if not sep:
        return None
    parts = head.split(",")
    if len(parts) < 4:
        return None
    try:
        prefix, seq, usec = int(parts[0]), int(parts[1]), int(parts[2])
    except ValueError:
        return None
    message, *props = rest.split("\n")
    device = ""
    for prop in props:
        if prop.startswith(" DEVICE="):
            device = prop[len(" DEVICE=") :]
    return KmsgRecord(prefix & 7, prefix >> 3, seq, usec, message, device)


def parse(text: str) -> Parsed[tuple[KmsgRecord, ...]]:
    """A dump of records (one per line, continuation lines indented)."""
    warnings = Warnings()
    records: list[KmsgRecord] = []
    chunks: list[tuple[int, list[str]]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith(" ") and chunks:
            chunks[-1][1].append(line)
        elif line.strip():
            chunks.append((number, [line]))
    for number, lines in chunks:
        record = parse_record("\n".join(lines))
        if record is None:
            warnings.add(f"line {number}: not a kmsg record: {lines[0]!r:.80}")
        else:
            records.append(record)
    return Parsed.of(tuple(records), warnings)
