"""ServiceNow adapter against the documented Table and Attachment API contract."""

from __future__ import annotations

import base64
import socket
from dataclasses import replace
from typing import Any

import pytest

from collector.tickets.sinks.base import Attachment, DeliveryError, Ref
from collector.tickets.sinks.servicenow import ServiceNowSink
from tests.collector.tickets.contract import KEY, ContractServer, Reply, Request, outgoing

SYS_ID = "9d385017c611228701d22104cc95c371"
AUTH = "Basic " + base64.b64encode(b"rdiag.integration:pa:ss").decode()
INCIDENT = rf"/api/now/table/incident/{SYS_ID}"
FILE = Attachment("smart-sda.json", "application/json", b'{"health": "FAILED"}')
TICKET = outgoing(markdown="**Symptoms.** ...\n\n```json\n{}\n```")


def _sink(server: ContractServer, **kw: Any) -> ServiceNowSink:
    settings: dict[str, Any] = {
        "base_url": server.url,
        "username": "rdiag.integration",
        "password": "pa:ss",
    }
    return ServiceNowSink(**{**settings, **kw})


def _clean(server: ContractServer) -> None:
    assert server.failures == []
    assert server.unexpected == []


def _json_request(req: Request, auth: str = AUTH) -> Any:
    assert req.header("Authorization") == auth
    assert req.header("Content-Type").startswith("application/json")
    assert req.header("Accept") == "application/json"
    return req.json()


def _created(server: ContractServer, bodies: list[Any], auth: str = AUTH) -> None:
    @server.route("POST", "/api/now/table/incident")
    def create(req: Request) -> Reply:
        bodies.append(_json_request(req, auth))
        return (
            201,
            {"Location": f"{server.url}{INCIDENT}"},
            {"result": {"sys_id": SYS_ID, "number": "INC0010021", "state": "1"}},
        )


def test_create_fills_the_incident_with_correlation_impact_urgency_and_group(
    server: ContractServer,
) -> None:
    bodies: list[Any] = []
    _created(server, bodies)
    sink = _sink(
        server,
        assignment_groups={"L2": "Hardware L2", "L3": "a1b2c3"},
        categories={"Hardware / Storage": ("hardware", "disk")},
        caller_id="rdiag.integration",
    )
    try:
        ref = sink.create(TICKET, {})
    finally:
        sink.close()
    assert ref == Ref(SYS_ID, f"{server.url}/nav_to.do?uri=incident.do?sys_id={SYS_ID}")
    (body,) = bodies
    assert body == {
        "short_description": TICKET.summary,
        "description": TICKET.text,
        "work_notes": TICKET.markdown,
        "impact": "1",
        "urgency": "2",
        "cmdb_ci": "ws-0421",
        "correlation_id": KEY,
        "correlation_display": "rdiag",
        "assignment_group": "Hardware L2",
        "category": "hardware",
        "subcategory": "disk",
        "caller_id": "rdiag.integration",
    }
    _clean(server)


def test_create_defaults_the_group_to_the_tickets_and_omits_unset_fields(
    server: ContractServer,
) -> None:
    bodies: list[Any] = []
    _created(server, bodies)
    sink = _sink(server, assignment_groups={"L1": "Service Desk"})
    try:
        sink.create(replace(TICKET, impact=3, urgency=3), {})
        sink.create(replace(TICKET, assignment_group=""), {})
    finally:
        sink.close()
    assert bodies[0]["assignment_group"] == "Desktop L2"
    assert (bodies[0]["impact"], bodies[0]["urgency"]) == ("3", "3")
    assert not {"category", "subcategory", "caller_id", "parent_incident"} & set(bodies[0])
    assert "assignment_group" not in bodies[1]
    _clean(server)


def test_create_uses_the_fixed_category_and_links_the_problem_as_parent(
    server: ContractServer,
) -> None:
    bodies: list[Any] = []
    _created(server, bodies)
    sink = _sink(server, category="hardware", categories={"Boot": ("software", "os")})
    try:
        sink.create(replace(TICKET, problem=Ref("f00d")), {})
    finally:
        sink.close()
    assert bodies[0]["category"] == "hardware" and "subcategory" not in bodies[0]
    assert bodies[0]["parent_incident"] == "f00d"
    _clean(server)


def test_bearer_token_auth(server: ContractServer) -> None:
    bodies: list[Any] = []
    _created(server, bodies, auth="Bearer oauth-abc")
    sink = ServiceNowSink(base_url=server.url, token="oauth-abc")
    try:
        assert sink.create(TICKET, {}).id == SYS_ID
    finally:
        sink.close()
    _clean(server)


def test_auth_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        ServiceNowSink(base_url="https://x.service-now.com")
    with pytest.raises(ValueError):
        ServiceNowSink(base_url="https://x.service-now.com", username="u", password="p", token="t")


def _search(server: ContractServer, result: list[dict[str, Any]]) -> None:
    @server.route("GET", "/api/now/table/incident")
    def search(req: Request) -> Reply:
        assert req.header("Authorization") == AUTH
        assert req.query["sysparm_query"] == [
            f"correlation_id={KEY}^active=true^ORDERBYDESCsys_created_on"
        ]
        assert req.query["sysparm_limit"] == ["1"]
        assert req.query["sysparm_fields"] == ["sys_id,number,correlation_id"]
        return 200, {}, {"result": result}


def test_find_queries_the_active_incident_by_correlation_id(server: ContractServer) -> None:
    _search(server, [{"sys_id": SYS_ID, "number": "INC0010021", "correlation_id": KEY}])
    sink = _sink(server)
    try:
        assert sink.find(KEY) == Ref(
            SYS_ID, f"{server.url}/nav_to.do?uri=incident.do?sys_id={SYS_ID}"
        )
    finally:
        sink.close()
    _clean(server)


def test_find_without_a_match_is_none(server: ContractServer) -> None:
    _search(server, [])
    sink = _sink(server)
    try:
        assert sink.find(KEY) is None
    finally:
        sink.close()
    _clean(server)


def test_find_rejects_a_result_whose_correlation_id_differs(server: ContractServer) -> None:
    # What an instance answers when it dropped the correlation_id part as invalid.
    _search(server, [{"sys_id": "0ff1ce", "number": "INC0009999", "correlation_id": ""}])
    sink = _sink(server)
    try:
        with pytest.raises(DeliveryError) as err:
            sink.find(KEY)
    finally:
        sink.close()
    assert not err.value.retryable
    assert "INC0009999" in str(err.value) and "ignored" in str(err.value)
    _clean(server)


def test_note_is_a_work_note_unless_public(server: ContractServer) -> None:
    bodies: list[Any] = []

    @server.route("PATCH", INCIDENT)
    def update(req: Request) -> Reply:
        bodies.append(_json_request(req))
        return 200, {}, {"result": {"sys_id": SYS_ID}}

    sink = _sink(server)
    try:
        sink.note(Ref(SYS_ID), "Seen again at 10:02")
        sink.note(Ref(SYS_ID), "We are on it", internal=False)
    finally:
        sink.close()
    assert bodies == [{"work_notes": "Seen again at 10:02"}, {"comments": "We are on it"}]
    _clean(server)


def test_attach_posts_the_raw_file_with_its_content_type(server: ContractServer) -> None:
    @server.route("POST", "/api/now/attachment/file")
    def attach(req: Request) -> Reply:
        assert req.header("Authorization") == AUTH
        assert req.query == {
            "table_name": ["incident"],
            "table_sys_id": [SYS_ID],
            "file_name": ["smart-sda.json"],
        }
        assert req.header("Content-Type") == "application/json"
        assert req.body == FILE.content
        return 201, {}, {"result": {"sys_id": "a77ac4", "file_name": "smart-sda.json"}}

    sink = _sink(server)
    try:
        sink.attach(Ref(SYS_ID), FILE)
    finally:
        sink.close()
    _clean(server)


def test_resolve_sets_state_6_with_close_code_and_notes_and_reopen_state_2(
    server: ContractServer,
) -> None:
    bodies: list[Any] = []

    @server.route("PATCH", INCIDENT)
    def update(req: Request) -> Reply:
        bodies.append(_json_request(req))
        return 200, {}, {"result": {"sys_id": SYS_ID}}

    default, custom = _sink(server), _sink(server, close_code="Workaround provided")
    try:
        default.resolve(Ref(SYS_ID), "Healthy for 30 min")
        custom.resolve(Ref(SYS_ID), "Cleaned up")
        default.reopen(Ref(SYS_ID), "Failed again")
    finally:
        default.close()
        custom.close()
    assert bodies == [
        {"state": "6", "close_code": "Solution provided", "close_notes": "Healthy for 30 min"},
        {"state": "6", "close_code": "Workaround provided", "close_notes": "Cleaned up"},
        {"state": "2", "work_notes": "Failed again"},
    ]
    _clean(server)


@pytest.mark.parametrize(
    ("status", "retryable"), [(503, True), (500, True), (400, False), (401, False), (403, False)]
)
def test_http_errors_are_classified(server: ContractServer, status: int, retryable: bool) -> None:
    @server.route("POST", "/api/now/table/incident")
    def create(req: Request) -> Reply:
        return status, {}, {"error": {"message": "nope", "detail": ""}, "status": "failure"}

    sink = _sink(server)
    try:
        with pytest.raises(DeliveryError) as err:
            sink.create(TICKET, {})
    finally:
        sink.close()
    assert err.value.retryable is retryable and err.value.status == status
    assert "/api/now/table/incident" in str(err.value)
    _clean(server)


def test_a_refused_connection_is_retryable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = ServiceNowSink(base_url=f"http://127.0.0.1:{port}", username="u", password="p")
    try:
        with pytest.raises(DeliveryError) as err:
            sink.note(Ref(SYS_ID), "x")
    finally:
        sink.close()
    assert err.value.retryable and err.value.status is None


@pytest.mark.parametrize("body", [{"result": {"number": "INC0010021"}}, {"result": []}, []])
def test_a_2xx_without_sys_id_is_a_clear_non_retryable_error(
    server: ContractServer, body: Any
) -> None:
    @server.route("POST", "/api/now/table/incident")
    def create(req: Request) -> Reply:
        return 201, {}, body

    sink = _sink(server)
    try:
        with pytest.raises(DeliveryError) as err:
            sink.create(TICKET, {})
    finally:
        sink.close()
    assert not err.value.retryable
    assert "result.sys_id" in str(err.value) and "POST /api/now/table/incident" in str(err.value)
    _clean(server)
