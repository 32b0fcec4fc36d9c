"""[sinks.*] → the adapters. The only place that knows every adapter's constructor."""

from __future__ import annotations

from collector.tickets.sinks import config as c
from collector.tickets.sinks.base import Sink
from collector.tickets.sinks.glpi import GlpiSink
from collector.tickets.sinks.jira import DEFAULT_PRIORITIES, JiraServiceManagementSink, JiraSink
from collector.tickets.sinks.redmine import RedmineSink
from collector.tickets.sinks.roundup import RoundupSink
from collector.tickets.sinks.rt import RequestTrackerSink
from collector.tickets.sinks.servicenow import ServiceNowSink
from collector.tickets.sinks.webhook import WebhookSink
from collector.tickets.sinks.zammad import ZammadSink
from collector.tickets.sinks.zendesk import ZendeskSink


def _ints(entries: tuple[str, ...]) -> dict[str, int]:
    return {k: int(v) for k, v in c.pairs(entries).items()}


def make_sinks(cfg: c.SinksSection) -> list[Sink]:
    out: list[Sink] = []
    w = cfg.webhook
    if w.enabled:
        out.append(WebhookSink(url=w.url, secret=w.secret))
    r = cfg.roundup
    if r.enabled:
        out.append(RoundupSink(base_url=r.url, user=r.user, password=r.password))
    j = cfg.jira
    if j.enabled:
        out.append(
            JiraSink(
                base_url=j.url, email=j.email, api_token=j.api_token, project_key=j.project,
                issue_type=j.issue_type, dedup_field=j.dedup_field or None,
                resolve_transition=j.resolve_transition, reopen_transition=j.reopen_transition,
                priority_names={**DEFAULT_PRIORITIES, **c.pairs(j.priorities)},
            )
        )  # fmt: skip
    m = cfg.jsm
    if m.enabled:
        out.append(
            JiraServiceManagementSink(
                base_url=m.url, email=m.email, api_token=m.api_token,
                service_desk_id=m.service_desk_id, request_type_id=m.request_type_id,
                resolve_transition=m.resolve_transition, reopen_transition=m.reopen_transition,
            )
        )  # fmt: skip
    s = cfg.servicenow
    if s.enabled:
        out.append(
            ServiceNowSink(
                base_url=s.url, username=s.username or None, password=s.password or None,
                token=s.token or None, caller_id=s.caller_id or None, close_code=s.close_code,
                assignment_groups=c.pairs(s.groups) or None,
            )
        )  # fmt: skip
    z = cfg.zendesk
    if z.enabled:
        out.append(ZendeskSink(base_url=z.url, email=z.email, api_token=z.api_token,
                               group_ids=_ints(z.group_ids) or None))  # fmt: skip
    za = cfg.zammad
    if za.enabled:
        out.append(ZammadSink(base_url=za.url, token=za.token, customer=za.customer,
                              key_attribute=za.key_attribute,
                              group_map=c.pairs(za.groups) or None))  # fmt: skip
    g = cfg.glpi
    if g.enabled:
        out.append(GlpiSink(base_url=g.url, user_token=g.user_token, app_token=g.app_token or None,
                            group_map=_ints(g.group_ids) or None,
                            requester_id=g.requester_id or None))  # fmt: skip
    t = cfg.rt
    if t.enabled:
        out.append(RequestTrackerSink(base_url=t.url, token=t.token, queue=t.queue,
                                      queue_map=c.pairs(t.queues) or None,
                                      key_field=t.key_field))  # fmt: skip
    rm = cfg.redmine
    if rm.enabled:
        out.append(RedmineSink(base_url=rm.url, api_key=rm.api_key, project_id=rm.project,
                               key_field_id=rm.key_field_id, tracker_id=rm.tracker_id or None,
                               resolved_status_id=rm.resolved_status_id,
                               reopen_status_id=rm.reopen_status_id))  # fmt: skip
    return out
