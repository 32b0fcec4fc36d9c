"""Zendesk adapter against the documented Tickets and Uploads API contract."""

from __future__ import annotations

import base64
import socket
from dataclasses import replace
from typing import Any

import pytest

from collector.tickets.sinks.base import Attachment, DeliveryError, Ref
from collector.tickets.sinks.zendesk import ZendeskSink
from tests.collector.tickets.contract import KEY, ContractServer, Reply, Request, outgoing

AUTH = "Basic " + base64.b64encode(b"ops@example.com/token:zd-token").decode()
FILE = Attachment("smart-sda.txt", "text/plain", b"SMART overall-health: FAILED\n")
TICKET = outgoing()


def _sink(server: ContractServer, **kw: Any) -> ZendeskSink:
    settings: dict[str, Any] = {
        "base_url": server.url,
        "email": "ops@example.com",
        "api_token": "zd-token",
    }
    return ZendeskSink(**{**settings, **kw})


def _clean(server: ContractServer) -> None:
    assert server.failures == []
    assert server.unexpected == []


def _json_request(req: Request) -> Any:
    assert req.header("Authorization") == AUTH
    assert req.header("Content-Type").startswith("application/json")
    return req.json()


def _created(server: ContractServer, bodies: list[Any]) -> None:
    @server.route("POST", "/api/v2/tickets.json")
    def create(req: Request) -> Reply:
        body = _json_request(req)
        assert set(body) == {"ticket"}
        bodies.append(body["ticket"])
        return 201, {}, {"ticket": {"id": 35436, "status": "new", "external_id": KEY}}


def test_create_sends_external_id_tags_priority_group_and_a_private_comment(
    server: ContractServer,
) -> None:
    bodies: list[Any] = []
    _created(server, bodies)
    sink = _sink(server, group_ids={"L2": 360001234})
    try:
        ref = sink.create(TICKET, {})
    finally:
        sink.close()
    assert ref == Ref("35436", f"{server.url}/agent/tickets/35436")
    assert bodies == [
        {
            "subject": TICKET.summary,
            "comment": {"html_body": TICKET.html, "public": False},
            "priority": "high",
            "type": "incident",
            "tags": ["rdiag", "disk_smart_health_failed"],
            "external_id": KEY,
            "group_id": 360001234,
        }
    ]
    _clean(server)


@pytest.mark.parametrize(
    ("priority", "expected"),
    [("P1", "urgent"), ("P2", "high"), ("P3", "normal"), ("P4", "low"), ("P5", "low")],
)
def test_priority_mapping(server: ContractServer, priority: str, expected: str) -> None:
    bodies: list[Any] = []
    _created(server, bodies)
    sink = _sink(server)
    try:
        sink.create(replace(TICKET, priority=priority), {})
    finally:
        sink.close()
    assert bodies[0]["priority"] == expected
    assert "group_id" not in bodies[0]  # unmapped tier: Zendesk routes
    _clean(server)


def test_subject_is_cut_to_150_and_plain_text_is_used_without_html(server: ContractServer) -> None:
    bodies: list[Any] = []
    _created(server, bodies)
    sink = _sink(server)
    try:
        sink.create(replace(TICKET, summary="x" * 200, html=""), {})
    finally:
        sink.close()
    assert bodies[0]["subject"] == "x" * 150
    assert bodies[0]["comment"] == {"body": TICKET.text, "public": False}
    _clean(server)


def test_incidents_point_at_their_problem_and_problems_are_typed_so(server: ContractServer) -> None:
    bodies: list[Any] = []
    _created(server, bodies)
    sink = _sink(server)
    try:
        sink.create(replace(TICKET, problem=Ref("35000")), {})
        sink.create(replace(TICKET, kind="problem"), {})
    finally:
        sink.close()
    assert (bodies[0]["type"], bodies[0]["problem_id"]) == ("incident", 35000)
    assert bodies[1]["type"] == "problem" and "problem_id" not in bodies[1]
    _clean(server)


def _listing(server: ContractServer, tickets: list[dict[str, Any]]) -> None:
    @server.route("GET", "/api/v2/tickets.json")
    def listing(req: Request) -> Reply:
        assert req.header("Authorization") == AUTH
        assert req.query == {"external_id": [KEY]}
        return 200, {}, {"tickets": tickets, "next_page": None, "count": len(tickets)}


def test_find_picks_the_newest_ticket_not_solved_or_closed(server: ContractServer) -> None:
    _listing(
        server,
        [
            {
                "id": 100,
                "status": "closed",
                "external_id": KEY,
                "created_at": "2025-03-01T08:00:00Z",
            },
            {"id": 200, "status": "open", "external_id": KEY, "created_at": "2025-04-01T08:00:00Z"},
            {
                "id": 300,
                "status": "pending",
                "external_id": KEY,
                "created_at": "2025-05-01T08:00:00Z",
            },
            {
                "id": 400,
                "status": "solved",
                "external_id": KEY,
                "created_at": "2025-06-01T08:00:00Z",
            },
        ],
    )
    sink = _sink(server)
    try:
        assert sink.find(KEY) == Ref("300", f"{server.url}/agent/tickets/300")
    finally:
        sink.close()
    _clean(server)


def test_find_is_none_when_every_ticket_is_done(server: ContractServer) -> None:
    _listing(
        server,
        [
            {
                "id": 100,
                "status": "closed",
                "external_id": KEY,
                "created_at": "2025-03-01T08:00:00Z",
            },
            {
                "id": 400,
                "status": "solved",
                "external_id": KEY,
                "created_at": "2025-06-01T08:00:00Z",
            },
            # a listing that ignored the filter must not hand us someone else's ticket
            {
                "id": 500,
                "status": "open",
                "external_id": None,
                "created_at": "2025-07-01T08:00:00Z",
            },
        ],
    )
    sink = _sink(server)
    try:
        assert sink.find(KEY) is None
    finally:
        sink.close()
    _clean(server)


def _updates(server: ContractServer, bodies: list[Any]) -> None:
    @server.route("PUT", "/api/v2/tickets/35436.json")
    def update(req: Request) -> Reply:
        bodies.append(_json_request(req))
        return 200, {}, {"ticket": {"id": 35436}}


def test_note_is_a_private_comment_unless_public(server: ContractServer) -> None:
    bodies: list[Any] = []
    _updates(server, bodies)
    sink = _sink(server)
    try:
        sink.note(Ref("35436"), "Seen again at 10:02")
        sink.note(Ref("35436"), "We are on it", internal=False)
    finally:
        sink.close()
    assert bodies == [
        {"ticket": {"comment": {"body": "Seen again at 10:02", "public": False}}},
        {"ticket": {"comment": {"body": "We are on it", "public": True}}},
    ]
    _clean(server)


def test_attach_uploads_the_raw_file_then_binds_the_token_in_a_private_comment(
    server: ContractServer,
) -> None:
    bodies: list[Any] = []
    _updates(server, bodies)

    @server.route("POST", "/api/v2/uploads.json")
    def upload(req: Request) -> Reply:
        assert req.header("Authorization") == AUTH
        assert req.query == {"filename": ["smart-sda.txt"]}
        assert req.header("Content-Type") == "text/plain"
        assert req.body == FILE.content
        return 201, {}, {"upload": {"token": "6bk3gql82em5nmf", "attachment": {"id": 1}}}

    sink = _sink(server)
    try:
        sink.attach(Ref("35436"), FILE)
    finally:
        sink.close()
    assert bodies == [
        {
            "ticket": {
                "comment": {
                    "body": f"Attached smart-sda.txt (sha256 {FILE.sha256})",
                    "uploads": ["6bk3gql82em5nmf"],
                    "public": False,
                }
            }
        }
    ]
    _clean(server)


def test_attach_without_a_token_is_a_clear_error_and_comments_nothing(
    server: ContractServer,
) -> None:
    bodies: list[Any] = []
    _updates(server, bodies)

    @server.route("POST", "/api/v2/uploads.json")
    def upload(req: Request) -> Reply:
        return 201, {}, {"upload": {"attachment": {"id": 1}}}

    sink = _sink(server)
    try:
        with pytest.raises(DeliveryError) as err:
            sink.attach(Ref("35436"), FILE)
    finally:
        sink.close()
    assert not err.value.retryable and "upload.token" in str(err.value)
    assert bodies == []
    _clean(server)


def test_resolve_solves_and_reopen_opens_with_a_private_comment(server: ContractServer) -> None:
    bodies: list[Any] = []
    _updates(server, bodies)
    sink = _sink(server)
    try:
        sink.resolve(Ref("35436"), "Healthy for 30 min")
        sink.reopen(Ref("35436"), "Failed again")
    finally:
        sink.close()
    assert bodies == [
        {
            "ticket": {
                "status": "solved",
                "comment": {"body": "Healthy for 30 min", "public": False},
            }
        },
        {"ticket": {"status": "open", "comment": {"body": "Failed again", "public": False}}},
    ]
    _clean(server)


@pytest.mark.parametrize(
    ("status", "retryable"), [(503, True), (429, True), (400, False), (401, False), (422, False)]
)
def test_http_errors_are_classified(server: ContractServer, status: int, retryable: bool) -> None:
    @server.route("PUT", "/api/v2/tickets/35436.json")
    def update(req: Request) -> Reply:
        return status, {}, {"error": "RecordInvalid", "description": "nope"}

    sink = _sink(server)
    try:
        with pytest.raises(DeliveryError) as err:
            sink.resolve(Ref("35436"), "x")
    finally:
        sink.close()
    assert err.value.retryable is retryable and err.value.status == status
    assert "/api/v2/tickets/35436.json" in str(err.value)
    _clean(server)


def test_a_refused_connection_is_retryable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = ZendeskSink(base_url=f"http://127.0.0.1:{port}", email="e", api_token="t")
    try:
        with pytest.raises(DeliveryError) as err:
            sink.create(TICKET, {})
    finally:
        sink.close()
    assert err.value.retryable and err.value.status is None


@pytest.mark.parametrize("body", [{"ticket": {"status": "new"}}, {"tickets": []}, {"ticket": None}])
def test_a_2xx_without_the_ticket_id_is_a_clear_non_retryable_error(
    server: ContractServer, body: Any
) -> None:
    @server.route("POST", "/api/v2/tickets.json")
    def create(req: Request) -> Reply:
        return 201, {}, body

    sink = _sink(server)
    try:
        with pytest.raises(DeliveryError) as err:
            sink.create(TICKET, {})
    finally:
        sink.close()
    assert not err.value.retryable
    assert "ticket.id" in str(err.value) and "POST /api/v2/tickets.json" in str(err.value)
    _clean(server)
