"""ZammadSink against Zammad's documented REST API v1 (zammad/zammad-documentation api/)."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from collector.tickets.sinks.base import Attachment, DeliveryError, Ref
from collector.tickets.sinks.zammad import ZammadSink
from tests.collector.tickets.contract import KEY, ContractServer, Reply, Request, outgoing

TOKEN = "zammad-token-1"


_OPEN: list[ZammadSink] = []


@pytest.fixture(autouse=True)
def _close_sinks() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def _sink(server: ContractServer, **settings: Any) -> ZammadSink:
    sink = ZammadSink(base_url=server.url + "/", token=TOKEN, **settings)
    _OPEN.append(sink)
    return sink


def _api(req: Request) -> None:
    assert req.header("Authorization") == f"Token token={TOKEN}", "token auth"
    if req.method in ("POST", "PUT"):
        assert req.header("Content-Type") == "application/json", "JSON body"


def _note_article(article: dict[str, Any], text: str, internal: bool = True) -> None:
    assert article["body"] == text
    assert article["content_type"] == "text/plain"
    assert article["type"] == "note"
    assert article["internal"] is internal


def _routes(server: ContractServer, ticket_id: int = 42) -> None:
    @server.route("POST", "/api/v1/tickets")
    def create(req: Request) -> Reply:
        _api(req)
        body = req.json()
        assert isinstance(body["title"], str) and body["title"], "title"
        assert isinstance(body["group"], str) and body["group"], "group"
        assert "@" in body["customer"], "customer by email"
        assert body["priority"] in ("1 low", "2 normal", "3 high"), "priority by name"
        assert body["state"] == "new"
        article = body["article"]
        assert article["subject"] == body["title"]
        assert article["content_type"] == "text/html"
        assert (article["type"], article["internal"]) == ("note", True)
        return 201, {}, {"id": ticket_id, "number": "31042", "title": body["title"]}

    @server.route("POST", "/api/v1/tags/add")
    def tag(req: Request) -> Reply:
        _api(req)
        assert req.json() == {"item": "rdiag", "object": "Ticket", "o_id": ticket_id}
        return 200, {"Content-Type": "application/json"}, "true"

    @server.route("POST", "/api/v1/ticket_articles")
    def article(req: Request) -> Reply:
        _api(req)
        body = req.json()
        assert body["ticket_id"] == ticket_id, "ticket_id is the numeric id"
        assert body["type"] == "note"
        return 201, {}, {"id": 900, "ticket_id": ticket_id}

    @server.route("PUT", rf"/api/v1/tickets/{ticket_id}")
    def update(req: Request) -> Reply:
        _api(req)
        body = req.json()
        assert body["state"] in ("closed", "open")
        _note_article(body["article"], body["article"]["body"])
        return 200, {}, {"id": ticket_id, "state_id": 4}


def test_create_posts_the_documented_ticket_and_tags_it(server: ContractServer) -> None:
    _routes(server)
    sink = _sink(server)
    memo: dict[str, str] = {}
    ref = sink.create(outgoing(), memo)
    assert ref == Ref(id="42", url=f"{server.url}/#ticket/zoom/42")
    (req,) = server.calls("POST", "/api/v1/tickets")
    body = req.json()
    assert body["title"] == "[Disk] Drive sda reports SMART failure on ws-0421"
    assert body["group"] == "Desktop L2"  # Outgoing.assignment_group without a map
    assert body["customer"] == "rdiag@localhost"
    assert body["priority"] == "3 high"  # P2
    assert body["rdiag_key"] == KEY
    assert body["article"]["body"] == "<p><strong>Symptoms.</strong> ...</p>"
    assert len(server.calls("POST", "/api/v1/tags/add")) == 1
    assert memo["zammad_id"] == "42"


@pytest.mark.parametrize(
    ("priority", "name"),
    [("P1", "3 high"), ("P2", "3 high"), ("P3", "2 normal"), ("P4", "1 low"), ("P5", "1 low")],
)
def test_priority_names(server: ContractServer, priority: str, name: str) -> None:
    _routes(server)
    _sink(server).create(outgoing(priority=priority), {})
    assert server.calls("POST", "/api/v1/tickets")[0].json()["priority"] == name


def test_create_uses_the_configured_group_customer_and_attribute(server: ContractServer) -> None:
    _routes(server)
    sink = _sink(server, group_map={"L2": "2nd Level"}, customer="noc@example.org",
                 key_attribute="diag_key", tag=None)  # fmt: skip
    sink.create(outgoing(), {})
    body = server.calls("POST", "/api/v1/tickets")[0].json()
    assert (body["group"], body["customer"], body["diag_key"]) == (
        "2nd Level", "noc@example.org", KEY)  # fmt: skip
    assert "rdiag_key" not in body
    assert server.calls("POST", "/api/v1/tags/add") == []


def test_a_retry_after_a_failed_tag_does_not_create_a_second_ticket(
    server: ContractServer,
) -> None:
    answers: Iterator[Reply] = iter([(503, {}, {"error": "busy"}), (200, {}, {})])

    @server.route("POST", "/api/v1/tags/add")  # before _routes: the first matching route wins
    def tag(req: Request) -> Reply:
        _api(req)
        return next(answers)

    _routes(server)
    sink = _sink(server)
    memo: dict[str, str] = {}
    with pytest.raises(DeliveryError) as err:
        sink.create(outgoing(), memo)
    assert err.value.retryable and err.value.status == 503
    assert sink.create(outgoing(), memo).id == "42"  # the outbox retries with the same memo
    assert len(server.calls("POST", "/api/v1/tickets")) == 1
    assert len(server.calls("POST", "/api/v1/tags/add")) == 2


def _search_route(server: ContractServer, reply: Any) -> None:
    @server.route("GET", "/api/v1/tickets/search")
    def search(req: Request) -> Reply:
        _api(req)
        assert req.query["query"] == [
            f'rdiag_key:"{KEY}" AND (state.name:"new" OR state.name:"open")'
        ]
        assert req.query["sort_by"] == ["created_at"]
        assert req.query["order_by"] == ["desc"]
        return 200, {}, reply


def test_find_reads_the_documented_list_form(server: ContractServer) -> None:
    _search_route(server, [{"id": 51, "rdiag_key": KEY}, {"id": 42, "rdiag_key": KEY}])
    assert _sink(server).find(KEY) == Ref(id="51", url=f"{server.url}/#ticket/zoom/51")


def test_find_reads_the_default_ids_and_assets_form(server: ContractServer) -> None:
    reply = {
        "tickets": [51, 42],
        "tickets_count": 2,
        "assets": {"Ticket": {"51": {"id": 51, "rdiag_key": KEY}, "42": {"id": 42}}},
    }
    _search_route(server, reply)
    assert _sink(server).find(KEY) == Ref(id="51", url=f"{server.url}/#ticket/zoom/51")


def test_find_skips_a_loose_full_text_match(server: ContractServer) -> None:
    _search_route(server, [{"id": 51, "rdiag_key": KEY + "ff"}, {"id": 42, "rdiag_key": KEY}])
    ref = _sink(server).find(KEY)
    assert ref is not None and ref.id == "42"


@pytest.mark.parametrize("reply", [[], {"tickets": [], "tickets_count": 0, "assets": {}}, {}])
def test_find_without_hits_is_none(server: ContractServer, reply: Any) -> None:
    _search_route(server, reply)
    assert _sink(server).find(KEY) is None


def test_find_with_an_unknown_answer_is_a_clear_error(server: ContractServer) -> None:
    _search_route(server, {"error": "?"})
    with pytest.raises(DeliveryError, match="has neither a ticket list nor 'tickets'") as err:
        _sink(server).find(KEY)
    assert not err.value.retryable


def test_note_is_an_internal_note_article(server: ContractServer) -> None:
    _routes(server)
    sink = _sink(server)
    sink.note(Ref(id="42"), "Seen again at 10:05")
    sink.note(Ref(id="42"), "Your disk will be replaced", internal=False)
    first, second = server.calls("POST", "/api/v1/ticket_articles")
    _note_article(first.json(), "Seen again at 10:05")
    _note_article(second.json(), "Your disk will be replaced", internal=False)


def test_attach_is_an_article_with_a_base64_attachment(server: ContractServer) -> None:
    _routes(server)
    file = Attachment(name="smart-sda.txt", media_type="text/plain", content=b"SMART FAILED\n")
    _sink(server).attach(Ref(id="42"), file)
    (req,) = server.calls("POST", "/api/v1/ticket_articles")
    body = req.json()
    assert body["internal"] is True and body["type"] == "note"
    assert file.sha256 in body["body"]
    (att,) = body["attachments"]
    assert att["filename"] == "smart-sda.txt"
    assert att["mime-type"] == "text/plain"
    assert base64.b64decode(att["data"]) == b"SMART FAILED\n"


def test_resolve_closes_with_a_note_and_reopen_opens(server: ContractServer) -> None:
    _routes(server)
    sink = _sink(server)
    sink.resolve(Ref(id="42"), "Condition cleared")
    sink.reopen(Ref(id="42"), "Back again")
    closing, opening = server.calls("PUT", "/api/v1/tickets/42")
    assert closing.json()["state"] == "closed"
    _note_article(closing.json()["article"], "Condition cleared")
    assert opening.json()["state"] == "open"
    _note_article(opening.json()["article"], "Back again")


def test_state_names_are_configurable(server: ContractServer) -> None:
    @server.route("PUT", "/api/v1/tickets/42")
    def update(req: Request) -> Reply:
        _api(req)
        assert req.json()["state"] in ("solved", "in progress")
        return 200, {}, {"id": 42}

    sink = _sink(server, resolved_state="solved", reopen_state="in progress")
    sink.resolve(Ref(id="42"), "ok")
    sink.reopen(Ref(id="42"), "again")
    assert [r.json()["state"] for r in server.requests] == ["solved", "in progress"]


@pytest.mark.parametrize(("status", "retryable"), [(503, True), (429, True), (400, False),
                                                   (401, False), (422, False)])  # fmt: skip
def test_http_errors_are_classified(server: ContractServer, status: int, retryable: bool) -> None:
    @server.route("POST", "/api/v1/tickets")
    def create(req: Request) -> Reply:
        return status, {}, {"error": "nope"}

    with pytest.raises(DeliveryError) as err:
        _sink(server).create(outgoing(), {})
    assert (err.value.retryable, err.value.status) == (retryable, status)
    assert "zammad create" in str(err.value) and "/api/v1/tickets" in str(err.value)


def test_a_created_ticket_without_id_is_a_clear_permanent_error(server: ContractServer) -> None:
    @server.route("POST", "/api/v1/tickets")
    def create(req: Request) -> Reply:
        return 201, {}, {"number": "31042"}

    memo: dict[str, str] = {}
    with pytest.raises(DeliveryError, match=r"POST /api/v1/tickets has no 'id'") as err:
        _sink(server).create(outgoing(), memo)
    assert not err.value.retryable and memo == {}


def test_a_non_json_answer_is_a_permanent_error(server: ContractServer) -> None:
    @server.route("POST", "/api/v1/tickets")
    def create(req: Request) -> Reply:
        return 200, {"Content-Type": "text/html"}, "<html>login</html>"

    with pytest.raises(DeliveryError, match="expected JSON") as err:
        _sink(server).create(outgoing(), {})
    assert not err.value.retryable


def test_a_non_numeric_ref_is_refused_without_a_request(server: ContractServer) -> None:
    with pytest.raises(DeliveryError, match="not a Zammad id") as err:
        _sink(server).note(Ref(id="../admin"), "x")
    assert not err.value.retryable and server.requests == []


def test_a_refused_connection_is_retryable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = ZammadSink(base_url=f"http://127.0.0.1:{port}", token=TOKEN)
    with pytest.raises(DeliveryError) as err:
        sink.find(KEY)
    assert err.value.retryable and err.value.status is None
    sink.close()
