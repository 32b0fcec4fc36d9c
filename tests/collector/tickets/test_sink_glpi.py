"""GlpiSink against GLPI's legacy REST API v1 (glpi-project/glpi apirest.md)."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from collector.tickets.sinks.base import Attachment, DeliveryError, Ref
from collector.tickets.sinks.glpi import GlpiSink
from tests.collector.tickets.contract import KEY, ContractServer, Reply, Request, outgoing

USER_TOKEN = "glpi-user-token"
APP_TOKEN = "glpi-app-token"
EXPIRED: Reply = (401, {}, ["ERROR_SESSION_TOKEN_INVALID", "session_token seems invalid"])


@dataclass
class Sessions:
    """The server side of GLPI sessions: tokens handed out, still valid, killed."""

    issued: list[str] = field(default_factory=list)
    valid: set[str] = field(default_factory=set)
    killed: list[str] = field(default_factory=list)
    kill_fails: bool = False  # killSession answers 503


_OPEN: list[GlpiSink] = []


@pytest.fixture(autouse=True)
def _close_sinks() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def _sink(server: ContractServer, **settings: Any) -> GlpiSink:
    defaults: dict[str, Any] = {"base_url": server.url + "/glpi/", "user_token": USER_TOKEN,
                                "app_token": APP_TOKEN}  # fmt: skip
    sink = GlpiSink(**{**defaults, **settings})
    _OPEN.append(sink)
    return sink


def _session_routes(server: ContractServer, auth: str = f"user_token {USER_TOKEN}") -> Sessions:
    sessions = Sessions()

    @server.route("GET", "/glpi/apirest.php/initSession")
    def init(req: Request) -> Reply:
        assert req.header("Authorization") == auth, "initSession credentials"
        assert req.header("App-Token") == APP_TOKEN, "App-Token"
        assert "session-token" not in req.headers
        token = f"session-{len(sessions.issued) + 1}"
        sessions.issued.append(token)
        sessions.valid.add(token)
        return 200, {}, {"session_token": token}

    @server.route("GET", "/glpi/apirest.php/killSession")
    def kill(req: Request) -> Reply:
        assert req.header("App-Token") == APP_TOKEN, "App-Token"
        if sessions.kill_fails:
            return 503, {}, {"error": "down"}
        token = req.header("Session-Token")
        assert token in sessions.valid, "killSession of a live session"
        sessions.valid.discard(token)
        sessions.killed.append(token)
        return 200, {}, b""

    return sessions


def _in_session(req: Request, sessions: Sessions) -> bool:
    assert req.header("App-Token") == APP_TOKEN, "App-Token on every call"
    assert "authorization" not in req.headers, "credentials only go to initSession"
    return req.header("Session-Token") in sessions.valid


def _json_input(req: Request) -> dict[str, Any]:
    assert req.header("Content-Type") == "application/json", "JSON body"
    body = req.json()
    assert set(body) == {"input"}, "GLPI wants the fields under 'input'"
    fields: dict[str, Any] = body["input"]
    return fields


def _multipart(req: Request) -> EmailMessage:
    head = f"Content-Type: {req.header('Content-Type')}\r\n\r\n".encode()
    message = email.message_from_bytes(head + req.body, policy=email.policy.HTTP)
    assert isinstance(message, EmailMessage)  # what a modern policy builds
    return message


def _routes(server: ContractServer, sessions: Sessions, ticket_id: int = 15) -> None:
    @server.route("POST", "/glpi/apirest.php/Ticket")
    def create(req: Request) -> Reply:
        if not _in_session(req, sessions):
            return EXPIRED
        fields = _json_input(req)
        assert fields["name"] and fields["content"], "name and content"
        assert fields["type"] == 1, "incident"
        assert fields["urgency"] in range(1, 6) and fields["impact"] in range(1, 6), "1..5"
        return 201, {"Location": f"/glpi/apirest.php/Ticket/{ticket_id}"}, {"id": ticket_id}

    @server.route("POST", rf"/glpi/apirest.php/Ticket/{ticket_id}/ITILFollowup")
    def followup(req: Request) -> Reply:
        if not _in_session(req, sessions):
            return EXPIRED
        fields = _json_input(req)
        assert (fields["itemtype"], fields["items_id"]) == ("Ticket", ticket_id)
        assert fields["is_private"] in (0, 1)
        return 201, {}, {"id": 300, "message": ""}

    @server.route("POST", rf"/glpi/apirest.php/Ticket/{ticket_id}/ITILSolution")
    def solution(req: Request) -> Reply:
        if not _in_session(req, sessions):
            return EXPIRED
        fields = _json_input(req)
        assert (fields["itemtype"], fields["items_id"]) == ("Ticket", ticket_id)
        assert fields["content"]
        return 201, {}, {"id": 301, "message": ""}

    @server.route("PUT", rf"/glpi/apirest.php/Ticket/{ticket_id}")
    def update(req: Request) -> Reply:
        if not _in_session(req, sessions):
            return EXPIRED
        assert _json_input(req) == {"status": 2}, "back to processing"
        return 200, {}, [{str(ticket_id): True, "message": ""}]

    @server.route("POST", "/glpi/apirest.php/Document")
    def document(req: Request) -> Reply:
        if not _in_session(req, sessions):
            return EXPIRED
        assert req.header("Content-Type").startswith("multipart/form-data"), "multipart upload"
        parts = {p.get_param("name", header="content-disposition"): p
                 for p in _multipart(req).iter_parts()}  # fmt: skip
        assert set(parts) == {"uploadManifest", "filename[0]"}
        manifest = json.loads(parts["uploadManifest"].get_content())
        filename = parts["filename[0]"].get_filename()
        assert manifest == {"input": {"name": filename, "_filename": [filename]}}
        return 201, {}, {"id": 88, "message": "Document added", "upload_result": {}}

    @server.route("POST", "/glpi/apirest.php/Document_Item")
    def link(req: Request) -> Reply:
        if not _in_session(req, sessions):
            return EXPIRED
        assert _json_input(req) == {"documents_id": 88, "itemtype": "Ticket",
                                    "items_id": ticket_id}  # fmt: skip
        return 201, {}, {"id": 89, "message": ""}


def test_create_opens_a_session_and_posts_the_incident(server: ContractServer) -> None:
    sessions = _session_routes(server)
    _routes(server, sessions)
    sink = _sink(server, category_map={"Hardware / Storage": 12}, group_map={"L2": 4},
                 requester_id=9, key_field="rdiagkeyfield")  # fmt: skip
    ref = sink.create(outgoing(), {})
    assert ref == Ref(id="15", url=f"{server.url}/glpi/front/ticket.form.php?id=15")
    (req,) = server.calls("POST", "/glpi/apirest.php/Ticket")
    assert req.header("Session-Token") == "session-1"
    fields = _json_input(req)
    assert fields["name"] == "[Disk] Drive sda reports SMART failure on ws-0421"
    assert fields["content"].startswith("<p><strong>Symptoms.</strong> ...</p>")
    assert KEY in fields["content"]  # the key find() searches for
    assert (fields["impact"], fields["urgency"]) == (4, 3)  # impact 1 high, urgency 2 medium
    assert fields["itilcategories_id"] == 12
    assert fields["_groups_id_assign"] == 4
    assert fields["_users_id_requester"] == 9
    assert fields["rdiagkeyfield"] == KEY
    assert sessions.issued == ["session-1"]


def test_create_without_optional_settings_sends_no_optional_fields(server: ContractServer) -> None:
    sessions = _session_routes(server)
    _routes(server, sessions)
    _sink(server).create(outgoing(impact=3, urgency=1, html=f"<p>key {KEY}</p>"), {})
    fields = _json_input(server.calls("POST", "/glpi/apirest.php/Ticket")[0])
    assert set(fields) == {"name", "content", "type", "urgency", "impact"}
    assert fields["content"] == f"<p>key {KEY}</p>"  # already carries the key: left as is
    assert (fields["impact"], fields["urgency"]) == (2, 4)


def test_basic_auth_is_the_alternative_to_a_user_token(server: ContractServer) -> None:
    basic = "Basic " + base64.b64encode(b"rdiag:pw").decode()
    sessions = _session_routes(server, auth=basic)
    _routes(server, sessions)
    sink = _sink(server, user_token=None, username="rdiag", password="pw")
    assert sink.create(outgoing(), {}).id == "15"


def test_the_base_url_may_name_apirest_php(server: ContractServer) -> None:
    sessions = _session_routes(server)
    _routes(server, sessions)
    sink = _sink(server, base_url=server.url + "/glpi/apirest.php/")
    assert sink.create(outgoing(), {}).url == f"{server.url}/glpi/front/ticket.form.php?id=15"


def test_credentials_are_required() -> None:
    with pytest.raises(ValueError, match="user_token"):
        GlpiSink(base_url="http://glpi.invalid")


def _search_route(server: ContractServer, sessions: Sessions, reply: Reply) -> None:
    @server.route("GET", "/glpi/apirest.php/search/Ticket")
    def search(req: Request) -> Reply:
        if not _in_session(req, sessions):
            return EXPIRED
        q = req.query
        assert q["criteria[0][field]"] == ["21"], "content"
        assert q["criteria[0][searchtype]"] == ["contains"]
        assert q["criteria[0][value]"] == [KEY]
        assert q["criteria[1][link]"] == ["AND"]
        assert q["criteria[1][field]"] == ["12"], "status"
        assert q["criteria[1][searchtype]"] == ["equals"]
        assert q["criteria[1][value]"] == ["notold"], "neither solved nor closed"
        assert q["forcedisplay[0]"] == ["2"], "the id column"
        return reply


def test_find_returns_the_newest_open_match(server: ContractServer) -> None:
    sessions = _session_routes(server)
    reply = {"totalcount": 2, "count": 2, "data": [{"2": 9, "1": "old"}, {"2": 15, "1": "new"}]}
    _search_route(server, sessions, (200, {}, reply))
    assert _sink(server).find(KEY) == Ref(
        id="15", url=f"{server.url}/glpi/front/ticket.form.php?id=15"
    )


@pytest.mark.parametrize("reply", [{"totalcount": 0, "count": 0}, {"totalcount": 0, "data": []}])
def test_find_without_matches_is_none(server: ContractServer, reply: dict[str, Any]) -> None:
    sessions = _session_routes(server)
    _search_route(server, sessions, (200, {}, reply))
    assert _sink(server).find(KEY) is None


def test_find_rows_without_the_id_column_are_a_clear_error(server: ContractServer) -> None:
    sessions = _session_routes(server)
    _search_route(server, sessions, (200, {}, {"totalcount": 1, "data": [{"1": "x"}]}))
    with pytest.raises(DeliveryError, match="no id column '2'") as err:
        _sink(server).find(KEY)
    assert not err.value.retryable


def test_find_uses_the_configured_search_option(server: ContractServer) -> None:
    sessions = _session_routes(server)

    @server.route("GET", "/glpi/apirest.php/search/Ticket")
    def search(req: Request) -> Reply:
        assert _in_session(req, sessions)
        assert req.query["criteria[0][field]"] == ["76665"]
        return 200, {}, {"totalcount": 0}

    assert _sink(server, key_search_field=76665).find(KEY) is None


def test_note_is_a_private_followup(server: ContractServer) -> None:
    sessions = _session_routes(server)
    _routes(server, sessions)
    sink = _sink(server)
    sink.note(Ref(id="15"), "Seen again at 10:05")
    sink.note(Ref(id="15"), "We replace the disk today", internal=False)
    first, second = server.calls("POST", r"/glpi/apirest.php/Ticket/15/ITILFollowup")
    assert _json_input(first) == {"itemtype": "Ticket", "items_id": 15,
                                  "content": "Seen again at 10:05", "is_private": 1}  # fmt: skip
    assert _json_input(second)["is_private"] == 0


def test_attach_uploads_a_document_and_links_it(server: ContractServer) -> None:
    sessions = _session_routes(server)
    _routes(server, sessions)
    file = Attachment(name="smart-sda.txt", media_type="text/plain", content=b"SMART FAILED\n")
    _sink(server).attach(Ref(id="15"), file)
    (upload,) = server.calls("POST", "/glpi/apirest.php/Document")
    (part,) = [p for p in _multipart(upload).iter_parts() if p.get_filename()]
    assert part.get_filename() == "smart-sda.txt"
    assert part.get_content_type() == "text/plain"
    assert part.get_payload(decode=True) == b"SMART FAILED\n"
    assert len(server.calls("POST", "/glpi/apirest.php/Document_Item")) == 1


def test_attach_without_a_document_id_is_a_clear_error(server: ContractServer) -> None:
    sessions = _session_routes(server)

    @server.route("POST", "/glpi/apirest.php/Document")
    def document(req: Request) -> Reply:
        assert _in_session(req, sessions)
        return 201, {}, {"message": "uploaded?"}

    file = Attachment(name="a.txt", media_type="text/plain", content=b"a")
    with pytest.raises(DeliveryError, match="POST /glpi/apirest.php/Document has no 'id'") as err:
        _sink(server).attach(Ref(id="15"), file)
    assert not err.value.retryable


def test_resolve_adds_a_solution(server: ContractServer) -> None:
    sessions = _session_routes(server)
    _routes(server, sessions)
    _sink(server).resolve(Ref(id="15"), "Condition cleared")
    (req,) = server.calls("POST", r"/glpi/apirest.php/Ticket/15/ITILSolution")
    assert _json_input(req) == {"itemtype": "Ticket", "items_id": 15,
                                "content": "Condition cleared"}  # fmt: skip


def test_reopen_sets_processing_then_adds_a_private_followup(server: ContractServer) -> None:
    sessions = _session_routes(server)
    _routes(server, sessions)
    _sink(server).reopen(Ref(id="15"), "Back again")
    calls = [(r.method, r.path) for r in server.requests if "Session" not in r.path]
    assert calls == [("PUT", "/glpi/apirest.php/Ticket/15"),
                     ("POST", "/glpi/apirest.php/Ticket/15/ITILFollowup")]  # fmt: skip
    followup = _json_input(server.calls("POST", r"/glpi/apirest.php/Ticket/15/ITILFollowup")[0])
    assert (followup["content"], followup["is_private"]) == ("Back again", 1)


def test_an_expired_session_is_renewed_once_and_the_call_repeated(server: ContractServer) -> None:
    sessions = _session_routes(server)
    _routes(server, sessions)
    sink = _sink(server)
    sink.create(outgoing(), {})
    sessions.valid.clear()  # the server's session lifetime ran out
    sink.note(Ref(id="15"), "Seen again")
    assert sessions.issued == ["session-1", "session-2"]
    refused, accepted = server.calls("POST", r"/glpi/apirest.php/Ticket/15/ITILFollowup")
    assert (refused.header("Session-Token"), accepted.header("Session-Token")) == (
        "session-1", "session-2")  # fmt: skip
    sink.note(Ref(id="15"), "And again")  # the new session is kept
    assert sessions.issued == ["session-1", "session-2"]


def test_a_session_refused_twice_is_a_permanent_error(server: ContractServer) -> None:
    sessions = _session_routes(server)

    @server.route("POST", r"/glpi/apirest.php/Ticket/15/ITILFollowup")
    def followup(req: Request) -> Reply:
        assert _in_session(req, sessions)
        return EXPIRED

    with pytest.raises(DeliveryError, match="ERROR_SESSION_TOKEN_INVALID") as err:
        _sink(server).note(Ref(id="15"), "x")
    assert not err.value.retryable and err.value.status == 401
    assert sessions.issued == ["session-1", "session-2"]  # renewed once, not in a loop


def test_other_401s_do_not_renew_the_session(server: ContractServer) -> None:
    sessions = _session_routes(server)

    @server.route("POST", r"/glpi/apirest.php/Ticket/15/ITILFollowup")
    def followup(req: Request) -> Reply:
        assert _in_session(req, sessions)
        return 401, {}, ["ERROR_GLPI_LOGIN", "rights"]

    with pytest.raises(DeliveryError) as err:
        _sink(server).note(Ref(id="15"), "x")
    assert not err.value.retryable and sessions.issued == ["session-1"]


def test_close_kills_the_session(server: ContractServer) -> None:
    sessions = _session_routes(server)
    _routes(server, sessions)
    sink = _sink(server)
    sink.create(outgoing(), {})
    sink.close()
    assert sessions.killed == ["session-1"] and sessions.valid == set()
    sink.close()  # idempotent: nothing left to kill
    assert len(server.calls("GET", "/glpi/apirest.php/killSession")) == 1


def test_close_without_a_session_sends_nothing(server: ContractServer) -> None:
    _sink(server).close()
    assert server.requests == []


def test_close_keeps_an_injected_client_open(server: ContractServer) -> None:
    sessions = _session_routes(server)
    _routes(server, sessions)
    with httpx.Client() as client:
        sink = GlpiSink(base_url=server.url + "/glpi", user_token=USER_TOKEN,
                        app_token=APP_TOKEN, client=client)  # fmt: skip
        sink.create(outgoing(), {})
        sink.close()
        assert sessions.killed == ["session-1"]
        assert not client.is_closed


def test_close_survives_a_failing_kill_session(server: ContractServer) -> None:
    sessions = _session_routes(server)
    _routes(server, sessions)
    sink = _sink(server)
    sink.create(outgoing(), {})
    sessions.kill_fails = True
    sink.close()  # no exception: the session expires on its own
    assert sessions.killed == []


@pytest.mark.parametrize(("status", "retryable"), [(503, True), (400, False), (401, False)])
def test_init_session_errors_are_classified(
    server: ContractServer, status: int, retryable: bool
) -> None:
    @server.route("GET", "/glpi/apirest.php/initSession")
    def init(req: Request) -> Reply:
        return status, {}, ["ERROR_LOGIN_PARAMETERS_MISSING", "x"]

    with pytest.raises(DeliveryError) as err:
        _sink(server).create(outgoing(), {})
    assert (err.value.retryable, err.value.status) == (retryable, status)
    assert "glpi initSession" in str(err.value)


def test_init_session_without_a_token_is_a_clear_error(server: ContractServer) -> None:
    @server.route("GET", "/glpi/apirest.php/initSession")
    def init(req: Request) -> Reply:
        return 200, {}, {"valid_id": 1}

    with pytest.raises(DeliveryError, match="has no 'session_token'") as err:
        _sink(server).create(outgoing(), {})
    assert not err.value.retryable


@pytest.mark.parametrize(("status", "retryable"), [(503, True), (400, False), (401, False)])
def test_http_errors_are_classified(server: ContractServer, status: int, retryable: bool) -> None:
    sessions = _session_routes(server)

    @server.route("POST", "/glpi/apirest.php/Ticket")
    def create(req: Request) -> Reply:
        assert _in_session(req, sessions)
        return status, {}, ["ERROR", "nope"]

    with pytest.raises(DeliveryError) as err:
        _sink(server).create(outgoing(), {})
    assert (err.value.retryable, err.value.status) == (retryable, status)
    assert sessions.issued == ["session-1"]


def test_a_created_ticket_without_id_is_a_clear_permanent_error(server: ContractServer) -> None:
    sessions = _session_routes(server)

    @server.route("POST", "/glpi/apirest.php/Ticket")
    def create(req: Request) -> Reply:
        assert _in_session(req, sessions)
        return 201, {}, {"message": "created?"}

    with pytest.raises(DeliveryError, match="POST /glpi/apirest.php/Ticket has no 'id'") as err:
        _sink(server).create(outgoing(), {})
    assert not err.value.retryable


def test_a_refused_connection_is_retryable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = GlpiSink(base_url=f"http://127.0.0.1:{port}", user_token=USER_TOKEN)
    with pytest.raises(DeliveryError) as err:
        sink.create(outgoing(), {})
    assert err.value.retryable and err.value.status is None
    sink.close()
