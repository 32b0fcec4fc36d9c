"""[sinks.*] and [outbox]: which helpdesks receive tickets, and how delivery retries.

One section per system; a sink is on when its url is set. Maps from a tier or a priority
to a helpdesk's own names or ids are lists of "KEY=VALUE" strings, e.g.
groups = ["L1=Service Desk", "L2=Desktop Support"] (TOML has no typed maps here).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from agent.common.config import Seconds


def pairs(entries: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in entries:
        key, _, value = entry.partition("=")
        out[key.strip()] = value.strip()
    return out


def _check_pairs(
    name: str, entries: tuple[str, ...], numeric: bool = False
) -> tuple[str, str] | None:
    for entry in entries:
        key, sep, value = entry.partition("=")
        if (
            not sep
            or not key.strip()
            or not value.strip()
            or (numeric and not value.strip().isdigit())
        ):
            kind = "a number" if numeric else "a value"
            return (
                name,
                f"expected KEY={kind.upper().replace(' ', '_')} such as L2=12, got {entry!r}",
            )
    return None


class _Section:
    url: str

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    def _require(self, *names: str) -> tuple[str, str] | None:
        if not self.url:
            return None
        if not self.url.startswith(("http://", "https://")):
            return "url", f"expected an http:// or https:// URL, got {self.url!r}"
        system = type(self).__name__.removesuffix("Sink").lower()
        for name in names:
            if not getattr(self, name):
                return (
                    name,
                    f"required when url is set ({system})",
                )
        return None


@dataclass(frozen=True)
class WebhookSink(_Section):
    url: str = ""
    secret: str = ""  # HMAC-SHA256 key; receivers check X-Rdiag-Signature

    def validate(self) -> tuple[str, str] | None:
        return self._require("secret")


@dataclass(frozen=True)
class RoundupSink(_Section):
    url: str = ""  # the tracker's web root, e.g. https://tracker.example/helpdesk
    user: str = ""
    password: str = ""

    def validate(self) -> tuple[str, str] | None:
        return self._require("user", "password")


@dataclass(frozen=True)
class JiraSink(_Section):
    url: str = ""  # https://your-site.atlassian.net
    email: str = ""
    api_token: str = ""
    project: str = ""  # project key, e.g. OPS
    issue_type: str = "Incident"
    dedup_field: str = ""  # optional custom field id for the key, e.g. customfield_10050
    resolve_transition: str = "Done"
    reopen_transition: str = "To Do"
    priorities: tuple[str, ...] = ()  # "P1=Highest" ... overrides

    def validate(self) -> tuple[str, str] | None:
        return self._require("email", "api_token", "project") or _check_pairs(
            "priorities", self.priorities
        )


@dataclass(frozen=True)
class JsmSink(_Section):
    url: str = ""
    email: str = ""
    api_token: str = ""
    service_desk_id: str = ""
    request_type_id: str = ""
    resolve_transition: str = "Done"
    reopen_transition: str = "To Do"

    def validate(self) -> tuple[str, str] | None:
        return self._require("email", "api_token", "service_desk_id", "request_type_id")


@dataclass(frozen=True)
class ServiceNowSink(_Section):
    url: str = ""  # https://instance.service-now.com
    username: str = ""
    password: str = ""
    token: str = ""  # OAuth bearer instead of username/password
    caller_id: str = ""
    close_code: str = "Solution provided"
    groups: tuple[str, ...] = ()  # "L2=<assignment group name or sys_id>"; default [tickets] groups

    def validate(self) -> tuple[str, str] | None:
        if self.url and not self.token and not (self.username and self.password):
            return "token", "set token, or username and password"
        return self._require() or _check_pairs("groups", self.groups)


@dataclass(frozen=True)
class ZendeskSink(_Section):
    url: str = ""  # https://your-subdomain.zendesk.com
    email: str = ""
    api_token: str = ""
    group_ids: tuple[str, ...] = ()  # "L2=360001234567"

    def validate(self) -> tuple[str, str] | None:
        return self._require("email", "api_token") or _check_pairs(
            "group_ids", self.group_ids, True
        )


@dataclass(frozen=True)
class ZammadSink(_Section):
    url: str = ""
    token: str = ""
    customer: str = "rdiag@localhost"  # a system requester with notifications off
    key_attribute: str = "rdiag_key"  # the ticket object attribute holding the dedup key
    groups: tuple[str, ...] = ()  # "L2=2nd Level"; default [tickets] groups

    def validate(self) -> tuple[str, str] | None:
        return self._require("token") or _check_pairs("groups", self.groups)


@dataclass(frozen=True)
class GlpiSink(_Section):
    url: str = ""  # the apirest.php root, e.g. https://glpi.example/apirest.php
    user_token: str = ""
    app_token: str = ""
    group_ids: tuple[str, ...] = ()  # "L2=5"
    requester_id: int = 0

    def validate(self) -> tuple[str, str] | None:
        return self._require("user_token") or _check_pairs("group_ids", self.group_ids, True)


@dataclass(frozen=True)
class RtSink(_Section):
    url: str = ""  # the RT root, e.g. https://rt.example (REST2 is under /REST/2.0)
    token: str = ""
    queue: str = "General"
    queues: tuple[str, ...] = ()  # "L2=Desktop"
    key_field: str = "DedupKey"  # the ticket custom field holding the key

    def validate(self) -> tuple[str, str] | None:
        return self._require("token") or _check_pairs("queues", self.queues)


@dataclass(frozen=True)
class RedmineSink(_Section):
    url: str = ""
    api_key: str = ""
    project: str = ""  # project id or identifier
    key_field_id: int = 0  # the issue custom field (used as a filter) holding the key
    tracker_id: int = 0
    resolved_status_id: int = 3
    reopen_status_id: int = 2

    def validate(self) -> tuple[str, str] | None:
        problem = self._require("api_key", "project")
        if problem is None and self.url and self.key_field_id <= 0:
            return "key_field_id", "required when url is set: the custom field id of the key"
        return problem


@dataclass(frozen=True)
class SinksSection:
    webhook: WebhookSink = field(default_factory=WebhookSink)
    roundup: RoundupSink = field(default_factory=RoundupSink)
    jira: JiraSink = field(default_factory=JiraSink)
    jsm: JsmSink = field(default_factory=JsmSink)
    servicenow: ServiceNowSink = field(default_factory=ServiceNowSink)
    zendesk: ZendeskSink = field(default_factory=ZendeskSink)
    zammad: ZammadSink = field(default_factory=ZammadSink)
    glpi: GlpiSink = field(default_factory=GlpiSink)
    rt: RtSink = field(default_factory=RtSink)
    redmine: RedmineSink = field(default_factory=RedmineSink)

    def enabled(self) -> list[tuple[str, Any]]:
        return [
            (f.name, getattr(self, f.name)) for f in fields(self) if getattr(self, f.name).enabled
        ]


@dataclass(frozen=True)
class OutboxSection:
    interval: Seconds = Seconds(5)  # how often the worker looks for due deliveries
    retry_base: Seconds = Seconds(5)  # first retry after about this long (with jitter) ...
    retry_max: Seconds = Seconds(600)  # ... doubling up to this; retries never give up

    def validate(self) -> tuple[str, str] | None:
        if not 0.05 <= self.interval <= 3600:
            return "interval", "expected 50ms..1h"
        if not 0.1 <= self.retry_base <= self.retry_max:
            return "retry_base", "expected at least 100ms and at most retry_max"
        return None
