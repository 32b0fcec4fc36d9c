"""`/proc/sys/kernel/tainted` → the taint bit mask, and `flags()` naming its bits.

The file holds one unsigned decimal number ("0\\n" on the Debian 12 build VM). The bits
are those of Documentation/admin-guide/tainted-kernels.rst
(https://docs.kernel.org/admin-guide/tainted-kernels.html), with the letter the kernel
prints in "Tainted:" lines of oopses:

     0 P proprietary module loaded      10 C staging driver loaded
     1 F module force-loaded            11 I platform firmware bug workaround applied
     2 S out-of-specification system    12 O out-of-tree module loaded
     3 R module force-unloaded          13 E unsigned module loaded
     4 M machine check exception        14 L soft lockup occurred
     5 B bad page referenced            15 K kernel live-patched
     6 U tainted by userspace           16 X auxiliary (distribution-defined)
     7 D kernel died recently (oops)    17 T built with struct randomisation
     8 A ACPI table overridden          18 N in-kernel test run
     9 W kernel warning issued          19 J fwctl debug write (6.15+)

Higher bits (distributions use some: Red Hat 27-31) are named "bit<N>".
"""

from __future__ import annotations

from agent.parsers import Parsed, ParseError, Warnings

LETTERS = "PFSRMBUDAWCIOELKXTNJ"
MEANINGS = (
    "proprietary module loaded",
    "module force-loaded",
    "out-of-specification system",
    "module force-unloaded",
    "machine check exception",
    "bad page referenced",
    "tainted by userspace",
    "kernel died recently (oops or BUG)",
    "ACPI table overridden",
    "kernel warning issued",
    "staging driver loaded",
    "platform firmware bug workaround applied",
    "out-of-tree module loaded",
    "unsigned module loaded",
    "soft lockup occurred",
    "kernel live-patched",
    "auxiliary taint (distribution)",
    "built with struct randomisation",
    "in-kernel test run",
    "fwctl debug write",
)


def parse(text: str) -> Parsed[int]:
    value = text.strip()
    if not value.isdigit():
        raise ParseError(f"tainted: expected a non-negative integer, got {value[:40]!r}")
    return Parsed.of(int(value), Warnings())


def flags(taint: int) -> tuple[str, ...]:
    """The set bits as letters in bit order: 12289 → ("P", "O", "E")."""
    return tuple(_letter(bit) for bit in range(taint.bit_length()) if taint >> bit & 1)


def describe(taint: int) -> tuple[str, ...]:
    """The set bits as "O: out-of-tree module loaded" lines, for a ticket."""
    return tuple(
        f"{_letter(bit)}: {MEANINGS[bit] if bit < len(MEANINGS) else 'unknown'}"
        for bit in range(taint.bit_length())
        if taint >> bit & 1
    )


def _letter(bit: int) -> str:
    return LETTERS[bit] if bit < len(LETTERS) else f"bit{bit}"
