"""The agent's entry point keeps Python's ssl (and the system OpenSSL) out of the process."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers.procs import env

PROBE = """
from agent.launch import prepare
prepare()
import asyncio, os, sys
import grpc.aio
import agent.cli, agent.service

async def main():
    async with grpc.aio.insecure_channel("127.0.0.1:1"):
        pass

asyncio.run(main())
maps = open("/proc/self/maps").read()
print(sys.modules.get("ssl", "absent"), "libssl" in maps, "libcrypto" in maps,
      os.environ["GRPC_DNS_RESOLVER"])
"""


def run(extra_env: dict[str, str]) -> list[str]:
    child = {k: v for k, v in env().items() if k != "GRPC_DNS_RESOLVER"} | extra_env
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=child, timeout=60,
        check=True,
    )  # fmt: skip
    return out.stdout.split()


def test_agent_run_path_loads_neither_ssl_nor_openssl() -> None:
    assert run({}) == ["None", "False", "False", "native"]


def test_an_operator_choice_of_resolver_is_kept() -> None:
    assert run({"GRPC_DNS_RESOLVER": "ares"})[-1] == "ares"
