"""RequestTrackerSink against RT5's REST2 API (bestpractical/rt lib/RT/REST2.pm)."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from collector.tickets.sinks.base import Attachment, DeliveryError, Ref
from collector.tickets.sinks.rt import RequestTrackerSink
from tests.collector.tickets.contract import KEY, ContractServer, Reply, Request, outgoing

TOKEN = "1-14-rt-token"


_OPEN: list[RequestTrackerSink] = []


@pytest.fixture(autouse=True)
def _close_sinks() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def _sink(server: ContractServer, **settings: Any) -> RequestTrackerSink:
    sink = RequestTrackerSink(base_url=server.url + "/", token=TOKEN, **settings)
    _OPEN.append(sink)
    return sink


def _api(req: Request) -> None:
    assert req.header("Authorization") == f"token {TOKEN}", "token auth"
    if req.method in ("POST", "PUT"):
        assert req.header("Content-Type") == "application/json", "JSON body"


def _text(body: dict[str, Any], text: str) -> None:
    assert body["Content"] == text
    assert body["ContentType"] == "text/plain"


def _routes(server: ContractServer, ticket_id: int = 20) -> None:
    @server.route("POST", "/REST/2.0/ticket")
    def create(req: Request) -> Reply:
        _api(req)
        body = req.json()
        assert body["Queue"] and body["Subject"] and body["Content"]
        assert body["ContentType"] == "text/plain"
        assert isinstance(body["Priority"], int)
        assert isinstance(body["CustomFields"], dict)
        url = f"{server.url}/REST/2.0/ticket/{ticket_id}"
        return 201, {"Location": url}, {"id": str(ticket_id), "type": "ticket", "_url": url}

    @server.route("POST", rf"/REST/2.0/ticket/{ticket_id}/(comment|correspond)")
    def comment(req: Request) -> Reply:
        _api(req)
        assert isinstance(req.json()["Content"], str)
        return 201, {}, ["Comments added"]

    @server.route("PUT", rf"/REST/2.0/ticket/{ticket_id}")
    def update(req: Request) -> Reply:
        _api(req)
        assert set(req.json()) == {"Status"}
        return 200, {}, [f"Ticket {ticket_id}: Status changed"]


def test_create_posts_the_documented_ticket(server: ContractServer) -> None:
    _routes(server)
    ref = _sink(server, queue="Diag").create(outgoing(), {})
    assert ref == Ref(id="20", url=f"{server.url}/Ticket/Display.html?id=20")
    (req,) = server.calls("POST", "/REST/2.0/ticket")
    assert req.json() == {
        "Queue": "Diag",
        "Subject": "[Disk] Drive sda reports SMART failure on ws-0421",
        "Content": "Symptoms. ...",
        "ContentType": "text/plain",
        "Priority": 70,
        "CustomFields": {"DedupKey": KEY},
    }


@pytest.mark.parametrize(("priority", "number"),
                         [("P1", 90), ("P2", 70), ("P3", 50), ("P4", 30), ("P5", 10)])  # fmt: skip
def test_priority_numbers(server: ContractServer, priority: str, number: int) -> None:
    _routes(server)
    _sink(server).create(outgoing(priority=priority), {})
    assert server.calls("POST", "/REST/2.0/ticket")[0].json()["Priority"] == number


def test_create_uses_the_tier_queue_custom_field_and_requestor(server: ContractServer) -> None:
    _routes(server)
    sink = _sink(server, queue="General", queue_map={"L2": "Desktop L2", "L3": "Engineering"},
                 key_field="rdiag key", requestor="rdiag@localhost")  # fmt: skip
    sink.create(outgoing(), {})
    sink.create(outgoing(tier="L1"), {})
    mapped, fallback = (r.json() for r in server.calls("POST", "/REST/2.0/ticket"))
    assert (mapped["Queue"], fallback["Queue"]) == ("Desktop L2", "General")
    assert mapped["CustomFields"] == {"rdiag key": KEY}
    assert mapped["Requestor"] == "rdiag@localhost"


def _search_route(server: ContractServer, reply: Reply, cf: str = "DedupKey") -> None:
    @server.route("GET", "/REST/2.0/tickets")
    def search(req: Request) -> Reply:
        _api(req)
        assert req.query["query"] == [f"CF.{{{cf}}}='{KEY}' AND Status='__Active__'"]
        assert req.query["orderby"] == ["Created"]
        assert req.query["order"] == ["DESC"]
        return reply


def test_find_returns_the_newest_active_ticket(server: ContractServer) -> None:
    items = [{"type": "ticket", "id": "31", "_url": "x"}, {"type": "ticket", "id": "20"}]
    _search_route(server, (200, {}, {"count": 2, "total": 2, "items": items}))
    assert _sink(server).find(KEY) == Ref(id="31", url=f"{server.url}/Ticket/Display.html?id=31")


def test_find_searches_the_configured_custom_field(server: ContractServer) -> None:
    _search_route(server, (200, {}, {"count": 0, "items": []}), cf="Diag Key")
    assert _sink(server, key_field="Diag Key").find(KEY) is None


def test_find_quotes_the_key(server: ContractServer) -> None:
    @server.route("GET", "/REST/2.0/tickets")
    def search(req: Request) -> Reply:
        assert req.query["query"] == ["CF.{DedupKey}='it\\'s' AND Status='__Active__'"]
        return 200, {}, {"items": []}

    assert _sink(server).find("it's") is None


def test_find_without_items_is_a_clear_error(server: ContractServer) -> None:
    _search_route(server, (200, {}, {"count": 0}))
    with pytest.raises(DeliveryError, match="has no 'items'") as err:
        _sink(server).find(KEY)
    assert not err.value.retryable


def test_note_is_a_comment_and_a_public_note_a_correspondence(server: ContractServer) -> None:
    _routes(server)
    sink = _sink(server)
    sink.note(Ref(id="20"), "Seen again at 10:05")
    sink.note(Ref(id="20"), "We replace the disk today", internal=False)
    (comment,) = server.calls("POST", "/REST/2.0/ticket/20/comment")
    _text(comment.json(), "Seen again at 10:05")
    (correspond,) = server.calls("POST", "/REST/2.0/ticket/20/correspond")
    _text(correspond.json(), "We replace the disk today")


def test_attach_is_a_comment_with_a_base64_attachment(server: ContractServer) -> None:
    _routes(server)
    file = Attachment(name="smart-sda.txt", media_type="text/plain", content=b"SMART FAILED\n")
    _sink(server).attach(Ref(id="20"), file)
    (req,) = server.calls("POST", "/REST/2.0/ticket/20/comment")
    body = req.json()
    assert body["ContentType"] == "text/plain" and file.sha256 in body["Content"]
    (att,) = body["Attachments"]
    assert (att["FileName"], att["FileType"]) == ("smart-sda.txt", "text/plain")
    assert base64.b64decode(att["FileContent"]) == b"SMART FAILED\n"
    assert server.calls("POST", "/REST/2.0/ticket/20/correspond") == []  # never mails


def test_resolve_comments_then_sets_resolved(server: ContractServer) -> None:
    _routes(server)
    _sink(server).resolve(Ref(id="20"), "Condition cleared")
    comment, update = server.requests
    assert (comment.method, comment.path) == ("POST", "/REST/2.0/ticket/20/comment")
    _text(comment.json(), "Condition cleared")
    assert (update.method, update.path) == ("PUT", "/REST/2.0/ticket/20")
    assert update.json() == {"Status": "resolved"}


def test_reopen_comments_then_sets_open(server: ContractServer) -> None:
    _routes(server)
    _sink(server).reopen(Ref(id="20"), "Back again")
    comment, update = server.requests
    _text(comment.json(), "Back again")
    assert comment.path == "/REST/2.0/ticket/20/comment"
    assert update.json() == {"Status": "open"}


def test_a_failed_comment_leaves_the_status_alone(server: ContractServer) -> None:
    @server.route("POST", "/REST/2.0/ticket/20/comment")
    def comment(req: Request) -> Reply:
        return 503, {}, {"message": "busy"}

    with pytest.raises(DeliveryError) as err:
        _sink(server).resolve(Ref(id="20"), "x")
    assert err.value.retryable
    assert server.calls("PUT", "/REST/2.0/ticket/20") == []


@pytest.mark.parametrize(("status", "retryable"), [(503, True), (400, False), (401, False),
                                                   (403, False)])  # fmt: skip
def test_http_errors_are_classified(server: ContractServer, status: int, retryable: bool) -> None:
    @server.route("POST", "/REST/2.0/ticket")
    def create(req: Request) -> Reply:
        return status, {}, {"message": "nope"}

    with pytest.raises(DeliveryError) as err:
        _sink(server).create(outgoing(), {})
    assert (err.value.retryable, err.value.status) == (retryable, status)
    assert "rt create" in str(err.value) and "/REST/2.0/ticket" in str(err.value)


def test_a_created_ticket_without_id_is_a_clear_permanent_error(server: ContractServer) -> None:
    @server.route("POST", "/REST/2.0/ticket")
    def create(req: Request) -> Reply:
        return 201, {}, {"type": "ticket", "_url": "x"}

    with pytest.raises(DeliveryError, match=r"POST /REST/2.0/ticket has no 'id'") as err:
        _sink(server).create(outgoing(), {})
    assert not err.value.retryable


def test_a_non_numeric_ref_is_refused_without_a_request(server: ContractServer) -> None:
    with pytest.raises(DeliveryError, match="not an RT id") as err:
        _sink(server).resolve(Ref(id="20/merge"), "x")
    assert not err.value.retryable and server.requests == []


def test_a_refused_connection_is_retryable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = RequestTrackerSink(base_url=f"http://127.0.0.1:{port}", token=TOKEN)
    with pytest.raises(DeliveryError) as err:
        sink.note(Ref(id="20"), "x")
    assert err.value.retryable and err.value.status is None
    sink.close()
