"""The fields a rule can test and a template can show, per record type.

Derived values (percentages, human-readable sizes) are computed here once,
so rule files compare numbers and templates print readable text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from agent.records import HostInventory, SmartDevice, Snapshot, Volume


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    raise AssertionError("unreachable")


def _shallow(record: object, names: tuple[str, ...]) -> dict[str, Any]:
    # Records are flat, so a shallow copy is enough, and several times cheaper than
    # dataclasses.asdict, which deep-copies every value (this runs per record ingested).
    return {name: getattr(record, name) for name in names}


_VOLUME = tuple(f.name for f in fields(Volume))
_SMART = tuple(f.name for f in fields(SmartDevice))
_HOST = tuple(f.name for f in fields(HostInventory))


def volume_facts(v: Volume) -> dict[str, Any]:
    facts = _shallow(v, _VOLUME)
    # Unrounded: a rule's `used_pct >= 95` must not fire at 94.96 %. Templates round
    # with {used_pct:.1f}; the ticket's evidence rounds for display (tickets/render.py).
    facts.update(
        used_pct=v.used_pct,
        inodes_used_pct=v.inodes_used_pct,
        free_human=human_bytes(v.free_bytes),
        total_human=human_bytes(v.total_bytes),
        used_human=human_bytes(v.used_bytes),
    )
    return facts


def smart_facts(d: SmartDevice) -> dict[str, Any]:
    facts = _shallow(d, _SMART)
    facts.update(failed=d.failed, health="FAILED" if d.failed else "PASSED")
    return facts


def host_facts(inv: HostInventory | None, agent_id: str) -> dict[str, Any]:
    facts: dict[str, Any] = _shallow(inv, _HOST) if inv else {"hostname": "", "os_family": ""}
    facts["agent_id"] = agent_id
    facts["hostname"] = facts.get("hostname") or agent_id
    return facts


# Record types a rule may name, with the fields available for it (checked at load).
RECORD_FIELDS: Mapping[str, frozenset[str]] = {
    "volume": frozenset(volume_facts(Volume("", "", "", 0, 0, 0))),
    "smart": frozenset(smart_facts(SmartDevice("", ""))),
}
HOST_FIELDS = frozenset(host_facts(HostInventory("", ""), ""))


def records_of(kind: str, snapshot: Snapshot) -> list[dict[str, Any]]:
    if kind == "volume":
        return [volume_facts(v) for v in snapshot.volumes]
    if kind == "smart":
        return [smart_facts(d) for d in snapshot.smart]
    return []
