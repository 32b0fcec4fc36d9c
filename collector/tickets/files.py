"""A ticket's evidence as files: attached to the helpdesk ticket, named with their hashes.

Pure: the evidence mapping (already redacted by the store) in, (name, media type, bytes)
out. The store calls it once, when a ticket opens; the report lists every file with its
SHA-256 so a copy found elsewhere can be matched to its ticket.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

EvidenceFile = tuple[str, str, bytes]  # (name, media type, content)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def stamp(ms: int | float) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def safe_name(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("_")[:60] or "host"


def evidence_files(subject: str, component: str, evidence: Mapping[str, Any]) -> list[EvidenceFile]:
    clean = dict(evidence)
    out: list[EvidenceFile] = []
    values = clean.get("values") or {}
    if values:
        width = max(len(k) for k in values)
        lines = [f"{k.ljust(width)}  {_plain(v)}" for k, v in values.items()]
        name = f"{subject}-{safe_name(component)}.txt" if component else f"{subject}.txt"
        out.append((name, "text/plain", ("\n".join(lines) + "\n").encode()))
    events = clean.get("events") or []
    if events:
        lines = [
            f"{stamp(e['time_ms'])}  {e.get('severity', ''):<8} {e.get('kind', '')}  "
            f"{e.get('message', '')}"
            for e in events
        ]
        out.append(("events.log", "text/plain", ("\n".join(lines) + "\n").encode()))
    for series, points in (clean.get("series") or {}).items():
        if points:
            rows = ["time,value", *(f"{stamp(t)},{_plain(v)}" for t, v in points)]
            out.append(
                (f"timeline-{safe_name(series)}.csv", "text/csv", ("\n".join(rows) + "\n").encode())
            )
    body = json.dumps(clean, indent=2, sort_keys=True, default=str) + "\n"
    out.append(("evidence.json", "application/json", body.encode()))
    return out


def _plain(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list | dict):
        return json.dumps(v, default=str)
    return str(v)
