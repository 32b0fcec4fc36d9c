"""The agent's real Uplink, wired the way tests and the feeder need it: no probes."""

from __future__ import annotations

import asyncio

from agent.common.codec import Codec
from agent.config import CollectorSection
from agent.records import HostInventory
from agent.uplink.backoff import Backoff
from agent.uplink.client import PROTOCOL_VERSION, Uplink
from agent.uplink.convert import hello_message
from agent.uplink.spool import Spool


def uplink(
    section: CollectorSection,
    spool: Spool,
    stop: asyncio.Event,
    *,
    agent_id: str,
    inventory: HostInventory | None,
    backoff: Backoff,
    agent_version: str = "test",
) -> Uplink:
    """An Uplink that says Hello as `agent_id` and ignores ConfigUpdates."""
    return Uplink(
        config=section,
        spool=spool,
        codec=Codec(),
        hello=lambda: hello_message(
            agent_id=agent_id,
            epoch=spool.epoch,
            inventory=inventory,
            agent_version=agent_version,
            capabilities=(),
            dictionaries=(),
            protocol_version=PROTOCOL_VERSION,
        ),
        on_config=lambda update: None,
        stop=stop,
        backoff=backoff,
    )
