"""/etc/os-release (os-release(5)): newline-separated KEY=value, shell-style quoting.

https://www.freedesktop.org/software/systemd/man/latest/os-release.html

    PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
    VERSION_ID="12"
    ID=debian

Blank lines and lines starting with `#` are ignored. Values may be single- or
double-quoted; inside double quotes `\\`, `"`, `$` and `` ` `` are backslash-escaped.
An unquoted value with spaces is invalid per the spec but seen in the wild; we keep it.
"""

from __future__ import annotations

import re

from agent.parsers import ParseError

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not _KEY.fullmatch(key):
            raise ParseError(f"os-release line {lineno}: expected KEY=value, got {raw!r:.80}")
        try:
            fields[key] = _unquote(value)
        except ValueError as exc:
            raise ParseError(f"os-release line {lineno}: {exc}: {raw!r:.80}") from None
    return fields


def _unquote(value: str) -> str:
    # Not shlex: inside double quotes shlex leaves "\$" and "\`" escaped; the spec does not.
    out: list[str] = []
    quote = ""
    chars = iter(value)
    for ch in chars:
        if quote == "'":
            if ch == "'":
                quote = ""
            else:
                out.append(ch)
        elif ch == "\\":
            nxt = next(chars, "")
            if quote == '"' and nxt not in '\\"$`':
                out.append(ch)  # inside double quotes, other backslashes are literal
            out.append(nxt)
        elif ch in "'\"" and not quote:
            quote = ch
        elif ch == '"' and quote == '"':
            quote = ""
        else:
            out.append(ch)
    if quote:
        raise ValueError(f"no closing {quote}")
    return "".join(out)


def name(fields: dict[str, str]) -> str:
    """Human-readable name; the spec's defaults are "Linux" for both NAME and PRETTY_NAME."""
    if pretty := fields.get("PRETTY_NAME"):
        return pretty
    base = fields.get("NAME", "Linux")
    version = fields.get("VERSION", "")
    return f"{base} {version}".strip()


def version(fields: dict[str, str]) -> str:
    """VERSION_ID ("12", "22.04"); rolling distributions (Arch) have only BUILD_ID."""
    return fields.get("VERSION_ID") or fields.get("VERSION") or fields.get("BUILD_ID", "")
