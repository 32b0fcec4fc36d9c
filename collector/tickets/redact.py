"""Redaction of what leaves the collector in a ticket: personal data and secrets.

Tickets are read by many people and copied into SaaS helpdesks; the evidence must say
what broke, not who the user is or what their password was. What is kept on purpose:
device names, serial numbers, addresses and driver names, which support needs (an RMA
needs the serial, a DNS ticket the server address).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # First: in "Authorization: Bearer <token>" the key=value rule would take only "Bearer".
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 <redacted>"),
    # key=value secrets in command lines and logs: password=..., token: ..., api_key=...
    (
        re.compile(
            r"(?i)\b(pass(?:word|wd)?|pwd|secret|token|api[_-]?key|auth(?:orization)?|"
            r"session[_-]?id|cookie)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|\S+)"
        ),
        r"\1\2<redacted>",
    ),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    # Home folders name their user: /home/alice, /Users/alice, C:\Users\alice.
    (re.compile(r"(/home/|/Users/)[^/\s:'\"]+"), r"\1<user>"),
    (re.compile(r"(?i)([a-z]:\\Users\\)[^\\\s:'\"]+"), r"\1<user>"),
)


# Every rule needs one of these to match: most strings (numbers as text, model names) have
# none and skip the five passes.
_TRIGGER = re.compile(r"[@/\\=:]|(?i:bearer|basic)")


def text(value: str) -> str:
    if not _TRIGGER.search(value):
        return value
    for pattern, replacement in _RULES:
        value = pattern.sub(replacement, value)
    return value


def value(obj: Any) -> Any:
    """Every string inside obj redacted; the structure kept."""
    if isinstance(obj, str):
        return text(obj)
    if isinstance(obj, Mapping):
        return {k: value(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [value(v) for v in obj]
    return obj
