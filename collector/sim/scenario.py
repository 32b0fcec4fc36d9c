"""Scenario files (YAML) → a frozen Scenario, with `file:line: key: problem` errors.

    name: dns-outage-site-a
    duration: 6h                 # simulated time
    interval: 60s                # one collection cycle per host per interval
    start: 2026-01-05T08:00:00Z  # optional; default: when the run starts
    collector:                   # collector settings the scenario needs (TOML keys)
      sites: {site-a: ["10.1.0.0/16"]}
    fleet:
      - profile: office
        count: 20
        capture: ../fixtures/hosts/sim-linux-healthy   # relative to this file
        hostname: "ws-a-{n:03}"                         # n = 1..count
        subnet: 10.1.0.0/24                             # host n gets .(10 + n)
        dns_servers: [10.1.0.53]
    faults:
      - kind: dns_server_down
        hosts: office            # a profile, profile[3], profile[0:5], or *
        start: 1h
        end: 3h
        server: 10.1.0.53
    expect:
      only: true                 # nothing else may open (default)
      tickets:
        - {rule: cross.fleet_dns_outage, kind: fleet, priority: P2, tier: L1}
      incidents:
        - {rule: cross.fleet_dns_outage, group: 10.1.0.53, hosts: office}

Fault parameters are checked by the fault kind (faults.py), so a typo in a parameter fails
at load time with its line, like one in the scenario's own keys.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from collector.engine.lang import duration_ms
from collector.engine.load import Path_, Reader, RuleError, read_yaml

MAX_HOSTS = 100_000
MAX_CYCLES = 10_000_000  # hosts x cycles: a typo in a count must not start a week-long run
PRIORITIES = ("P1", "P2", "P3", "P4")
TIERS = ("L1", "L2", "L3")
TICKET_KINDS = ("host", "fleet", "storm", "problem")
TICKET_STATES = ("open", "held", "resolved", "any")
_SELECTOR = re.compile(
    r"^(?P<profile>[A-Za-z0-9_.-]+|\*)(?:\[(?P<a>\d+)?(?P<colon>:)?(?P<b>\d+)?\])?$"
)
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class ScenarioError(ValueError):
    """A scenario problem, as 'file:line: key: problem'."""


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    count: int
    capture: Path  # a capture folder (`rdiag-agent capture`), the hosts' raw outputs
    os: str  # from the capture's host.toml
    hostname: str  # a format with {n} (1-based) and {profile}
    subnet: str = ""  # the hosts' IPv4 network; "" keeps the capture's addresses
    dns_servers: tuple[str, ...] = ()  # () keeps the capture's
    files: Mapping[str, str] = field(default_factory=dict)  # raw outputs replaced, by spec


@dataclass(frozen=True, slots=True)
class SimHostSpec:
    """One simulated host of the fleet."""

    profile: Profile
    index: int  # 0-based within its profile
    hostname: str
    address: str  # "" when the profile keeps the capture's

    @property
    def agent_id(self) -> str:
        return f"sim-{self.hostname}"


@dataclass(frozen=True, slots=True)
class Selector:
    """profile, profile[i], profile[a:b] or * (every host)."""

    text: str
    profile: str  # "*" for all
    start: int = 0
    stop: int | None = None  # exclusive; None: to the end

    def pick(self, hosts: tuple[SimHostSpec, ...]) -> tuple[SimHostSpec, ...]:
        mine = [h for h in hosts if self.profile in ("*", h.profile.name)]
        return tuple(mine[self.start : self.stop])


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    hosts: Selector
    start_s: float
    end_s: float | None  # None: until the end of the run
    params: Mapping[str, Any]
    line: int


@dataclass(frozen=True, slots=True)
class ExpectedTicket:
    rule: str
    kind: str = "host"
    hosts: Selector | None = None  # host tickets: one per selected host; None: any host
    component: str | None = None
    priority: str | None = None
    tier: str | None = None
    state: str = "any"
    line: int = 0


@dataclass(frozen=True, slots=True)
class ExpectedIncident:
    rule: str
    group: str | None = None
    hosts: Selector | None = None  # at least these hosts are in it
    line: int = 0


@dataclass(frozen=True, slots=True)
class Expectation:
    tickets: tuple[ExpectedTicket, ...] = ()
    incidents: tuple[ExpectedIncident, ...] = ()
    only: bool = True  # nothing but the expected tickets may open


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    path: Path
    description: str
    duration_s: float
    interval_s: float
    start_ms: int | None  # None: when the run starts
    profiles: tuple[Profile, ...]
    faults: tuple[Fault, ...]
    expect: Expectation
    collector: Mapping[str, Any] = field(default_factory=dict)  # TOML tree for the collector

    @property
    def cycles(self) -> int:
        return int(self.duration_s // self.interval_s)

    def hosts(self) -> tuple[SimHostSpec, ...]:
        out: list[SimHostSpec] = []
        for p in self.profiles:
            net = ipaddress.ip_network(p.subnet) if p.subnet else None
            for i in range(p.count):
                name = p.hostname.format(n=i + 1, profile=p.name)
                address = str(net.network_address + 10 + i) if net else ""
                out.append(SimHostSpec(p, i, name, address))
        return tuple(out)

    def collector_toml(self) -> str:
        """The collector settings this scenario needs, as TOML (with store.clock = observed)."""
        tree: dict[str, Any] = {k: dict(v) if isinstance(v, Mapping) else v
                                for k, v in self.collector.items()}  # fmt: skip
        store = tree.setdefault("store", {})
        store.setdefault("clock", "observed")
        return _toml(tree)


def _toml(tree: Mapping[str, Any], prefix: str = "") -> str:
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, Any]]] = []
    for key, value in tree.items():
        if isinstance(value, Mapping):
            tables.append((f"{prefix}{key}", value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for name, table in tables:
        body = _toml(table, f"{name}.")
        if any(not isinstance(v, Mapping) for v in table.values()):
            out += f"\n[{'.'.join(_toml_key(k) for k in name.split('.'))}]\n"
        out += body
    return out


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


# --- loading -------------------------------------------------------------------------------

SCENARIO_KEYS = {"name", "description", "duration", "interval", "start", "collector", "fleet",
                 "faults", "expect"}  # fmt: skip
PROFILE_KEYS = {"profile", "count", "capture", "hostname", "subnet", "dns_servers", "files"}
FAULT_KEYS = {"kind", "hosts", "start", "end"}
EXPECT_KEYS = {"only", "tickets", "incidents"}
TICKET_KEYS = {"rule", "kind", "hosts", "component", "priority", "tier", "state"}
INCIDENT_KEYS = {"rule", "group", "hosts"}


def load_scenario(path: Path) -> Scenario:
    """Read and check a scenario file; ScenarioError names the file:line of a problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data, lines = read_yaml(text, path)
    except RuleError as exc:
        raise ScenarioError(str(exc)) from None
    r = Reader(path, lines)
    try:
        return _scenario(r, path, data)
    except RuleError as exc:
        raise ScenarioError(str(exc)) from None


def _scenario(r: Reader, path: Path, data: Any) -> Scenario:
    from collector.sim.faults import check_params  # faults import this module's types

    if not isinstance(data, dict):
        raise r.fail((), "expected a mapping with name, duration, fleet, expect")
    r.keys(data, (), SCENARIO_KEYS)
    name = r.get(data, (), "name", str)
    if not _NAME.match(name):
        raise r.fail(("name",), "expected 1-64 letters, digits and ._-")
    duration = _duration(r, data, (), "duration", None)
    interval = _duration(r, data, (), "interval", 60_000)
    if interval < 1000:
        raise r.fail(("interval",), "expected at least 1s")
    if duration < interval:
        raise r.fail(("duration",), "expected at least one interval")
    start_ms = None
    if "start" in data:
        raw = data["start"]
        try:
            when = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
        except ValueError:
            raise r.fail(("start",), f"expected an ISO 8601 time, got {raw!r}") from None
        if when.tzinfo is None:
            raise r.fail(("start",), "expected a time zone (2026-01-05T08:00:00Z)")
        start_ms = int(when.timestamp() * 1000)
    collector = r.get(data, (), "collector", dict, {})
    fleet = r.get(data, (), "fleet", list)
    if not fleet:
        raise r.fail(("fleet",), "expected at least one profile")
    profiles = tuple(_profile(r, path, p, ("fleet", i)) for i, p in enumerate(fleet))
    seen: set[str] = set()
    for i, p in enumerate(profiles):
        if p.name in seen:
            raise r.fail(("fleet", i, "profile"), f"profile {p.name!r} is named twice")
        seen.add(p.name)
    total = sum(p.count for p in profiles)
    if total > MAX_HOSTS:
        raise r.fail(("fleet",), f"{total} hosts: at most {MAX_HOSTS}")
    cycles = duration // interval
    if total * cycles > MAX_CYCLES:
        raise r.fail(("duration",), f"{total} hosts x {cycles} cycles: at most {MAX_CYCLES}")
    by_name = {p.name: p for p in profiles}
    faults: list[Fault] = []
    for i, raw in enumerate(r.get(data, (), "faults", list, [])):
        where: Path_ = ("faults", i)
        if not isinstance(raw, dict):
            raise r.fail(where, "expected a mapping with kind, hosts, start")
        kind = r.get(raw, where, "kind", str)
        sel = _selector(r, raw, where, "hosts", by_name, required=True)
        assert sel is not None
        start = _duration(r, raw, where, "start", 0)
        end = _duration(r, raw, where, "end", None) if "end" in raw else None
        if end is not None and end <= start:
            raise r.fail((*where, "end"), "expected a time after start")
        params = {k: v for k, v in raw.items() if k not in FAULT_KEYS}
        oses = {p.os for p in profiles if sel.profile in ("*", p.name)}
        problem = check_params(kind, params, oses)
        if problem is not None:
            key, message = problem
            raise r.fail((*where, key) if key else where, message)
        faults.append(Fault(kind, sel, start / 1000, None if end is None else end / 1000,
                            params, r.line(where)))  # fmt: skip
    expect = _expect(r, r.get(data, (), "expect", dict, {}), by_name)
    return Scenario(
        name=name,
        path=path,
        description=r.get(data, (), "description", str, "").strip(),
        duration_s=duration / 1000,
        interval_s=interval / 1000,
        start_ms=start_ms,
        profiles=profiles,
        faults=tuple(faults),
        expect=expect,
        collector=collector,
    )


def _duration(
    r: Reader, data: Mapping[str, Any], path: Path_, key: str, default: int | None
) -> int:
    if key not in data:
        if default is None:
            raise r.fail(path, f"missing required key '{key}'")
        return default
    raw = data[key]
    if raw == 0 or raw == "0":
        return 0
    try:
        # Rule windows stop at 30 days; a simulated run may be longer.
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*d\s*", str(raw))
        return int(float(m.group(1)) * 86_400_000) if m else duration_ms(str(raw))
    except ValueError as exc:
        raise r.fail((*path, key), str(exc)) from None


def _profile(r: Reader, path: Path, raw: Any, where: Path_) -> Profile:
    if not isinstance(raw, dict):
        raise r.fail(where, "expected a mapping with profile, count, capture")
    r.keys(raw, where, PROFILE_KEYS)
    name = r.get(raw, where, "profile", str)
    if not _NAME.match(name):
        raise r.fail((*where, "profile"), "expected 1-64 letters, digits and ._-")
    count = r.get(raw, where, "count", int, 1)
    if not 1 <= count <= MAX_HOSTS:
        raise r.fail((*where, "count"), f"expected 1..{MAX_HOSTS}")
    capture = (path.parent / r.get(raw, where, "capture", str)).resolve()
    host_toml = capture / "host.toml"
    try:
        with open(host_toml, "rb") as f:
            os_name = tomllib.load(f).get("os")
    except FileNotFoundError:
        raise r.fail(
            (*where, "capture"), f"{capture} is not a capture folder (no host.toml)"
        ) from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise r.fail((*where, "capture"), f"{host_toml}: {exc}") from None
    if os_name not in ("linux", "windows", "darwin"):
        raise r.fail((*where, "capture"), f"{host_toml}: os must be linux, windows or darwin")
    hostname = r.get(raw, where, "hostname", str, name + "-{n:03}")
    try:
        first = hostname.format(n=1, profile=name)
    except (KeyError, IndexError, ValueError) as exc:
        raise r.fail((*where, "hostname"), f"expected a format with {{n}}: {exc}") from None
    if count > 1 and first == hostname.format(n=2, profile=name):
        raise r.fail((*where, "hostname"), "every host needs its own name: use {n}")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]{0,62}", first):
        raise r.fail((*where, "hostname"), f"{first!r} is not a host name")
    subnet = r.get(raw, where, "subnet", str, "")
    if subnet:
        try:
            net = ipaddress.ip_network(subnet)
        except ValueError as exc:
            raise r.fail((*where, "subnet"), str(exc)) from None
        if net.version != 4 or net.num_addresses < count + 12:
            raise r.fail(
                (*where, "subnet"), f"expected an IPv4 network with room for {count} hosts"
            )
    servers = r.str_list(raw, where, "dns_servers")
    for i, s in enumerate(servers):
        try:
            ipaddress.ip_address(s)
        except ValueError:
            raise r.fail((*where, "dns_servers", i), f"{s!r} is not an IP address") from None
    files = r.get(raw, where, "files", dict, {})
    for key, value in files.items():
        if not isinstance(value, str):
            raise r.fail((*where, "files", key), "expected the raw output as a string")
    return Profile(name, count, capture, os_name, hostname, subnet, servers, dict(files))


def _selector(
    r: Reader, data: Mapping[str, Any], where: Path_, key: str, profiles: Mapping[str, Profile],
    *, required: bool = False,
) -> Selector | None:  # fmt: skip
    if key not in data:
        if required:
            raise r.fail(where, f"missing required key '{key}'")
        return None
    text = str(data[key])
    m = _SELECTOR.match(text.strip())
    if not m:
        raise r.fail(
            (*where, key), f"expected profile, profile[3], profile[0:5] or *, got {text!r}"
        )
    profile = m.group("profile")
    if profile != "*" and profile not in profiles:
        raise r.fail((*where, key), f"no profile {profile!r}; known: {', '.join(profiles)}")
    a, b = m.group("a"), m.group("b")
    if m.group("colon"):
        start, stop = int(a or 0), (int(b) if b else None)
    elif a is not None:
        start, stop = int(a), int(a) + 1
    elif b is None and "[" in text:
        raise r.fail((*where, key), f"empty index in {text!r}")
    else:
        start, stop = 0, None
    size = sum(p.count for p in profiles.values()) if profile == "*" else profiles[profile].count
    if start >= size or (stop is not None and (stop > size or stop <= start)):
        raise r.fail((*where, key), f"{text!r} is outside the {size} hosts it names")
    return Selector(text, profile, start, stop)


def _expect(r: Reader, data: Mapping[str, Any], profiles: Mapping[str, Profile]) -> Expectation:
    base: Path_ = ("expect",)
    r.keys(data, base, EXPECT_KEYS)
    only = r.get(data, base, "only", bool, True)
    tickets: list[ExpectedTicket] = []
    for i, raw in enumerate(r.get(data, base, "tickets", list, [])):
        where: Path_ = (*base, "tickets", i)
        if not isinstance(raw, dict):
            raise r.fail(where, "expected a mapping with rule and hosts")
        r.keys(raw, where, TICKET_KEYS)
        kind = _one_of(r, raw, where, "kind", TICKET_KINDS, "host") or "host"
        sel = _selector(r, raw, where, "hosts", profiles)
        if kind == "host" and sel is None:
            raise r.fail(where, "a host ticket names its hosts (profile, profile[3], *)")
        component = raw.get("component")
        tickets.append(
            ExpectedTicket(
                rule=r.get(raw, where, "rule", str),
                kind=kind,
                hosts=sel,
                component=None if component is None else str(component),
                priority=_one_of(r, raw, where, "priority", PRIORITIES, None),
                tier=_one_of(r, raw, where, "tier", TIERS, None),
                state=_one_of(r, raw, where, "state", TICKET_STATES, "any") or "any",
                line=r.line(where),
            )
        )
    incidents: list[ExpectedIncident] = []
    for i, raw in enumerate(r.get(data, base, "incidents", list, [])):
        where = (*base, "incidents", i)
        if not isinstance(raw, dict):
            raise r.fail(where, "expected a mapping with rule")
        r.keys(raw, where, INCIDENT_KEYS)
        group = raw.get("group")
        incidents.append(
            ExpectedIncident(
                rule=r.get(raw, where, "rule", str),
                group=None if group is None else str(group),
                hosts=_selector(r, raw, where, "hosts", profiles),
                line=r.line(where),
            )
        )
    return Expectation(tuple(tickets), tuple(incidents), only)


def _one_of(
    r: Reader, data: Mapping[str, Any], where: Path_, key: str, known: tuple[str, ...],
    default: str | None,
) -> str | None:  # fmt: skip
    if key not in data:
        return default
    value = str(data[key])
    if value not in known:
        raise r.fail((*where, key), f"expected one of {', '.join(known)}, got {value!r}")
    return value
