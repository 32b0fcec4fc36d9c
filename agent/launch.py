"""The `rdiag-agent` entry point: process-wide choices made before anything is imported.

Kept apart from agent/cli.py because these must happen before asyncio and grpc load,
and agent.cli imports both (indirectly) at module level.

* Python's `ssl` module is not loaded. The agent never uses it: gRPC brings its own TLS
  (BoringSSL, inside grpc's extension), and asyncio only imports `ssl` if it can. Loading
  it maps the system OpenSSL (libssl, libcrypto) into the process for nothing: about
  4 MiB of RSS, a tenth of the agent (README, Performance and Design decisions).
* gRPC resolves names with the system resolver (getaddrinfo), not its bundled c-ares:
  it honours what the workstation's own lookups do (hosts file, VPN split DNS, search
  suffixes), and the channel costs less memory.

* Nor is `_hashlib`, the OpenSSL binding behind hashlib and hmac: the redaction stage's
  keyed hashes (agent/redact.py) then use CPython's built-in SHA-256, and libcrypto stays
  out of the process for the same reason as above.

GRPC_DNS_RESOLVER in the environment still picks another resolver. Code that one day needs
`ssl` in the agent (an HTTPS client) must drop the first choice here, not work around it.
"""

from __future__ import annotations

import os
import sys


def prepare(environ: dict[str, str] | os._Environ[str] = os.environ) -> None:
    for name in ("ssl", "_hashlib"):
        if name not in sys.modules:
            sys.modules[name] = None  # type: ignore[assignment]  # `import` → ImportError
    environ.setdefault("GRPC_DNS_RESOLVER", "native")


def main() -> None:
    if sys.argv[1:2] == ["simulate"]:
        # The fleet simulator is a CI tool (YAML, the collector's store for verify): it lives
        # in the collector's package and needs rdiag[collector]. A workstation never runs it,
        # and nothing of it loads for any other command.
        try:
            from collector.sim.cli import main as simulate
        except ImportError as exc:
            print(f"rdiag-agent simulate needs rdiag[collector] installed: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        raise SystemExit(simulate(sys.argv[2:]))
    prepare()
    from agent.cli import main as cli_main

    cli_main()
