"""The `host_facts` call's JSON (agent/sources.py) → the HostInventory fields it knows.

    {"hostname": "build-01", "system": "Linux", "kernel": "6.1.0-21-amd64",
     "arch": "x86_64", "boot_time": 1715241600.0, "memory_total": 4102692864,
     "cpu_count": 2, "cpu_model": "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz"}

Only `hostname` is required; everything else may be missing (a psutil or cpuinfo call
that failed on that host) and keeps the record's default. `boot_time` is psutil's float
seconds; the record keeps whole seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.parsers import ParseError
from agent.parsers._json import get_float, get_int, get_str, load_object


@dataclass(frozen=True, slots=True)
class HostFacts:
    hostname: str
    kernel: str = ""
    arch: str = ""
    cpu_model: str = ""
    cpu_cores: int = 0
    memory_bytes: int = 0
    boot_time_unix: int = 0


def parse(text: str) -> HostFacts:
    doc = load_object(text, "host_facts")
    hostname = get_str(doc, "hostname")
    if not hostname:
        raise ParseError("host_facts: missing key 'hostname'")
    return HostFacts(
        hostname=hostname,
        kernel=get_str(doc, "kernel"),
        arch=get_str(doc, "arch"),
        cpu_model=get_str(doc, "cpu_model").strip(),
        cpu_cores=get_int(doc, "cpu_count"),
        memory_bytes=get_int(doc, "memory_total"),
        boot_time_unix=int(get_float(doc, "boot_time")),
    )
