"""RedmineSink against Redmine's REST API (redmine.org wiki Rest_api, Rest_Issues)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from collector.tickets.sinks.base import Attachment, DeliveryError, Ref
from collector.tickets.sinks.redmine import RedmineSink
from tests.collector.tickets.contract import KEY, ContractServer, Reply, Request, outgoing

API_KEY = "redmine-api-key"
CF = 7  # the dedup key custom field


_OPEN: list[RedmineSink] = []


@pytest.fixture(autouse=True)
def _close_sinks() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def _sink(server: ContractServer, **settings: Any) -> RedmineSink:
    config: dict[str, Any] = {"project_id": "desktop", "key_field_id": CF, **settings}
    sink = RedmineSink(base_url=server.url + "/", api_key=API_KEY, **config)
    _OPEN.append(sink)
    return sink


def _api(req: Request, content_type: str = "application/json") -> None:
    assert req.header("X-Redmine-API-Key") == API_KEY, "API key header"
    if req.method in ("POST", "PUT"):
        assert req.header("Content-Type") == content_type, "Content-Type is required"


def _routes(server: ContractServer, issue_id: int = 5) -> None:
    @server.route("POST", "/issues.json")
    def create(req: Request) -> Reply:
        _api(req)
        issue = req.json()["issue"]
        assert issue["project_id"] and issue["subject"] and issue["description"]
        assert isinstance(issue["priority_id"], int)
        assert all(set(cf) == {"id", "value"} for cf in issue["custom_fields"])
        return 201, {"Location": f"/issues/{issue_id}.json"}, {"issue": {"id": issue_id}}

    @server.route("PUT", rf"/issues/{issue_id}.json")
    def update(req: Request) -> Reply:
        _api(req)
        issue = req.json()["issue"]
        assert isinstance(issue["notes"], str) and issue["notes"]
        assert isinstance(issue["private_notes"], bool)
        return 204, {}, b""

    @server.route("POST", "/uploads.json")
    def upload(req: Request) -> Reply:
        _api(req, content_type="application/octet-stream")
        assert req.query["filename"], "file name"
        assert req.body, "raw file content"
        return 201, {}, {"upload": {"id": 30, "token": "30.7b3e1d"}}


def test_create_posts_the_documented_issue(server: ContractServer) -> None:
    _routes(server)
    ref = _sink(server, tracker_id=1).create(outgoing(), {})
    assert ref == Ref(id="5", url=f"{server.url}/issues/5")
    (req,) = server.calls("POST", "/issues.json")
    assert req.json() == {
        "issue": {
            "project_id": "desktop",
            "tracker_id": 1,
            "subject": "[Disk] Drive sda reports SMART failure on ws-0421",
            "description": "**Symptoms.** ...",
            "priority_id": 4,
            "custom_fields": [{"id": CF, "value": KEY}],
        }
    }


def test_create_without_a_tracker_leaves_the_project_default(server: ContractServer) -> None:
    _routes(server)
    _sink(server, project_id=3, description="text").create(outgoing(), {})
    issue = server.calls("POST", "/issues.json")[0].json()["issue"]
    assert "tracker_id" not in issue
    assert (issue["project_id"], issue["description"]) == (3, "Symptoms. ...")


@pytest.mark.parametrize(("priority", "priority_id"),
                         [("P1", 5), ("P2", 4), ("P3", 3), ("P4", 2), ("P5", 1)])  # fmt: skip
def test_priority_ids(server: ContractServer, priority: str, priority_id: int) -> None:
    _routes(server)
    _sink(server).create(outgoing(priority=priority), {})
    assert server.calls("POST", "/issues.json")[0].json()["issue"]["priority_id"] == priority_id


def test_priority_ids_are_configurable(server: ContractServer) -> None:
    _routes(server)
    _sink(server, priorities={"P2": 11}).create(outgoing(), {})
    assert server.calls("POST", "/issues.json")[0].json()["issue"]["priority_id"] == 11


def _search_route(server: ContractServer, reply: Reply) -> None:
    @server.route("GET", "/issues.json")
    def search(req: Request) -> Reply:
        _api(req)
        assert req.query == {
            f"cf_{CF}": [KEY],
            "status_id": ["open"],
            "sort": ["created_on:desc"],
            "limit": ["1"],
        }
        return reply


def test_find_returns_the_newest_open_issue(server: ContractServer) -> None:
    reply = {"issues": [{"id": 9, "subject": "x"}], "total_count": 2, "offset": 0, "limit": 1}
    _search_route(server, (200, {}, reply))
    assert _sink(server).find(KEY) == Ref(id="9", url=f"{server.url}/issues/9")


def test_find_without_matches_is_none(server: ContractServer) -> None:
    _search_route(server, (200, {}, {"issues": [], "total_count": 0}))
    assert _sink(server).find(KEY) is None


def test_find_with_an_issue_without_id_is_a_clear_error(server: ContractServer) -> None:
    _search_route(server, (200, {}, {"issues": [{"subject": "x"}]}))
    with pytest.raises(DeliveryError, match=r"has no 'issues\[0\].id'") as err:
        _sink(server).find(KEY)
    assert not err.value.retryable


def test_note_is_a_private_journal_entry(server: ContractServer) -> None:
    _routes(server)
    sink = _sink(server)
    sink.note(Ref(id="5"), "Seen again at 10:05")
    sink.note(Ref(id="5"), "We replace the disk today", internal=False)
    private, public = (r.json() for r in server.calls("PUT", "/issues/5.json"))
    assert private == {"issue": {"notes": "Seen again at 10:05", "private_notes": True}}
    assert public == {"issue": {"notes": "We replace the disk today", "private_notes": False}}


def test_attach_uploads_then_binds_the_token(server: ContractServer) -> None:
    _routes(server)
    file = Attachment(name="smart-sda.txt", media_type="text/plain", content=b"SMART FAILED\n")
    _sink(server).attach(Ref(id="5"), file)
    upload, bind = server.requests
    assert (upload.method, upload.path) == ("POST", "/uploads.json")
    assert upload.query["filename"] == ["smart-sda.txt"]
    assert upload.body == b"SMART FAILED\n"
    assert (bind.method, bind.path) == ("PUT", "/issues/5.json")
    issue = bind.json()["issue"]
    assert issue["uploads"] == [
        {"token": "30.7b3e1d", "filename": "smart-sda.txt", "content_type": "text/plain"}
    ]
    assert issue["private_notes"] is True and file.sha256 in issue["notes"]


def test_attach_without_an_upload_token_is_a_clear_error(server: ContractServer) -> None:
    @server.route("POST", "/uploads.json")
    def upload(req: Request) -> Reply:
        return 201, {}, {"upload": {"id": 30}}

    file = Attachment(name="a.txt", media_type="text/plain", content=b"a")
    with pytest.raises(DeliveryError, match=r"has no 'upload.token'") as err:
        _sink(server).attach(Ref(id="5"), file)
    assert not err.value.retryable
    assert server.calls("PUT", "/issues/5.json") == []


def test_resolve_and_reopen_set_the_configured_status_with_a_note(
    server: ContractServer,
) -> None:
    _routes(server)
    sink = _sink(server)
    sink.resolve(Ref(id="5"), "Condition cleared")
    sink.reopen(Ref(id="5"), "Back again")
    resolved, reopened = (r.json()["issue"] for r in server.calls("PUT", "/issues/5.json"))
    assert resolved == {"status_id": 3, "notes": "Condition cleared", "private_notes": True}
    assert reopened == {"status_id": 2, "notes": "Back again", "private_notes": True}
    custom = _sink(server, resolved_status_id=5, reopen_status_id=8)
    custom.resolve(Ref(id="5"), "x")
    custom.reopen(Ref(id="5"), "y")
    assert [r.json()["issue"]["status_id"] for r in server.calls("PUT", "/issues/5.json")] == [
        3, 2, 5, 8]  # fmt: skip


@pytest.mark.parametrize(("status", "retryable"), [(503, True), (400, False), (401, False),
                                                   (422, False)])  # fmt: skip
def test_http_errors_are_classified(server: ContractServer, status: int, retryable: bool) -> None:
    @server.route("POST", "/issues.json")
    def create(req: Request) -> Reply:
        return status, {}, {"errors": ["Subject cannot be blank"]}

    with pytest.raises(DeliveryError) as err:
        _sink(server).create(outgoing(), {})
    assert (err.value.retryable, err.value.status) == (retryable, status)
    assert "redmine create" in str(err.value) and "/issues.json" in str(err.value)


def test_a_created_issue_without_id_is_a_clear_permanent_error(server: ContractServer) -> None:
    @server.route("POST", "/issues.json")
    def create(req: Request) -> Reply:
        return 201, {}, {"issue": {"subject": "x"}}

    with pytest.raises(DeliveryError, match=r"POST /issues.json has no 'issue.id'") as err:
        _sink(server).create(outgoing(), {})
    assert not err.value.retryable


def test_a_non_numeric_ref_is_refused_without_a_request(server: ContractServer) -> None:
    file = Attachment(name="a.txt", media_type="text/plain", content=b"a")
    with pytest.raises(DeliveryError, match="not a Redmine id") as err:
        _sink(server).attach(Ref(id="x"), file)
    assert not err.value.retryable and server.requests == []


def test_a_refused_connection_is_retryable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = RedmineSink(base_url=f"http://127.0.0.1:{port}", api_key=API_KEY, project_id=1,
                       key_field_id=CF)  # fmt: skip
    with pytest.raises(DeliveryError) as err:
        sink.find(KEY)
    assert err.value.retryable and err.value.status is None
    sink.close()
