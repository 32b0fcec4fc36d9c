"""NetworkManager's `nmcli device show` → interfaces, routes and DNS (NmcliDeviceShow), and
`nmcli connection show` → the connection profiles (NmConnection).

nmcli(1): https://networkmanager.dev/docs/api/latest/nmcli.html; device states are
NMDeviceState (https://networkmanager.dev/docs/api/latest/nm-dbus-types.html).

    GENERAL.DEVICE:                         enp0s3
    GENERAL.TYPE:                           ethernet
    GENERAL.HWADDR:                         08:00:27:4A:C5:EF
    GENERAL.MTU:                            1500
    GENERAL.STATE:                          100 (connected)
    GENERAL.CONNECTION:                     enp0s3
    WIRED-PROPERTIES.CARRIER:               on
    IP4.ADDRESS[1]:                         10.0.2.15/24
    IP4.GATEWAY:                            10.0.2.2
    IP4.ROUTE[1]:                           dst = 0.0.0.0/0, nh = 10.0.2.2, mt = 100
    IP4.DNS[1]:                             10.0.2.3
    IP4.DOMAIN[1]:                          example.com

    NAME                UUID                                  TYPE      DEVICE
    Wired connection 1  ba12c52b-cd0e-39a0-a95b-643a0859664e  ethernet  eth1

`--` means none. The terse form (`-t`, `GENERAL.DEVICE:eth0`, `\\:` escaping a colon)
reads the same. nmcli's own `Error:` / `Warning:` lines (version mismatch, bad option)
are counted as warnings; nothing raises.

Interface facts: WIRED-PROPERTIES.CARRIER decides carrier and oper_state when present;
otherwise state 100 (connected) means up, 20 (unavailable) down, anything else unknown.
Routes: every IPn.ROUTE of the main table, plus a `default` Route for IPn.GATEWAY when
no route already says so.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from agent.parsers import Parsed, Warnings
from agent.records import DnsConfig, NetInterface, Route

_FIELD = re.compile(r"([A-Z][A-Z0-9_-]*(?:\.[A-Z0-9_-]+)+)(?:\[\d+\])?:\s*(.*)")
_CONNECTION = re.compile(
    r"(?P<name>.*?)\s+(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"\s+(?P<type>\S+)\s+(?P<device>\S+)"
)
_STATE = re.compile(r"(\d+)\s*\(?([^)]*)\)?")
_VIRTUAL_TYPES = frozenset(
    {"bridge", "bond", "team", "vlan", "vxlan", "tun", "veth", "dummy", "macvlan", "wireguard"}
    | {"ip-tunnel", "ovs-bridge", "ovs-port", "ovs-interface", "macsec", "vrf", "loopback-virt"}
)
_MAIN_TABLES = frozenset({"", "254", "main"})


@dataclass(frozen=True, slots=True)
class NmDevice:
    name: str
    type: str = ""  # ethernet | wifi | bridge | loopback | ...
    state: str = ""  # as printed: "100 (connected)"
    state_code: int = 0  # NMDeviceState: 10 unmanaged, 20 unavailable, 30 disconnected,
    # 40-90 activating, 100 connected, 110 deactivating, 120 failed
    connection: str = ""  # the active profile; "" = none
    carrier: bool | None = None  # None: nmcli does not say (not wired)


@dataclass(frozen=True, slots=True)
class NmcliDeviceShow:
    interfaces: tuple[NetInterface, ...] = ()
    devices: tuple[NmDevice, ...] = ()
    routes: tuple[Route, ...] = ()
    dns: DnsConfig = DnsConfig(source="nmcli")


@dataclass(frozen=True, slots=True)
class NmConnection:
    name: str
    uuid: str
    type: str
    device: str = ""  # "" = not active


@dataclass(slots=True)
class _Device:
    fields: dict[str, list[str]] = field(default_factory=dict)

    def first(self, key: str) -> str:
        values = self.fields.get(key)
        return values[0] if values else ""

    def all(self, key: str) -> list[str]:
        return [v for v in self.fields.get(key, []) if v]


def parse(text: str) -> Parsed[NmcliDeviceShow]:
    """`nmcli device show` (all devices, or one)."""
    warnings = Warnings()
    devices: list[_Device] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        found = _FIELD.fullmatch(line.strip())
        if found is None:
            warnings.add(f"line {lineno}: not nmcli device show output: {line.strip()!r:.100}")
            continue
        key, value = found.group(1), found.group(2).strip().replace("\\:", ":")
        if key == "GENERAL.DEVICE" or not devices:
            devices.append(_Device())
        devices[-1].fields.setdefault(key, []).append("" if value == "--" else value)
    named = [d for d in devices if d.first("GENERAL.DEVICE")]
    return Parsed.of(_show(named, warnings), warnings)


def parse_connections(text: str) -> Parsed[tuple[NmConnection, ...]]:
    """`nmcli connection show`: NAME UUID TYPE DEVICE, names may contain spaces."""
    warnings = Warnings()
    found: list[NmConnection] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.split()[:2] == ["NAME", "UUID"]:
            continue
        row = _CONNECTION.fullmatch(stripped)
        if row is None:
            warnings.add(f"line {lineno}: not nmcli connection show output: {stripped!r:.100}")
            continue
        device = row.group("device")
        if device.endswith('"'):
            # Seen in the wild (insights-core fixtures): a stray quote after the name.
            warnings.add(f"line {lineno}: stray quote after device {device!r}")
            device = device.rstrip('"')
        found.append(
            NmConnection(
                name=row.group("name"),
                uuid=row.group("uuid"),
                type=row.group("type"),
                device="" if device == "--" else device,
            )
        )
    return Parsed.of(tuple(found), warnings)


def _show(devices: list[_Device], warnings: Warnings) -> NmcliDeviceShow:
    records: list[NmDevice] = []
    interfaces: list[NetInterface] = []
    routes: list[Route] = []
    servers: list[str] = []
    search: list[str] = []
    for dev in devices:
        record = _device(dev)
        records.append(record)
        interfaces.append(_interface(dev, record))
        routes.extend(_routes(dev, record.name, warnings))
        servers += dev.all("IP4.DNS") + dev.all("IP6.DNS")
        search += dev.all("IP4.DOMAIN") + dev.all("IP6.DOMAIN")
    dns = DnsConfig(tuple(dict.fromkeys(servers)), tuple(dict.fromkeys(search)), "nmcli")
    return NmcliDeviceShow(tuple(interfaces), tuple(records), tuple(routes), dns)


def _device(dev: _Device) -> NmDevice:
    state = dev.first("GENERAL.STATE")
    found = _STATE.fullmatch(state)
    carrier = dev.first("WIRED-PROPERTIES.CARRIER")
    return NmDevice(
        name=dev.first("GENERAL.DEVICE"),
        type=dev.first("GENERAL.TYPE"),
        state=state,
        state_code=int(found.group(1)) if found else 0,
        connection=dev.first("GENERAL.CONNECTION"),
        carrier={"on": True, "off": False}.get(carrier),
    )


def _interface(dev: _Device, record: NmDevice) -> NetInterface:
    code = record.state_code
    if record.carrier is not None:
        oper = "up" if record.carrier else "down"
    else:
        oper = {100: "up", 20: "down"}.get(code, "unknown")
    mtu = dev.first("GENERAL.MTU")
    return NetInterface(
        name=record.name,
        mac=dev.first("GENERAL.HWADDR").lower(),
        kind=_kind(record.type),
        oper_state=oper,
        # Connected or activating means NetworkManager brought the link up.
        admin_up=bool(record.carrier) or 40 <= code <= 100,
        carrier=record.carrier if record.carrier is not None else code == 100,
        mtu=int(mtu) if mtu.isdigit() else 0,
        addresses=tuple(dev.all("IP4.ADDRESS") + dev.all("IP6.ADDRESS")),
        dhcp=bool(dev.all("DHCP4.OPTION")),
    )


def _routes(dev: _Device, name: str, warnings: Warnings) -> list[Route]:
    routes: list[Route] = []
    for family in (4, 6):
        for entry in dev.all(f"IP{family}.ROUTE"):
            try:
                route = _route(entry, name, family)
            except ValueError:
                warnings.add(f"{name}: IP{family}.ROUTE is not a route: {entry!r:.80}")
                continue
            if route is not None:
                routes.append(route)
        gateway = dev.first(f"IP{family}.GATEWAY")
        if gateway and not any(r.destination == "default" and r.gateway == gateway for r in routes):
            routes.append(Route("default", gateway, name, family=family))
    return routes


def _route(entry: str, name: str, family: int) -> Route | None:
    """`dst = 0.0.0.0/0, nh = 10.72.37.254, mt = 100[, table=255]`; None: not the main table."""
    attrs: dict[str, str] = {}
    for part in entry.split(","):
        key, _, value = part.partition("=")
        attrs[key.strip()] = value.strip()
    if attrs.get("table", "") not in _MAIN_TABLES:
        return None
    network = ipaddress.ip_network(attrs.get("dst", ""), strict=False)  # ValueError: not a route
    gateway = attrs.get("nh", "")
    metric = attrs.get("mt", "0")
    return Route(
        destination="default" if network.prefixlen == 0 else str(network),
        gateway="" if gateway in ("", "0.0.0.0", "::") else gateway,
        interface=name,
        metric=int(metric) if metric.isdigit() else 0,
        family=family,
    )


def _kind(nm_type: str) -> str:
    if nm_type in ("ethernet", "wifi", "loopback"):
        return nm_type
    if nm_type in _VIRTUAL_TYPES or nm_type.startswith("ovs-"):
        return "virtual"
    return "other" if nm_type else ""
