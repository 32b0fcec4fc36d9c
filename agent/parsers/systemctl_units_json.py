"""`systemctl list-units --failed --all --output=json --no-pager` → failed unit names, and
`systemctl is-system-running` → the manager's state.

systemctl(1), https://www.freedesktop.org/software/systemd/man/latest/systemctl.html
Real output of systemd 252 with two failed units (an empty list is `[]`):

    [{"unit":"backup-nightly.service","load":"loaded","active":"failed","sub":"failed",
      "description":"Nightly backup to NAS"},
     {"unit":"mount-nas.service","load":"loaded","active":"failed","sub":"failed",
      "description":"Mount the NAS share"}]

Only entries whose "active" is "failed" are returned (the command asks for those; the
check keeps a wider listing from being misread). Older systemd (239 on RHEL/Alma 8,
github.com/creativeprojects/resticprofile/issues/516) ignores --output=json and prints
its table: a unit per line, marked "●" (or "*" in the C locale) - that form is read too,
so the failed list survives an old host.

`is-system-running` prints one word (exit status 0 only for "running"): initializing,
starting, running, degraded, maintenance (rescue or emergency target), stopping,
offline (systemd is not PID 1 - real output on the build VM), unknown.
"""

from __future__ import annotations

import json
import re

from agent.parsers import Parsed, ParseError, Warnings
from agent.parsers._json import get_str

STATES = frozenset(
    {
        "initializing",
        "starting",
        "running",
        "degraded",
        "maintenance",
        "stopping",
        "offline",
        "unknown",
    }
)
_LISTED = re.compile(r"\d+ loaded units? listed")
_TABLE_ROW = re.compile(
    r"^[●*\s]*(?P<unit>\S+\.[a-z]+)\s+(?P<load>\S+)\s+(?P<active>\S+)\s+(?P<sub>\S+)"
)


def parse(text: str) -> Parsed[tuple[str, ...]]:
    stripped = text.strip()
    if not stripped.startswith("["):
        return _table(text)
    try:
        doc = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise ParseError(f"systemctl: not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(doc, list):
        raise ParseError("systemctl: expected a JSON list")
    warnings = Warnings()
    failed: list[str] = []
    for i, entry in enumerate(doc):
        if not isinstance(entry, dict) or not isinstance(entry.get("unit"), str):
            warnings.add(f"[{i}]: not an object with a 'unit'")
            continue
        if get_str(entry, "active") == "failed":
            failed.append(entry["unit"])
    return Parsed.of(tuple(failed), warnings)


def _table(text: str) -> Parsed[tuple[str, ...]]:
    warnings = Warnings()
    failed: list[str] = []
    header = False
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or _LISTED.match(line):
            break  # the legend follows the blank line after the rows
        if line.lstrip().startswith("UNIT "):
            header = True
            continue
        row = _TABLE_ROW.match(line)
        if row is None:
            warnings.add(f"line {n}: not a unit row: {line.strip()}")
            continue
        if row["active"] == "failed":
            failed.append(row["unit"])
    if not header and not failed and text.strip() and not _LISTED.match(text.lstrip()):
        raise ParseError("systemctl: neither JSON nor the list-units table")
    return Parsed.of(tuple(failed), warnings)


def parse_state(text: str) -> Parsed[str]:
    """`systemctl is-system-running` → its state word."""
    warnings = Warnings()
    words = text.split()
    if not words:
        raise ParseError("systemctl is-system-running: empty output")
    state = words[0]
    if state not in STATES:
        warnings.add(f"unknown state {state!r}")
    if len(words) > 1:
        warnings.add(f"extra output after the state: {' '.join(words[1:])[:80]}")
    return Parsed.of(state, warnings)
