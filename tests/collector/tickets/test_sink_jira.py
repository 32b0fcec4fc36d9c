"""Jira Cloud and JSM adapters against the documented REST contract (v3, servicedeskapi)."""

from __future__ import annotations

import base64
import socket
from dataclasses import replace
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import httpx
import pytest

from collector.tickets.sinks.base import Attachment, DeliveryError, Ref
from collector.tickets.sinks.jira import JiraServiceManagementSink, JiraSink, adf
from tests.collector.tickets.contract import KEY, ContractServer, Reply, Request, outgoing

AUTH = "Basic " + base64.b64encode(b"ops@example.com:s3cret-token").decode()
JQL = f'labels = "{KEY}" AND statusCategory != Done ORDER BY created DESC'
FILE = Attachment("smart-sda.txt", "text/plain", b"SMART overall-health: FAILED\n")
TICKET = outgoing(
    markdown='**Symptoms.** SMART says FAILED\non sda.\n\n```json\n{"rule": 1}\n```',
    text="Symptoms. SMART says FAILED on sda.",
)


def _jira(server: ContractServer, **kw: Any) -> JiraSink:
    settings: dict[str, Any] = dict(
        base_url=server.url + "/", email="ops@example.com", api_token="s3cret-token",
        project_key="OPS",
    )  # fmt: skip
    return JiraSink(**{**settings, **kw})


def _jsm(server: ContractServer, **kw: Any) -> JiraServiceManagementSink:
    settings: dict[str, Any] = dict(
        base_url=server.url, email="ops@example.com", api_token="s3cret-token",
        service_desk_id="4", request_type_id="27",
    )  # fmt: skip
    return JiraServiceManagementSink(**{**settings, **kw})


def _clean(server: ContractServer) -> None:
    assert server.failures == []
    assert server.unexpected == []


def _json_request(req: Request) -> Any:
    assert req.header("Authorization") == AUTH
    assert req.header("Content-Type").startswith("application/json")
    return req.json()


def _multipart(req: Request) -> dict[str, tuple[str | None, str, bytes]]:
    """name -> (filename, content type, bytes) of a multipart/form-data body."""
    head = f"Content-Type: {req.header('Content-Type')}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + req.body)
    assert message.get_content_type() == "multipart/form-data"
    parts: dict[str, tuple[str | None, str, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(name, str) and isinstance(payload, bytes)
        parts[name] = (part.get_filename(), part.get_content_type(), payload)
    return parts


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _texts(doc: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for block in doc["content"]:
        out += [n["text"] for n in block.get("content", []) if n["type"] == "text"]
    return out


# --- ADF -----------------------------------------------------------------------------------


def test_adf_has_paragraphs_marks_hard_breaks_and_code_blocks() -> None:
    doc = adf(TICKET.markdown)
    assert doc["type"] == "doc" and doc["version"] == 1
    para, code = doc["content"]
    assert para == {
        "type": "paragraph",
        "content": [
            {"type": "text", "text": "Symptoms.", "marks": [{"type": "strong"}]},
            {"type": "text", "text": " SMART says FAILED"},
            {"type": "hardBreak"},
            {"type": "text", "text": "on sda."},
        ],
    }
    assert code == {
        "type": "codeBlock",
        "attrs": {"language": "json"},
        "content": [{"type": "text", "text": '{"rule": 1}'}],
    }
    assert adf("")["content"] == [{"type": "paragraph"}]  # a doc needs one block
    assert adf("use `smartctl -a`")["content"][0]["content"][1]["marks"] == [{"type": "code"}]


# --- Jira platform -------------------------------------------------------------------------


def test_create_posts_the_v3_issue_with_labels_priority_and_dedup_field(
    server: ContractServer,
) -> None:
    @server.route("POST", "/rest/api/3/issue")
    def create(req: Request) -> Reply:
        fields = _json_request(req)["fields"]
        assert fields["project"] == {"key": "OPS"}
        assert fields["issuetype"] == {"name": "Incident"}
        assert fields["summary"] == TICKET.summary
        assert fields["description"] == adf(TICKET.markdown)
        assert fields["labels"] == [KEY, "rdiag"]
        assert fields["priority"] == {"name": "High"}
        assert fields["customfield_10050"] == KEY
        return 201, {}, {"id": "10001", "key": "OPS-17", "self": f"{server.url}/x/10001"}

    sink = _jira(server, dedup_field="customfield_10050")
    memo: dict[str, str] = {}
    try:
        ref = sink.create(TICKET, memo)
    finally:
        sink.close()
    assert ref == Ref("OPS-17", f"{server.url}/browse/OPS-17")
    assert memo["key"] == "OPS-17"
    assert server.calls("POST", "/rest/api/3/issueLink") == []  # no previous: no link
    _clean(server)


def test_priority_names_and_issue_type_are_configurable(server: ContractServer) -> None:
    @server.route("POST", "/rest/api/3/issue")
    def create(req: Request) -> Reply:
        fields = _json_request(req)["fields"]
        assert fields["issuetype"] == {"name": "Problem"}
        assert fields["priority"] == {"name": "Blocker"}
        assert not any(k.startswith("customfield_") for k in fields)
        return 201, {}, {"id": "10002", "key": "OPS-18"}

    sink = _jira(server, issue_type="Problem", priority_names={"P1": "Blocker"})
    try:
        assert sink.create(replace(TICKET, priority="P1"), {}).id == "OPS-18"
    finally:
        sink.close()
    _clean(server)


def test_recurrence_links_the_previous_issue_and_a_retry_reuses_the_memo(
    server: ContractServer,
) -> None:
    links: list[int] = []

    @server.route("POST", "/rest/api/3/issue")
    def create(req: Request) -> Reply:
        return 201, {}, {"id": "10003", "key": "OPS-19"}

    @server.route("POST", "/rest/api/3/issueLink")
    def link(req: Request) -> Reply:
        assert _json_request(req) == {
            "type": {"name": "Relates"},
            "inwardIssue": {"key": "OPS-19"},
            "outwardIssue": {"key": "OPS-3"},
        }
        links.append(1)
        return (503, {}, "busy") if len(links) == 1 else (201, {}, b"")

    sink = _jira(server)
    ticket = replace(TICKET, previous=Ref("OPS-3", f"{server.url}/browse/OPS-3"))
    memo: dict[str, str] = {}
    try:
        with pytest.raises(DeliveryError) as err:
            sink.create(ticket, memo)
        assert err.value.retryable and err.value.status == 503
        assert memo == {"key": "OPS-19"}
        assert sink.create(ticket, memo) == Ref("OPS-19", f"{server.url}/browse/OPS-19")
        sink.create(ticket, memo)  # done: neither a new issue nor a second link
    finally:
        sink.close()
    assert len(server.calls("POST", "/rest/api/3/issue")) == 1
    assert len(links) == 2
    _clean(server)


def test_find_uses_search_jql_for_the_newest_open_issue_with_the_label(
    server: ContractServer,
) -> None:
    answers = [[{"id": "10003", "key": "OPS-19"}], []]

    @server.route("GET", "/rest/api/3/search/jql")
    def search(req: Request) -> Reply:
        assert req.header("Authorization") == AUTH
        assert req.query["jql"] == [JQL]
        assert req.query["fields"] == ["key"]
        assert req.query.get("maxResults", ["1"]) == ["1"]
        return 200, {}, {"issues": answers.pop(0), "isLast": True}

    sink = _jira(server)
    try:
        assert sink.find(KEY) == Ref("OPS-19", f"{server.url}/browse/OPS-19")
        assert sink.find(KEY) is None
    finally:
        sink.close()
    _clean(server)  # the removed /rest/api/3/search was never called


def test_note_is_an_adf_comment_restricted_when_a_visibility_is_configured(
    server: ContractServer,
) -> None:
    bodies: list[Any] = []

    @server.route("POST", "/rest/api/3/issue/OPS-19/comment")
    def comment(req: Request) -> Reply:
        bodies.append(_json_request(req))
        return 201, {}, {"id": "9"}

    plain, restricted = (
        _jira(server),
        _jira(server, comment_visibility={"type": "role", "value": "Developers"}),
    )
    try:
        plain.note(Ref("OPS-19"), "Seen again at 10:02")
        restricted.note(Ref("OPS-19"), "Seen again")
        restricted.note(Ref("OPS-19"), "For everyone", internal=False)
    finally:
        plain.close()
        restricted.close()
    assert bodies[0] == {"body": adf("Seen again at 10:02")}
    assert bodies[1]["visibility"] == {"type": "role", "value": "Developers"}
    assert "visibility" not in bodies[2]
    _clean(server)


def test_attach_is_multipart_file_with_the_xsrf_header(server: ContractServer) -> None:
    @server.route("POST", "/rest/api/3/issue/OPS-19/attachments")
    def attach(req: Request) -> Reply:
        assert req.header("Authorization") == AUTH
        assert req.header("X-Atlassian-Token") == "no-check"
        assert _multipart(req) == {"file": ("smart-sda.txt", "text/plain", FILE.content)}
        return 200, {}, [{"id": "10100", "filename": "smart-sda.txt"}]

    sink = _jira(server)
    try:
        sink.attach(Ref("OPS-19"), FILE)
    finally:
        sink.close()
    _clean(server)


def _workflow(server: ContractServer, transitions: list[dict[str, Any]], category: str = "new"):
    posted: list[Any] = []
    comments: list[Any] = []

    @server.route("GET", "/rest/api/3/issue/OPS-19/transitions")
    def offered(req: Request) -> Reply:
        assert req.header("Authorization") == AUTH
        return 200, {}, {"transitions": transitions}

    @server.route("POST", "/rest/api/3/issue/OPS-19/transitions")
    def transition(req: Request) -> Reply:
        posted.append(_json_request(req))
        return 204, {}, b""

    @server.route("GET", "/rest/api/3/issue/OPS-19")
    def issue(req: Request) -> Reply:
        assert req.query["fields"] == ["status"]
        return (
            200,
            {},
            {"key": "OPS-19", "fields": {"status": {"statusCategory": {"key": category}}}},
        )

    @server.route("POST", "/rest/api/3/issue/OPS-19/comment")
    def comment(req: Request) -> Reply:
        comments.append(_json_request(req))
        return 201, {}, {"id": "9"}

    return posted, comments


TRANSITIONS = [
    {"id": "11", "name": "Start progress", "to": {"name": "In Progress"}},
    {"id": "31", "name": "DONE", "to": {"name": "Done"}},
    {"id": "41", "name": "Reopen issue", "to": {"name": "To Do"}},
]


def test_resolve_and_reopen_run_the_configured_transitions_then_note(
    server: ContractServer,
) -> None:
    posted, comments = _workflow(server, TRANSITIONS)
    sink = _jira(server, resolution="Fixed")
    try:
        sink.resolve(Ref("OPS-19"), "Healthy for 30 min")
        sink.reopen(Ref("OPS-19"), "Failed again")  # "To Do" is where "Reopen issue" leads
    finally:
        sink.close()
    assert posted == [
        {"transition": {"id": "31"}, "fields": {"resolution": {"name": "Fixed"}}},
        {"transition": {"id": "41"}},
    ]
    assert comments == [{"body": adf("Healthy for 30 min")}, {"body": adf("Failed again")}]
    _clean(server)


def test_a_transition_can_be_named_by_id(server: ContractServer) -> None:
    posted, _ = _workflow(server, TRANSITIONS)
    sink = _jira(server, resolve_transition="11")
    try:
        sink.resolve(Ref("OPS-19"), "done")
    finally:
        sink.close()
    assert posted == [{"transition": {"id": "11"}}]
    _clean(server)


def test_a_missing_transition_is_a_clear_error_listing_the_available_ones(
    server: ContractServer,
) -> None:
    posted, comments = _workflow(server, TRANSITIONS[:1] + TRANSITIONS[2:])
    sink = _jira(server, resolve_transition="Resolve Issue")
    try:
        with pytest.raises(DeliveryError) as err:
            sink.resolve(Ref("OPS-19"), "done")
    finally:
        sink.close()
    assert not err.value.retryable
    message = str(err.value)
    assert "'Resolve Issue'" in message and "OPS-19" in message
    assert "'Start progress'" in message and "'Reopen issue'" in message
    assert posted == [] and comments == []
    _clean(server)


def test_resolve_retried_after_the_transition_went_through_only_adds_the_note(
    server: ContractServer,
) -> None:
    posted, comments = _workflow(server, TRANSITIONS[2:], category="done")
    sink = _jira(server)
    try:
        sink.resolve(Ref("OPS-19"), "Healthy")
    finally:
        sink.close()
    assert posted == [] and comments == [{"body": adf("Healthy")}]
    _clean(server)


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retryable"), [(503, True), (429, True), (400, False), (401, False), (404, False)]
)
def test_http_errors_are_classified(server: ContractServer, status: int, retryable: bool) -> None:
    @server.route("POST", "/rest/api/3/issue")
    def create(req: Request) -> Reply:
        return status, {}, {"errorMessages": ["nope"], "errors": {}}

    sink = _jira(server)
    try:
        with pytest.raises(DeliveryError) as err:
            sink.create(TICKET, {})
    finally:
        sink.close()
    assert err.value.retryable is retryable and err.value.status == status
    assert f"HTTP {status}" in str(err.value) and "/rest/api/3/issue" in str(err.value)
    _clean(server)


def test_a_refused_connection_is_retryable() -> None:
    sink = JiraSink(base_url=_closed_port_url(), email="e", api_token="t", project_key="OPS")
    try:
        with pytest.raises(DeliveryError) as err:
            sink.find(KEY)
    finally:
        sink.close()
    assert err.value.retryable and err.value.status is None


def test_a_timeout_is_retryable_and_a_given_client_still_gets_the_auth() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        raise httpx.ReadTimeout("timed out", request=request)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    sink = JiraSink(
        base_url="https://x.atlassian.net", email="ops@example.com", api_token="s3cret-token",
        project_key="OPS", client=client,
    )  # fmt: skip
    try:
        with pytest.raises(DeliveryError) as err:
            sink.note(Ref("OPS-1"), "x")
        sink.close()
        assert not client.is_closed  # the caller's client stays the caller's
    finally:
        client.close()
    assert err.value.retryable and "ReadTimeout" in str(err.value)
    assert seen == [AUTH]


def test_a_2xx_without_the_key_is_a_clear_non_retryable_error(server: ContractServer) -> None:
    @server.route("POST", "/rest/api/3/issue")
    def create(req: Request) -> Reply:
        return 201, {}, {"id": "10001"}

    sink = _jira(server)
    memo: dict[str, str] = {}
    try:
        with pytest.raises(DeliveryError) as err:
            sink.create(TICKET, memo)
    finally:
        sink.close()
    assert not err.value.retryable
    assert "'key'" in str(err.value) and "POST /rest/api/3/issue" in str(err.value)
    assert memo == {}
    _clean(server)


def test_a_non_json_2xx_is_a_non_retryable_error(server: ContractServer) -> None:
    @server.route("GET", "/rest/api/3/search/jql")
    def search(req: Request) -> Reply:
        return 200, {"Content-Type": "text/html"}, "<html>login</html>"

    sink = _jira(server)
    try:
        with pytest.raises(DeliveryError) as err:
            sink.find(KEY)
    finally:
        sink.close()
    assert not err.value.retryable and "expected JSON" in str(err.value)
    _clean(server)


# --- Jira Service Management ---------------------------------------------------------------


def test_jsm_create_raises_a_request_and_links_the_previous_one(server: ContractServer) -> None:
    @server.route("POST", "/rest/servicedeskapi/request")
    def create(req: Request) -> Reply:
        body = _json_request(req)
        assert body["serviceDeskId"] == "4" and body["requestTypeId"] == "27"
        values = body["requestFieldValues"]
        assert values["summary"] == TICKET.summary
        assert values["description"] == TICKET.text  # JSM takes plain text, not ADF
        assert values["labels"] == [KEY, "rdiag"]
        assert "priority" not in values  # not on the form unless configured
        web = f"{server.url}/servicedesk/customer/portal/4/HD-5"
        return 201, {}, {"issueId": "20005", "issueKey": "HD-5", "_links": {"web": web}}

    @server.route("POST", "/rest/api/3/issueLink")
    def link(req: Request) -> Reply:
        assert _json_request(req) == {
            "type": {"name": "Relates"},
            "inwardIssue": {"key": "HD-5"},
            "outwardIssue": {"key": "HD-2"},
        }
        return 201, {}, b""

    sink = _jsm(server)
    try:
        ref = sink.create(replace(TICKET, previous=Ref("HD-2")), {})
    finally:
        sink.close()
    assert ref == Ref("HD-5", f"{server.url}/servicedesk/customer/portal/4/HD-5")
    assert len(server.calls("POST", "/rest/api/3/issueLink")) == 1
    _clean(server)


def test_jsm_sets_labels_through_the_platform_when_they_are_not_on_the_form(
    server: ContractServer,
) -> None:
    @server.route("POST", "/rest/servicedeskapi/request")
    def create(req: Request) -> Reply:
        values = _json_request(req)["requestFieldValues"]
        assert "labels" not in values and "customfield_10050" not in values
        assert values["priority"] == {"name": "High"}
        return 201, {}, {"issueId": "20006", "issueKey": "HD-6"}

    @server.route("PUT", "/rest/api/3/issue/HD-6")
    def label(req: Request) -> Reply:
        assert _json_request(req) == {
            "fields": {"labels": [KEY, "rdiag"], "customfield_10050": KEY}
        }
        return 204, {}, b""

    sink = _jsm(
        server, labels_on_form=False, priority_on_form=True, dedup_field="customfield_10050"
    )
    memo: dict[str, str] = {}
    try:
        assert sink.create(TICKET, memo) == Ref("HD-6", f"{server.url}/browse/HD-6")
    finally:
        sink.close()
    assert memo == {"key": "HD-6", "labelled": "1"}
    _clean(server)


def test_jsm_note_is_a_non_public_request_comment(server: ContractServer) -> None:
    bodies: list[Any] = []

    @server.route("POST", "/rest/servicedeskapi/request/HD-5/comment")
    def comment(req: Request) -> Reply:
        bodies.append(_json_request(req))
        return 201, {}, {"id": "1000", "public": False}

    sink = _jsm(server)
    try:
        sink.note(Ref("HD-5"), "Seen again")
        sink.note(Ref("HD-5"), "Tell the user", internal=False)
    finally:
        sink.close()
    assert bodies == [
        {"body": "Seen again", "public": False},
        {"body": "Tell the user", "public": True},
    ]
    _clean(server)


def test_jsm_attach_uploads_a_temporary_file_then_attaches_it_internally(
    server: ContractServer,
) -> None:
    @server.route("POST", "/rest/servicedeskapi/servicedesk/4/attachTemporaryFile")
    def upload(req: Request) -> Reply:
        assert req.header("Authorization") == AUTH
        assert req.header("X-Atlassian-Token") == "no-check"
        assert _multipart(req) == {"file": ("smart-sda.txt", "text/plain", FILE.content)}
        return (
            201,
            {},
            {
                "temporaryAttachments": [
                    {"temporaryAttachmentId": "temp910", "fileName": "smart-sda.txt"}
                ]
            },
        )

    @server.route("POST", "/rest/servicedeskapi/request/HD-5/attachment")
    def attach(req: Request) -> Reply:
        assert _json_request(req) == {"temporaryAttachmentIds": ["temp910"], "public": False}
        return 201, {}, {"attachments": {"values": []}}

    sink = _jsm(server)
    try:
        sink.attach(Ref("HD-5"), FILE)
    finally:
        sink.close()
    assert len(server.calls("POST", "/rest/servicedeskapi/request/HD-5/attachment")) == 1
    _clean(server)


def test_jsm_attach_without_a_temporary_id_is_a_clear_error(server: ContractServer) -> None:
    @server.route("POST", "/rest/servicedeskapi/servicedesk/4/attachTemporaryFile")
    def upload(req: Request) -> Reply:
        return 201, {}, {"temporaryAttachments": [{"fileName": "smart-sda.txt"}]}

    sink = _jsm(server)
    try:
        with pytest.raises(DeliveryError) as err:
            sink.attach(Ref("HD-5"), FILE)
    finally:
        sink.close()
    assert not err.value.retryable and "'temporaryAttachmentId'" in str(err.value)
    _clean(server)


def test_jsm_finds_and_transitions_through_the_platform(server: ContractServer) -> None:
    @server.route("GET", "/rest/api/3/search/jql")
    def search(req: Request) -> Reply:
        assert req.query["jql"] == [JQL] and req.query["fields"] == ["key"]
        return 200, {}, {"issues": [{"id": "20005", "key": "HD-5"}]}

    @server.route("GET", "/rest/api/3/issue/HD-5/transitions")
    def offered(req: Request) -> Reply:
        return (
            200,
            {},
            {
                "transitions": [
                    {"id": "761", "name": "Resolve this issue", "to": {"name": "Resolved"}}
                ]
            },
        )

    @server.route("POST", "/rest/api/3/issue/HD-5/transitions")
    def transition(req: Request) -> Reply:
        assert _json_request(req) == {"transition": {"id": "761"}}
        return 204, {}, b""

    @server.route("POST", "/rest/servicedeskapi/request/HD-5/comment")
    def comment(req: Request) -> Reply:
        assert _json_request(req) == {"body": "Healthy", "public": False}
        return 201, {}, {"id": "1001"}

    sink = _jsm(server, resolve_transition="resolve THIS issue")
    try:
        ref = sink.find(KEY)
        assert ref is not None and ref.id == "HD-5"
        sink.resolve(ref, "Healthy")
    finally:
        sink.close()
    assert len(server.calls("POST", "/rest/api/3/issue/HD-5/transitions")) == 1
    _clean(server)


def test_jsm_create_without_an_issue_key_is_a_clear_error(server: ContractServer) -> None:
    @server.route("POST", "/rest/servicedeskapi/request")
    def create(req: Request) -> Reply:
        return 201, {}, {"issueId": "20007"}

    sink = _jsm(server)
    try:
        with pytest.raises(DeliveryError) as err:
            sink.create(TICKET, {})
    finally:
        sink.close()
    assert not err.value.retryable
    assert "'issueKey'" in str(err.value) and "/rest/servicedeskapi/request" in str(err.value)
    _clean(server)
