"""/proc/net/arp → {IPv4 address: (device, complete)}, to tell whether the gateway answered.

arp(7), and the table printed by the kernel's net/ipv4/arp.c (arp_seq_show):
https://man7.org/linux/man-pages/man7/arp.7.html

    IP address       HW type     Flags       HW address            Mask     Device
    192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0
    10.0.0.9         0x1         0x0         00:00:00:00:00:00     *        eth0

Flags are ATF_* (include/uapi/linux/if_arp.h): 0x2 ATF_COM means the neighbour answered
and its hardware address is known; 0x0 is an incomplete entry (asked, no reply) - what a
dead gateway looks like. The same address on several devices keeps a complete entry over
an incomplete one.
"""

from __future__ import annotations

from agent.parsers import Parsed, Warnings

ATF_COM = 0x2


def parse(text: str) -> Parsed[dict[str, tuple[str, bool]]]:
    warnings = Warnings()
    table: dict[str, tuple[str, bool]] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or fields[0] == "IP":
            continue
        if len(fields) != 6:
            warnings.add(f"line {lineno}: not a /proc/net/arp row: {line.strip()!r:.80}")
            continue
        address, _, flags_text, _, _, device = fields
        try:
            flags = int(flags_text, 16)
        except ValueError:
            warnings.add(f"line {lineno}: flags {flags_text!r} are not hex")
            continue
        complete = bool(flags & ATF_COM)
        if address not in table or complete:
            table[address] = (device, complete)
    return Parsed.of(table, warnings)
