"""Records for tests and benchmarks, shared so that none of them re-types a host."""

from __future__ import annotations

import uuid

from agent.records import HostInventory

GIB = 1024**3


def inventory(hostname: str = "ws-042") -> HostInventory:
    """A workstation's inventory with every field set to something other than its default,
    so a field dropped anywhere on the way shows; the machine id follows the hostname."""
    return HostInventory(
        hostname=hostname,
        os_family="linux",
        os_name="Debian GNU/Linux 12 (bookworm)",
        os_version="12",
        kernel="6.1.0-18-amd64",
        arch="x86_64",
        cpu_model="Intel(R) Core(TM) i5-8250U CPU @ 1.60GHz",
        cpu_cores=8,
        memory_bytes=16 * GIB,
        boot_time_unix=1_700_000_000,
        machine_id=uuid.uuid5(uuid.NAMESPACE_DNS, hostname).hex,
        agent_version="0.1.0",
    )


INVENTORY = inventory()
