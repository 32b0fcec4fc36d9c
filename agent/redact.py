"""Redaction: the stage every record passes before it reaches the spool.

What leaves a workstation is decided here, once, for every probe and every OS:

| what                                  | default  | becomes                      |
|---------------------------------------|----------|------------------------------|
| user names inside paths               | removed  | /home/<user>/…, C:\\Users\\<user>\\… |
| e-mail addresses                      | removed  | <email>                      |
| secret-looking tokens in log text     | removed  | password=<redacted>, Bearer … |
| disk serial numbers                   | kept     | hashed with `hash_serials`   |
| IP addresses                          | kept     | hashed with `hash_ips`       |

(Also JWTs, AWS access key ids and long random-looking strings.)

Hashes are HMAC-SHA256 under the configured salt, truncated: the same serial or IP gives
the same token on every host of a fleet (so the collector can still group "40 hosts use DNS
server h:3f2a…"), and without the salt the value cannot be recovered by guessing.

Paths and e-mails are scrubbed in every text field; tokens only in free text that came from
logs or tools (event messages and fields, crash titles, probe errors), because identifiers
the rules need (boot ids, machine ids, device ids) look like random strings too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from agent.common.shape import Kind, shape
from agent.records import (
    CrashReport,
    Device,
    DnsCheck,
    DnsConfig,
    Event,
    GatewayCheck,
    InventoryDisk,
    NetInterface,
    ProbeError,
    Route,
    SmartDevice,
    TimeSync,
)

T = TypeVar("T")

# Linux /home, /var/home (Silverblue), /media and /run/media (udisks mounts), macOS /Users,
# Windows C:\Users and C:\Documents and Settings (XP-era profiles restored on new machines).
_USER_PATH = re.compile(
    r"(?P<pre>(?:/(?:var/)?home/|/Users/|/(?:run/)?media/"
    r"|[A-Za-z]:\\(?:Users|Documents and Settings)\\))"
    r"(?P<user>[^/\\\s:;,'\"<>|]+)",
    re.IGNORECASE,
)
# Profile folders that name no person.
_NOT_USERS = frozenset({"public", "default", "default user", "all users", "shared", "<user>"})
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_TOKENS = (
    # key=value / key: value for secret-sounding keys (also inside URLs' query strings)
    re.compile(
        r"(?P<keep>\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|auth)"
        r"\b\s*[=:]\s*)(?P<secret>[^\s&,;\"']+)",
        re.IGNORECASE,
    ),
    re.compile(r"(?P<keep>\b(?:Bearer|Basic)\s+)(?P<secret>[A-Za-z0-9._~+/=-]{8,})"),
    re.compile(r"(?P<keep>://[^/\s:@]+:)(?P<secret>[^/\s@]+)(?=@)"),  # user:password@host
    re.compile(r"(?P<keep>)(?P<secret>\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+)"),
    re.compile(r"(?P<keep>)(?P<secret>\b(?:AKIA|ASIA)[0-9A-Z]{16}\b)"),
)
# 32+ characters mixing upper, lower case and digits: base64/base62 keys. Hex (kernel
# addresses, UUIDs, hashes) has no upper+lower mix and is left alone. One pass over each
# run and a check in Python: lookaheads inside the pattern made long runs of "a/a/a/..."
# quadratic (seconds for a 40 KB line).
_RANDOM_RUN = re.compile(r"\b[A-Za-z0-9+/_-]{32,}={0,2}")


def _random_sub(m: re.Match[str]) -> str:
    run = m.group(0)
    mixed = (
        any(c.islower() for c in run)
        and any(c.isupper() for c in run)
        and any(c.isdigit() for c in run)
    )
    return "<redacted>" if mixed else run


_IPV4 = re.compile(
    r"(?<![\d.])(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}(?![\d.])"
)
# IPv6 candidates (hex and colons, two colons at least), confirmed by ipaddress: times
# ("10:00:01") and MAC addresses look alike but are not addresses.
_IPV6 = re.compile(
    r"(?<![\w:.])(?=[0-9A-Fa-f]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{2,39}(?:%[\w.-]+)?(?![\w:])"
)
_KEEP_IPS = frozenset({"127.0.0.1", "0.0.0.0", "::1", "::", "255.255.255.255"})


@dataclass(frozen=True)
class RedactionPolicy:
    """What is removed or hashed; also the agent's [redact] configuration section."""

    user_paths: bool = True
    emails: bool = True
    tokens: bool = True
    hash_serials: bool = False
    hash_ips: bool = False
    salt: str = ""  # the HMAC key for hashes: the same across a fleet, kept secret
    patterns: tuple[str, ...] = ()  # extra regular expressions, each match → <redacted>

    def validate(self) -> tuple[str, str] | None:
        for pattern in self.patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                return "patterns", f"{pattern!r} is not a regular expression: {exc}"
        if (self.hash_serials or self.hash_ips) and not self.salt:
            return "salt", "hash_serials and hash_ips need a salt (else hashes can be guessed)"
        return None


class Redactor:
    def __init__(self, policy: RedactionPolicy = RedactionPolicy()) -> None:
        self.policy = policy
        self._key = policy.salt.encode("utf-8")
        self._extra = tuple(re.compile(p) for p in policy.patterns)

    # --- text ---------------------------------------------------------------------------

    def text(self, value: str) -> str:
        """Paths and e-mails (and IPs when hashed): for every text field."""
        if not value:
            return value
        p = self.policy
        if p.user_paths and ("/" in value or "\\" in value):
            value = _USER_PATH.sub(_user_sub, value)
        if p.emails and "@" in value:
            value = _EMAIL.sub("<email>", value)
        if p.hash_ips:
            value = self.ips_in(value)
        for pattern in self._extra:
            value = pattern.sub("<redacted>", value)
        return value

    def free_text(self, value: str) -> str:
        """`text` plus secret-looking tokens: for what came from logs and tools."""
        # Tokens first: "http://bob:secret@proxy" must lose its password, not become an
        # e-mail address.
        if self.policy.tokens and value:
            for pattern in _TOKENS:
                value = pattern.sub(r"\g<keep><redacted>", value)
            value = _RANDOM_RUN.sub(_random_sub, value)
        return self.text(value)

    def token(self, value: str, kind: str) -> str:
        digest = hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
        return f"h:{digest[:16]}"

    def serial(self, value: str) -> str:
        return self.token(value, "serial") if self.policy.hash_serials and value else value

    def ip(self, value: str) -> str:
        if not self.policy.hash_ips or not value:
            return value
        address, slash, prefix = value.partition("/")
        if address in _KEEP_IPS or not _is_ip(address):
            return value
        return self.token(address, "ip") + (slash + prefix if slash else "")

    def ips_in(self, value: str) -> str:
        value = _IPV4.sub(lambda m: self.ip(m.group(0)), value)
        if ":" in value:
            value = _IPV6.sub(lambda m: self.ip(m.group(0)), value)
        return value

    # --- records ------------------------------------------------------------------------

    def record(self, record: T) -> T:
        """A copy of `record` (any record of agent/records.py) with the policy applied."""
        return self._walk(record)

    def _walk(self, record: T) -> T:
        cls = type(record)
        special = _SPECIAL.get(cls, {})
        plain_text = _FREE_TEXT_CLASSES.get(cls, frozenset())
        changes: dict[str, Any] = {}
        for f in shape(cls):
            value = getattr(record, f.name)
            rule = special.get(f.name)
            if rule is None and f.name in _IDENTIFIERS:
                continue
            new: object
            if rule is not None:
                new = _apply(rule, self, value)
            elif f.kind is Kind.SCALAR and f.type is str:
                new = self.free_text(value) if f.name in plain_text else self.text(value)
            elif f.kind is Kind.REPEATED_SCALAR and f.type is str:
                new = tuple(self.text(v) for v in value)
            elif f.kind is Kind.MAP and f.type is str:
                scrub = self.free_text if f.name in plain_text else self.text
                new = {k: scrub(v) for k, v in value.items()}
            elif f.kind is Kind.MESSAGE:
                new = None if value is None else self._walk(value)
            elif f.kind is Kind.REPEATED_MESSAGE:
                new = tuple(self._walk(v) for v in value)
            else:
                continue
            if new != value:
                changes[f.name] = new
        return dataclasses.replace(record, **changes) if changes else record  # type: ignore[type-var]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return False
    return True


def _user_sub(m: re.Match[str]) -> str:
    if m.group("user").lower() in _NOT_USERS:
        return m.group(0)
    return m.group("pre") + "<user>"


# Per-class fields with their own treatment: serials and IPs.
_Rule = Callable[["Redactor", str], str]


def _apply(rule: _Rule, redactor: Redactor, value: object) -> object:
    if isinstance(value, str):
        return rule(redactor, value)
    if isinstance(value, tuple):
        return tuple(rule(redactor, v) for v in value)
    return value


def _serial(r: Redactor, v: str) -> str:
    return r.serial(v)


def _ip(r: Redactor, v: str) -> str:
    return r.ip(v)


def _device_id(r: Redactor, v: str) -> str:
    """A Windows USB instance id ends in the device's serial number
    (USBSTOR\\DISK&VEN_SANDISK&PROD_ULTRA\\4C530001230101115283&0): hashed with the serials."""
    head, sep, tail = v.rpartition("\\")
    if not sep or not r.policy.hash_serials or not head.upper().startswith(("USB", "USBSTOR")):
        return v
    serial, amp, suffix = tail.partition("&")
    return f"{head}\\{r.serial(serial)}{amp}{suffix}"


_SPECIAL: Mapping[type, Mapping[str, _Rule]] = {
    SmartDevice: {"serial": _serial},
    Device: {"id": _device_id},
    InventoryDisk: {"serial": _serial},
    NetInterface: {"addresses": _ip},
    Route: {"gateway": _ip},
    GatewayCheck: {"gateway": _ip},
    DnsConfig: {"servers": _ip},
    DnsCheck: {"server": _ip},
    TimeSync: {"server": _ip},
}
# Fields with tool or log text: tokens are scrubbed there too.
_FREE_TEXT_CLASSES: Mapping[type, frozenset[str]] = {
    Event: frozenset({"message", "fields"}),
    CrashReport: frozenset({"title", "path"}),
    ProbeError: frozenset({"message"}),
}
# Identifiers rules and deduplication depend on; never rewritten.
_IDENTIFIERS = frozenset({"boot_id", "machine_id", "kind", "source", "id"})
