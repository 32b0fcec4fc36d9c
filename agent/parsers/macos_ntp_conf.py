"""/etc/ntp.conf as macOS writes it → the NTP servers it names, in order.

"Set time and date automatically" (systemsetup(8) -setnetworktimeserver) writes one
`server <name>` line; ntp.conf(5) (https://www.ntp.org/documentation/4.2.8-series/confopt/)
also allows `pool` and options after the name, and comments:

    server time.apple.com

macOS's timed uses only the first server; the probe queries that one.
"""

from __future__ import annotations

from agent.parsers import Parsed, Warnings


def parse(text: str) -> Parsed[tuple[str, ...]]:
    warnings = Warnings()
    servers: list[str] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] in ("server", "pool") and len(words) > 1:
            servers.append(words[1])
        elif words[0] in ("server", "pool"):
            warnings.add(f"line {lineno}: {words[0]} without a name")
        # restrict, driftfile, ... configure ntpd, which macOS no longer runs.
    return Parsed.of(tuple(servers), warnings)
