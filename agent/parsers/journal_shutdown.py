"""The previous boot's last journal lines → whether it shut down cleanly.

Input: `journalctl -b -1 -n 50 -o json --no-pager` (one JSON object per line) or the same
with `-o short-iso` (journalctl(1), https://www.freedesktop.org/software/systemd/man/latest/journalctl.html).
Output: (state, detail) with state "clean", "unclean" or "unknown".

A clean shutdown leaves the end of systemd's shutdown sequence in the journal (real
`-o short-iso` tail of systemd 252, see tests/fixtures/linux/FIXTURES.md):

    2024-06-01T15:00:11+0000 ws-0142 systemd[1]: Shutting down.
    2024-06-01T16:00:11+0000 ws-0142 systemd-shutdown[1]: Syncing filesystems and block devices.
    2024-06-01T18:00:11+0000 ws-0142 systemd-journald[287]: Journal stopped

Clean when any of these appears among the last lines:
* journald's "Journal stopped" (MESSAGE_ID d93fb3c9c24d451a97cea615ce59c00b,
  SD_MESSAGE_JOURNAL_STOP in systemd's sd-messages.h), written as journald exits;
* a line from systemd-shutdown (the final process after PID 1 hands over);
* PID 1's "Shutting down." or "Reached target ... System Shutdown." (systemd 250+
  prints "shutdown.target - System Shutdown", older ones only the description).
Unclean otherwise: the journal just stops (power loss, hard hang, panic, watchdog reset:
BOOT-14 in the failure-signature catalogue). When logind's "System is rebooting." /
"powering down" (SD_MESSAGE_SHUTDOWN 98268866d1d54a499c4e98921d93bc40) is there but
none of the above, the shutdown began and never finished (a hang, then the power
button): unclean too, and the detail says so. Unknown: no lines (no previous boot in
the journal, or a volatile journal).

Message texts of systemd are not translated, and MESSAGE_ID is matched where the JSON
form has it.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from agent.parsers import Parsed, ParseError, Warnings

JOURNAL_STOP_ID = "d93fb3c9c24d451a97cea615ce59c00b"
SHUTDOWN_STARTED_ID = "98268866d1d54a499c4e98921d93bc40"
_CLEAN_MESSAGES = re.compile(
    r"^(?:Journal stopped|Shutting down\."
    r"|Reached target (?:shutdown\.target - )?System Shutdown\.)$"
)
_STARTED_MESSAGES = re.compile(r"^System is (?:rebooting|powering down|halting|shutting down)\b")
# 2024-06-01T18:00:11+0000 host ident[pid]: message
_SHORT = re.compile(
    r"(?P<time>\d{4}-\d\d-\d\dT\S+)\s+\S+\s+(?P<ident>[^\s:\[]+)(?:\[\d+\])?:\s?(?P<msg>.*)"
)


def parse(text: str) -> Parsed[tuple[str, str]]:
    warnings = Warnings()
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return Parsed.of(("unknown", "no journal entries for the previous boot"), warnings)
    if lines[0].lstrip().startswith("{"):
        entries = _json_entries(lines, warnings)
    else:
        entries = _short_entries(lines, warnings)
    if not entries:
        if warnings.count:
            raise ParseError("journal: neither journalctl -o json nor -o short-iso output")
        return Parsed.of(("unknown", "no journal entries for the previous boot"), warnings)
    return Parsed.of(_decide(entries), warnings)


_Entry = tuple[str, str, str, str]  # time, identifier, message, message id


def _decide(entries: list[_Entry]) -> tuple[str, str]:
    started: _Entry | None = None
    for entry in reversed(entries):
        when, ident, message, message_id = entry
        if (
            message_id == JOURNAL_STOP_ID
            or ident == "systemd-shutdown"
            or (ident in ("systemd", "systemd-journald") and _CLEAN_MESSAGES.match(message))
        ):
            return "clean", f"{when} {ident}: {message}".strip()
        if started is None and (
            message_id == SHUTDOWN_STARTED_ID
            or (ident == "systemd-logind" and _STARTED_MESSAGES.match(message))
        ):
            started = entry
    when, ident, message, _ = entries[-1]
    last = f"{when} {ident}: {message}".strip()
    if started is not None:
        return "unclean", f"shutdown began ({started[2]}) but did not finish; journal ends {last}"
    return "unclean", f"journal ends without a shutdown: {last}"


def _json_entries(lines: list[str], warnings: Warnings) -> list[_Entry]:
    entries: list[_Entry] = []
    for n, line in enumerate(lines, 1):
        try:
            doc = json.loads(line)
        except json.JSONDecodeError:
            warnings.add(f"line {n}: not JSON: {line[:80]}")
            continue
        if not isinstance(doc, dict):
            warnings.add(f"line {n}: not a JSON object")
            continue
        ident = _field(doc, "SYSLOG_IDENTIFIER") or _field(doc, "_COMM")
        entries.append(
            (
                _iso(_field(doc, "__REALTIME_TIMESTAMP")),
                ident,
                _field(doc, "MESSAGE"),
                _field(doc, "MESSAGE_ID"),
            )
        )
    return entries


def _field(doc: dict[str, object], key: str) -> str:
    # journalctl -o json: a string; an array of bytes for binary data; an array of such
    # values when a field repeats; null when the value is too large to show.
    value = doc.get(key)
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(b, int) for b in value):
        return bytes(b & 0xFF for b in value if isinstance(b, int)).decode("utf-8", "replace")
    if isinstance(value, list) and value:
        return _field({key: value[-1]}, key)
    return ""


def _iso(realtime_us: str) -> str:
    if not realtime_us.isdigit():
        return ""
    stamp = datetime.fromtimestamp(int(realtime_us) / 1e6, tz=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _short_entries(lines: list[str], warnings: Warnings) -> list[_Entry]:
    entries: list[_Entry] = []
    for n, line in enumerate(lines, 1):
        if line.startswith(
            "-- "
        ):  # "-- No entries --", "-- Logs begin at ... --", "-- Boot ... --"
            continue
        match = _SHORT.match(line)
        if match is None:
            warnings.add(f"line {n}: not a short-iso journal line: {line[:80]}")
            continue
        entries.append((match["time"], match["ident"], match["msg"].strip(), ""))
    return entries
