"""`sw_vers` → the HostInventory fields it knows (os_name, os_version).

sw_vers(1) prints `Name:<tabs>value` lines; macOS 13+ adds ProductVersionExtra for a Rapid
Security Response. The tab count differs between versions, so keys and values are split
on the first colon and stripped:

    ProductName:		macOS
    ProductVersion:		14.4.1
    BuildVersion:		23E224

(Mac OS X 10.15 and earlier print `ProductName:	Mac OS X`.)
https://keith.github.io/xcode-man-pages/sw_vers.1.html

os_name reads like os-release's PRETTY_NAME ("macOS 14.4.1 (23E224)"); os_version is the
bare ProductVersion. hostname is not in sw_vers' output and is left empty for the probe.
"""

from __future__ import annotations

from agent.parsers import Parsed, ParseError, Warnings
from agent.records import HostInventory

_KNOWN = {"ProductName", "ProductVersion", "ProductVersionExtra", "BuildVersion"}


def parse(text: str) -> Parsed[HostInventory]:
    warnings = Warnings()
    fields: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or key not in _KNOWN:
            warnings.add(f"line {lineno}: not sw_vers output: {line.strip()!r:.80}")
            continue
        fields[key] = value.strip()
    version = fields.get("ProductVersion", "")
    if not version:
        raise ParseError("sw_vers: no ProductVersion line")
    name = fields.get("ProductName", "macOS")
    pretty = " ".join(
        part for part in (name, version, fields.get("ProductVersionExtra", "")) if part
    )
    if build := fields.get("BuildVersion"):
        pretty += f" ({build})"
    return Parsed.of(
        HostInventory(hostname="", os_family="darwin", os_name=pretty, os_version=version),
        warnings,
    )
