"""Network faults: DNS servers that stop answering, ... (edits of the dns_checks JSON)."""

from __future__ import annotations

import json

from collector.sim.faults import FaultKind, Files, HostView, Param, register


@register
class DnsServerDown(FaultKind):
    name = "dns_server_down"
    doc = "a DNS server stops answering the host's test queries (the checks time out)"
    params = {
        "server": Param("str", "the server's address, as the hosts have it configured"),
    }

    def apply(self, files: Files, host: HostView, t: float) -> None:
        text = files.get("dns_checks")
        if text is None:
            return
        data = json.loads(text)
        timeout_ms = float(data.get("timeout_s", 2.0)) * 1000
        for check in data.get("checks", []):
            if check.get("server") == self.p["server"]:
                check.update(status="timeout", rtt_ms=timeout_ms, answers=0,
                             detail="no answer within the timeout")  # fmt: skip
        files["dns_checks"] = json.dumps(data)
