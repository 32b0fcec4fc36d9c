"""WebhookSink: one signed JSON POST per operation; verify() is what a receiver runs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from collector.tickets.sinks.base import Attachment, DeliveryError, Outgoing, Ref
from collector.tickets.sinks.webhook import WebhookSink, sign, verify
from tests.collector.tickets.contract import KEY, ContractServer, Reply, Request, outgoing

SECRET = "whsec-7f3a"
NOW = 1_760_000_000.0
REF = Ref(id="R-1", url="https://desk.example.org/R-1")


_OPEN: list[WebhookSink] = []


@pytest.fixture(autouse=True)
def _close_sinks() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def _sink(server: ContractServer, **settings: Any) -> WebhookSink:
    config: dict[str, Any] = {"secret": SECRET, "clock": lambda: NOW, **settings}
    sink = WebhookSink(url=server.url + "/hooks/rdiag", **config)
    _OPEN.append(sink)
    return sink


def _checked(req: Request) -> dict[str, Any]:
    """What every receiver checks before it trusts a delivery; the parsed event."""
    assert req.header("Content-Type") == "application/json"
    assert verify(SECRET, req.body, req.header("X-Rdiag-Signature")), "signature"
    event: dict[str, Any] = json.loads(req.body)
    assert req.header("X-Rdiag-Event") == event["event"]
    assert req.header("X-Rdiag-Delivery") == event["delivery"]
    assert req.header("X-Rdiag-Timestamp") == str(event["sent_at"]) == str(int(NOW))
    return event


def _receiver(server: ContractServer, reply: Reply = (200, {}, b"")) -> None:
    @server.route("POST", "/hooks/rdiag")
    def hook(req: Request) -> Reply:
        _checked(req)
        return reply


def _events(server: ContractServer) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in server.calls("POST", "/hooks/rdiag")]


def test_create_sends_every_outgoing_field_signed(server: ContractServer) -> None:
    _receiver(server)
    memo: dict[str, str] = {}
    ticket = outgoing(previous=Ref(id="R-0", url="u"), data={"rule": "r", "values": {"x": 1}})
    ref = _sink(server).create(ticket, memo)
    assert ref == Ref(id=KEY)  # the receiver answered no id: the key is the ref
    (event,) = _events(server)
    assert event["event"] == "ticket.created"
    assert event["delivery"] == memo["delivery"]
    assert event["sent_at"] == int(NOW)
    sent = event["ticket"]
    assert sent["dedup_key"] == KEY and sent["ticket_id"] == 7
    assert sent["summary"] == ticket.summary and sent["html"] == ticket.html
    assert (sent["priority"], sent["impact"], sent["urgency"]) == ("P2", 1, 2)
    assert sent["data"] == {"rule": "r", "values": {"x": 1}}
    assert sent["previous"] == {"id": "R-0", "url": "u"} and sent["problem"] is None
    assert set(sent) == set(Outgoing.__dataclass_fields__)


def test_create_takes_the_receivers_id_when_it_answers_one(server: ContractServer) -> None:
    _receiver(server, (201, {}, {"id": 314, "url": "https://desk.example.org/314"}))
    assert _sink(server).create(outgoing(), {}) == Ref(id="314", url="https://desk.example.org/314")


def test_a_retried_create_carries_the_same_delivery_id(server: ContractServer) -> None:
    answers: Iterator[Reply] = iter([(503, {}, {"error": "busy"}), (200, {}, {"id": "R-9"})])

    @server.route("POST", "/hooks/rdiag")
    def hook(req: Request) -> Reply:
        _checked(req)
        return next(answers, (200, {}, b""))

    sink = _sink(server)
    memo: dict[str, str] = {}
    with pytest.raises(DeliveryError) as err:
        sink.create(outgoing(), memo)
    assert err.value.retryable
    assert sink.find(KEY) is None  # the outbox asks first: a webhook cannot be searched
    assert sink.create(outgoing(), memo).id == "R-9"
    first, second = server.calls("POST", "/hooks/rdiag")
    assert first.header("X-Rdiag-Delivery") == second.header("X-Rdiag-Delivery") == memo["delivery"]
    assert json.loads(first.body)["delivery"] == json.loads(second.body)["delivery"]
    # A new create (a new memo) is a new delivery.
    other: dict[str, str] = {}
    _sink(server).create(outgoing(), other)
    assert other["delivery"] != memo["delivery"]


def test_find_sends_nothing(server: ContractServer) -> None:
    assert _sink(server).find(KEY) is None
    assert server.requests == []


def test_note_event(server: ContractServer) -> None:
    _receiver(server)
    sink = _sink(server)
    sink.note(REF, "Seen again at 10:05")
    sink.note(REF, "We replace the disk today", internal=False)
    internal, public = _events(server)
    assert internal["event"] == "ticket.note"
    assert internal["ticket"] == {"id": "R-1", "url": "https://desk.example.org/R-1"}
    assert internal["note"] == {"text": "Seen again at 10:05", "internal": True}
    assert public["note"] == {"text": "We replace the disk today", "internal": False}


def test_operation_delivery_ids_repeat_on_retry_and_differ_between_operations(
    server: ContractServer,
) -> None:
    _receiver(server)
    sink = _sink(server)
    sink.note(REF, "Seen again at 10:05")
    sink.note(REF, "Seen again at 10:05")  # a retry of the same operation
    sink.note(REF, "Seen again at 10:35")
    sink.note(Ref(id="R-2"), "Seen again at 10:05")
    sink.resolve(REF, "Seen again at 10:05")
    ids = [e["delivery"] for e in _events(server)]
    assert ids[0] == ids[1]
    assert len(set(ids)) == 4


def test_attachment_event_carries_the_file_and_its_hash(server: ContractServer) -> None:
    _receiver(server)
    file = Attachment(name="smart-sda.txt", media_type="text/plain", content=b"SMART FAILED\n")
    _sink(server).attach(REF, file)
    (event,) = _events(server)
    assert event["event"] == "ticket.attachment"
    assert event["ticket"]["id"] == "R-1"
    att = event["attachment"]
    assert (att["name"], att["media_type"], att["size"]) == ("smart-sda.txt", "text/plain", 13)
    assert att["sha256"] == hashlib.sha256(b"SMART FAILED\n").hexdigest()
    assert base64.b64decode(att["content_base64"]) == b"SMART FAILED\n"


def test_resolve_and_reopen_events(server: ContractServer) -> None:
    _receiver(server)
    sink = _sink(server)
    sink.resolve(REF, "Condition cleared")
    sink.reopen(REF, "Back again")
    resolved, reopened = _events(server)
    assert (resolved["event"], resolved["text"]) == ("ticket.resolved", "Condition cleared")
    assert (reopened["event"], reopened["text"]) == ("ticket.reopened", "Back again")
    assert resolved["ticket"] == reopened["ticket"] == {"id": "R-1", "url": REF.url}


def test_extra_headers_ride_along(server: ContractServer) -> None:
    @server.route("POST", "/hooks/rdiag")
    def hook(req: Request) -> Reply:
        _checked(req)
        assert req.header("Authorization") == "Bearer receiver-token"
        return 204, {}, b""

    _sink(server, headers={"Authorization": "Bearer receiver-token"}).note(REF, "x")


def test_the_signature_is_github_style_hmac_sha256_of_the_exact_body() -> None:
    body = b'{"event":"ticket.note"}'
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert sign(SECRET, body) == expected
    assert verify(SECRET, body, expected)
    assert verify(SECRET.encode(), body, expected)


@pytest.mark.parametrize(
    ("secret", "body", "header"),
    [
        ("wrong-secret", b'{"event":"ticket.note"}', None),
        (SECRET, b'{"event":"ticket.note "}', None),  # tampered body
        (SECRET, b'{"event":"ticket.note"}', ""),
        (SECRET, b'{"event":"ticket.note"}', "sha1=abc"),
        (SECRET, b'{"event":"ticket.note"}', "sha256=zzz\u00e9"),  # garbage, non-ASCII
    ],
)
def test_verify_fails_on_a_wrong_secret_a_tampered_body_or_a_bad_header(
    secret: str, body: bytes, header: str | None
) -> None:
    signed = sign(SECRET, b'{"event":"ticket.note"}')
    assert verify(secret, body, signed if header is None else header) is False


def test_a_wrong_secret_fails_on_a_real_delivery(server: ContractServer) -> None:
    _receiver(server)
    _sink(server).note(REF, "x")
    (req,) = server.calls("POST", "/hooks/rdiag")
    assert verify(SECRET, req.body, req.header("X-Rdiag-Signature"))
    assert not verify("not-the-secret", req.body, req.header("X-Rdiag-Signature"))
    tampered = req.body.replace(b'"x"', b'"y"')
    assert tampered != req.body
    assert not verify(SECRET, tampered, req.header("X-Rdiag-Signature"))


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        WebhookSink(url="http://127.0.0.1:9/", secret="")


def test_data_json_cannot_carry_is_a_permanent_error(server: ContractServer) -> None:
    with pytest.raises(DeliveryError, match="not JSON") as err:
        _sink(server).create(outgoing(data={"when": object()}), {})
    assert not err.value.retryable and server.requests == []


@pytest.mark.parametrize(("status", "retryable"), [(503, True), (500, True), (400, False),
                                                   (401, False), (404, False)])  # fmt: skip
def test_http_errors_are_classified(server: ContractServer, status: int, retryable: bool) -> None:
    _receiver(server, (status, {}, {"error": "nope"}))
    with pytest.raises(DeliveryError) as err:
        _sink(server).resolve(REF, "x")
    assert (err.value.retryable, err.value.status) == (retryable, status)
    assert "webhook ticket.resolved" in str(err.value)


def test_a_non_json_2xx_answer_to_create_is_fine(server: ContractServer) -> None:
    _receiver(server, (200, {"Content-Type": "text/plain"}, "ok"))
    assert _sink(server).create(outgoing(), {}) == Ref(id=KEY)


def test_a_refused_connection_is_retryable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = WebhookSink(url=f"http://127.0.0.1:{port}/hook", secret=SECRET)
    with pytest.raises(DeliveryError) as err:
        sink.note(REF, "x")
    assert err.value.retryable and err.value.status is None
    sink.close()


def test_a_timeout_is_retryable(server: ContractServer) -> None:
    @server.route("POST", "/hooks/rdiag")
    def slow(req: Request) -> Reply:
        time.sleep(0.5)
        return 200, {}, b""

    with httpx.Client(timeout=0.1) as client:
        sink = WebhookSink(url=server.url + "/hooks/rdiag", secret=SECRET, client=client)
        with pytest.raises(DeliveryError, match="Timeout") as err:
            sink.note(REF, "x")
        assert err.value.retryable
