"""The `dns_checks` call's JSON (agent/netcalls.py) → DnsCheck per (server, name).

    {"timeout_s": 2.0,
     "checks": [{"server": "10.0.0.2", "name": "example.com", "qtype": 1, "status": "ok",
                 "rtt_ms": 1.84, "answers": 1, "detail": ""},
                {"server": "10.0.0.3", "name": "example.com", "qtype": 1,
                 "status": "timeout", "rtt_ms": 0.0, "answers": 0,
                 "detail": "no answer in 2 s"}]}

status is one of ok | nxdomain | servfail | refused | timeout | error (DnsCheck's
vocabulary); an entry with another status, or without a name, is a warning and left out.
"""

from __future__ import annotations

from agent.parsers import Parsed, ParseError, Warnings
from agent.parsers._json import get_float, get_int, get_list, get_str, load_object
from agent.records import DnsCheck

STATUSES = frozenset({"ok", "nxdomain", "servfail", "refused", "timeout", "error"})


def parse(text: str) -> Parsed[tuple[DnsCheck, ...]]:
    doc = load_object(text, "dns_checks")
    if "checks" not in doc:
        raise ParseError("dns_checks: missing key 'checks'")
    warnings = Warnings()
    found: list[DnsCheck] = []
    for i, item in enumerate(get_list(doc, "checks")):
        if not isinstance(item, dict):
            warnings.add(f"checks[{i}]: not an object")
            continue
        try:
            check = DnsCheck(
                name=get_str(item, "name"),
                server=get_str(item, "server"),
                status=get_str(item, "status"),
                qtype=get_int(item, "qtype", 1),
                rtt_ms=get_float(item, "rtt_ms"),
                answers=get_int(item, "answers"),
                detail=get_str(item, "detail"),
            )
        except ParseError as exc:
            warnings.add(f"checks[{i}]: {exc}")
            continue
        if not check.name or check.status not in STATUSES:
            warnings.add(f"checks[{i}]: no name or unknown status {check.status!r:.20}")
            continue
        found.append(check)
    return Parsed.of(tuple(found), warnings)
