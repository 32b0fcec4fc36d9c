"""/etc/machine-id (machine-id(5)): 32 lowercase hex characters and a newline.

https://www.freedesktop.org/software/systemd/man/latest/machine-id.html

An empty file or the literal `uninitialized` is a legitimate state (an image before its
first boot): it means "no id yet", not a parse error.
"""

from __future__ import annotations

import re

from agent.parsers import ParseError

_ID = re.compile(r"[0-9a-f]{32}")


def parse(text: str) -> str:
    value = text.strip()
    if value in ("", "uninitialized"):
        return ""
    if not _ID.fullmatch(value):
        raise ParseError(f"machine-id: expected 32 lowercase hex characters, got {value!r:.60}")
    return value
