"""Redaction of what leaves the collector in a ticket: personal data and secrets.

Tickets are read by many people and copied into SaaS helpdesks; the evidence must say
what broke, not who the user is or what their password was. What is kept on purpose:
device names, serial numbers, addresses and driver names, which support needs (an RMA
needs the serial, a DNS ticket the server address).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

# One pass over the text, every rule an alternative: on the ingest path every repeat's
# evidence goes through here, and five separate scans cost 15 % of the collector's CPU.
# A secret's name, alone or inside an identifier: password, DB_PASSWORD, PGPASSWORD,
# access_token, client-secret, X-Api-Key, session_id ...
_SECRET_NAME = (
    r"(?:[A-Za-z0-9]+[_-])*(?:[A-Za-z0-9]*pass(?:word|wd|phrase)|pass|pwd|secret|token|"
    r"api[_-]?key|access[_-]?key|private[_-]?key|session[_-]?id|cookie|auth(?:orization)?)"
    r"(?:[_-][A-Za-z0-9]+)*"
)
SECRET_KEY = re.compile(rf"(?i:{_SECRET_NAME})")
# key=value secrets in command lines, logs and JSON: password=..., token: ...,
# "password": "..."; "Authorization: Bearer <token>" takes the scheme and the token.
_KV = re.compile(
    rf"(?P<kv>(?i:\b{_SECRET_NAME})[\"']?\s*[=:]\s*)(?:(?i:bearer|basic)\s+)?"
    r"(?:\"[^\"]*\"|'[^']*'|[^\s,;}&]+)"
)
# Every secret name holds one of these: texts without any (most of them) skip _KV, whose
# identifier prefixes make it the costly pattern on long texts.
_KV_HINT = re.compile(r"(?i)pass|pwd|secret|token|key|auth|session|cookie")
_OTHER = re.compile(
    r"(?P<scheme>(?i:\b(?:bearer|basic))\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|(?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)"
    # Who the user is: Windows' "Account Name: alice", "for user alice" (sshd, sudo, PAM).
    r"|(?P<account>(?i:\baccount\s+name:\s*|\b(?:for|by)\s+user\s+))(?!<)[^\s,;]+"
    # Home folders name their user: /home/alice, /Users/alice, C:\Users\alice, and UNC
    # home shares \\server\home\alice.
    r"|(?P<home>/home/|/Users/|(?i:[a-z]:\\Users\\)|(?i:\\\\[^\\\s]+\\(?:users|home)\\))"
    r"[^/\\\s:'\"]+"
)


def _replace(m: re.Match[str]) -> str:
    kind = m.lastgroup
    if kind == "email":
        return "<email>"
    if kind == "home":
        return m.group("home") + "<user>"
    if kind == "account":
        return m.group("account") + "<user>"
    prefix = m.group("kv") if kind == "kv" else m.group("scheme")
    return prefix + "<redacted>"


@functools.lru_cache(maxsize=8192)
def text(value: str) -> str:
    # Cached: a host's log lines come back in every repeat's evidence.
    if _KV_HINT.search(value):
        value = _KV.sub(_replace, value)
    return _OTHER.sub(_replace, value)


_PLAIN = (int, float, bool, type(None))


def value(obj: Any) -> Any:
    """Every string inside obj redacted; the structure kept. Exact type checks first: the
    evidence is mostly numbers (timelines), and an ABC isinstance check costs a microsecond."""
    kind = type(obj)
    if kind in _PLAIN:
        return obj
    if kind is str:
        return text(obj)
    if kind is list or kind is tuple:
        return [value(v) for v in obj]
    if kind is dict or isinstance(obj, Mapping):
        # A value under a secret's name is a secret whatever it looks like.
        return {
            k: "<redacted>" if isinstance(k, str) and SECRET_KEY.fullmatch(k) and v else value(v)
            for k, v in obj.items()
        }
    return obj
