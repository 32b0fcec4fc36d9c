"""RoundupSink against a real Roundup 2.6 tracker (roundup-server on 127.0.0.1).

No mocks of the helpdesk: where a test needs a fault (a lost answer, a concurrent
edit, a stripped header), an httpx transport wraps the real one and does the real
request around the fault.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest

from collector.tickets.sinks.base import Attachment, DeliveryError, Outgoing, Ref
from collector.tickets.sinks.roundup import RoundupSink
from tests.collector.tickets.contract import KEY
from tests.collector.tickets.contract import outgoing as shared_outgoing
from tests.helpers.roundup_tracker import RoundupServer


def outgoing(**changes: object) -> Outgoing:
    return shared_outgoing(
        **{"markdown": "**Symptoms.** SMART overall-health self-assessment: FAILED\n\n- sda",
           **changes}
    )  # fmt: skip


def sink_for(server: RoundupServer, **kw: object) -> RoundupSink:
    settings: dict[str, object] = dict(
        base_url=server.base_url, user=server.user, password=server.password
    )
    settings.update(kw)
    return RoundupSink(**settings)  # type: ignore[arg-type]


@pytest.fixture
def sink(roundup: RoundupServer) -> Iterator[RoundupSink]:
    s = sink_for(roundup)
    yield s
    s.close()


class Wrapped(httpx.BaseTransport):
    """The real transport with hooks around each request: before(request) may change or
    refuse it; after(request, response) may replace the answer or raise."""

    def __init__(
        self,
        before: Callable[[httpx.Request], None] | None = None,
        after: Callable[[httpx.Request, httpx.Response], httpx.Response] | None = None,
    ) -> None:
        self.inner = httpx.HTTPTransport()
        self.before = before
        self.after = after
        self.seen: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(f"{request.method} {request.url.path}")
        if self.before is not None:
            self.before(request)
        response = self.inner.handle_request(request)
        if self.after is not None:
            return self.after(request, response)
        return response

    def close(self) -> None:
        self.inner.close()


@contextmanager
def _closing(s: RoundupSink) -> Iterator[RoundupSink]:
    try:
        yield s
    finally:
        s.close()


@contextmanager
def wrapped_sink(server: RoundupServer, transport: Wrapped) -> Iterator[RoundupSink]:
    with httpx.Client(transport=transport, timeout=10.0) as client:
        s = sink_for(server, client=client)
        yield s
        s.close()


def only_issue(server: RoundupServer, key: str = KEY) -> dict[str, object]:
    found = server.issues(correlation_id=key)
    assert len(found) == 1, found
    return found[0]


# -- the lifecycle ---------------------------------------------------------------------------


def test_create_then_find_with_every_helpdesk_field(roundup: RoundupServer, sink: RoundupSink):
    ticket = outgoing()
    memo: dict[str, str] = {}
    ref = sink.create(ticket, memo)

    assert ref.id.isdigit()
    assert ref.url == f"{roundup.base_url}/issue{ref.id}"
    assert sink.find(KEY) == ref
    issue = roundup.issue(ref.id)
    assert issue["title"] == ticket.summary
    assert issue["priority"] == "P2"
    assert issue["status"] == "new"
    assert issue["correlation_id"] == KEY
    assert (issue["impact"], issue["urgency"]) == ("1", "2")
    assert issue["category"] == "Hardware / Storage"
    assert issue["assignment_group"] == "Desktop L2"
    assert issue["ci"] == "ws-0421"
    assert issue["related"] == []
    assert len(issue["messages"]) == 1
    report = roundup.message(issue["messages"][0])
    assert report["content"] == ticket.markdown
    assert report["author"] == roundup.user_id(roundup.user)
    assert report["date"]  # the web UI shows it
    assert memo["msg"] == issue["messages"][0] and "/@poe/" in memo["poe"]
    # The link for people opens the issue page of the web UI.
    page = httpx.get(ref.url, auth=roundup.admin, timeout=10.0)
    assert page.status_code == 200 and ticket.summary in page.text


def test_find_exact_key_newest_open_only(roundup: RoundupServer, sink: RoundupSink):
    assert sink.find(KEY) is None
    roundup.create_issue(title="old, resolved", correlation_id=KEY, status="resolved")
    roundup.create_issue(title="closed", correlation_id=KEY, status="closed")
    roundup.create_issue(title="a human said no", correlation_id=KEY, status="wontfix")
    roundup.create_issue(title="a longer key", correlation_id=KEY + "9")
    roundup.create_issue(title="other case", correlation_id=KEY.upper())
    assert sink.find(KEY) is None  # done ones, and near misses of the key, don't count

    older = roundup.create_issue(title="on hold", correlation_id=KEY, status="on-hold")
    assert sink.find(KEY) == Ref(older, f"{roundup.base_url}/issue{older}")
    newer = roundup.create_issue(title="no status at all", correlation_id=KEY)
    found = sink.find(KEY)
    assert found is not None and found.id == newer
    assert sink.find(KEY[:-1]) is None  # exact match, not a substring search


def test_note_adds_a_message(roundup: RoundupServer, sink: RoundupSink):
    ref = sink.create(outgoing(), {})
    sink.note(ref, "Seen again at 10:42, reallocated sectors 12 -> 40.")
    issue = roundup.issue(ref.id)
    assert len(issue["messages"]) == 2
    assert roundup.message(issue["messages"][1])["content"] == (
        "Seen again at 10:42, reallocated sectors 12 -> 40."
    )
    assert issue["status"] == "new"  # a note changes nothing else


def test_attach_adds_a_file_byte_exact(roundup: RoundupServer, sink: RoundupSink):
    ref = sink.create(outgoing(), {})
    text = Attachment("smart-sda.txt", "text/plain", b"SMART overall-health: FAILED\n")
    blob = Attachment("dump.bin", "application/octet-stream", bytes(range(256)) * 4)
    sink.attach(ref, text)
    sink.attach(ref, blob)
    files = roundup.issue(ref.id)["files"]
    assert len(files) == 2
    assert roundup.file(files[0]) == ("smart-sda.txt", "text/plain", text.content)
    assert roundup.file(files[1]) == ("dump.bin", "application/octet-stream", blob.content)


def test_resolve_then_reopen(roundup: RoundupServer, sink: RoundupSink):
    ref = sink.create(outgoing(), {})
    sink.resolve(ref, "Condition cleared at 11:00; healthy for 30 min.")
    issue = roundup.issue(ref.id)
    assert issue["status"] == "resolved"
    assert len(issue["messages"]) == 2
    assert roundup.message(issue["messages"][1])["content"].startswith("Condition cleared")
    assert sink.find(KEY) is None

    sink.reopen(ref, "Recurred at 11:20 inside the reopen window.")
    issue = roundup.issue(ref.id)
    assert issue["status"] == "open"
    assert len(issue["messages"]) == 3
    assert roundup.message(issue["messages"][2])["content"].startswith("Recurred")
    assert sink.find(KEY) == ref


def test_create_with_previous_links_related(roundup: RoundupServer, sink: RoundupSink):
    first = sink.create(outgoing(), {})
    roundup.edit_issue(first.id, status="closed")
    problem = roundup.create_issue(title="Problem: SMART failures on one model")
    second = sink.create(outgoing(previous=first, problem=Ref(problem)), {})
    assert second.id != first.id
    assert roundup.issue(second.id)["related"] == [first.id, problem]
    assert sink.find(KEY) == second


def test_create_again_with_the_same_memo_is_the_same_issue(
    roundup: RoundupServer, sink: RoundupSink
):
    memo: dict[str, str] = {}
    ref = sink.create(outgoing(), memo)
    assert sink.create(outgoing(), memo) == ref
    assert only_issue(roundup)["id"] == ref.id


# -- retries ----------------------------------------------------------------------------------


def test_lost_answer_to_the_poe_post_then_retry_makes_one_issue(roundup: RoundupServer):
    def lose_answer(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if request.method == "POST" and "/@poe/" in request.url.path:
            response.read()  # Roundup has created the issue and answered...
            response.close()
            raise httpx.ReadTimeout("answer lost", request=request)  # ...which we never see
        return response

    transport = Wrapped(after=lose_answer)
    memo: dict[str, str] = {}
    with wrapped_sink(roundup, transport) as flaky, pytest.raises(DeliveryError) as err:
        flaky.create(outgoing(), memo)
    assert err.value.retryable
    assert "ReadTimeout" in str(err.value)
    assert transport.seen[-1].endswith("/@poe/" + memo["poe"].rsplit("/", 1)[-1])
    created = only_issue(roundup)  # it did reach Roundup

    # The retry with the persisted memo: the used POE URL is refused, find names the issue.
    with _closing(sink_for(roundup)) as retry:
        ref = retry.create(outgoing(), memo)
    assert ref.id == created["id"]
    issue = only_issue(roundup)
    assert issue["messages"] == [memo["msg"]]  # the report message was not made twice


def test_expired_poe_url_gets_a_new_one(roundup: RoundupServer, sink: RoundupSink):
    memo = {"poe": f"{roundup.rest_url}/data/issue/@poe/expiredTokenFromYesterday"}
    ref = sink.create(outgoing(), memo)
    assert only_issue(roundup)["id"] == ref.id
    assert not memo["poe"].endswith("expiredTokenFromYesterday")


def test_helpdesk_down_is_retryable_and_the_retry_works(roundup: RoundupServer, sink: RoundupSink):
    roundup.stop()
    memo: dict[str, str] = {}
    with pytest.raises(DeliveryError) as err:
        sink.create(outgoing(), memo)
    assert err.value.retryable and err.value.status is None
    assert "ConnectError" in str(err.value)
    with pytest.raises(DeliveryError) as err:
        sink.find(KEY)
    assert err.value.retryable

    roundup.start()
    ref = sink.create(outgoing(), memo)
    assert only_issue(roundup)["id"] == ref.id
    # Same port and data after a restart; ETags (HMAC with the stable secret_key) hold.
    sink.note(ref, "after the outage")
    assert len(roundup.issue(ref.id)["messages"]) == 2


def test_concurrent_edit_412_is_retried_once(roundup: RoundupServer):
    with _closing(sink_for(roundup)) as plain:
        ref = plain.create(outgoing(), {})
    edits = iter(["edited by a human", None])

    def human_edits_first(request: httpx.Request) -> None:
        if request.method == "PATCH":
            title = next(edits)
            if title is not None:  # between the sink's GET and its PATCH
                roundup.edit_issue(ref.id, title=title)

    transport = Wrapped(before=human_edits_first)
    with wrapped_sink(roundup, transport) as s:
        s.note(ref, "note despite the edit")
    patches = [line for line in transport.seen if line.startswith("PATCH")]
    gets = [line for line in transport.seen if line.startswith("GET")]
    assert len(patches) == 2 and len(gets) == 2  # the 412, then a fresh GET and PATCH
    issue = roundup.issue(ref.id)
    assert issue["title"] == "edited by a human"  # the human's edit survives
    assert roundup.message(issue["messages"][-1])["content"] == "note despite the edit"


def test_conflict_twice_is_a_non_retryable_412(roundup: RoundupServer):
    with _closing(sink_for(roundup)) as plain:
        ref = plain.create(outgoing(), {})
    count = iter(range(100))

    def human_keeps_editing(request: httpx.Request) -> None:
        if request.method == "PATCH":
            roundup.edit_issue(ref.id, title=f"edit {next(count)}")

    editing = Wrapped(before=human_keeps_editing)
    with wrapped_sink(roundup, editing) as s, pytest.raises(DeliveryError) as err:
        s.resolve(ref, "cleared")
    assert err.value.status == 412 and not err.value.retryable
    assert "If-Match is missing or does not match" in str(err.value)
    assert roundup.issue(ref.id)["status"] == "new"


# -- errors ----------------------------------------------------------------------------------


def test_bad_credentials_are_not_retryable(roundup: RoundupServer):
    with _closing(sink_for(roundup, password="wrong")) as s:
        with pytest.raises(DeliveryError) as err:
            s.create(outgoing(), {})
        assert err.value.status == 401 and not err.value.retryable
        assert "Invalid Login" in str(err.value)
        with pytest.raises(DeliveryError) as err:
            s.find(KEY)
        assert err.value.status == 401 and not err.value.retryable
    assert roundup.issues(correlation_id=KEY) == []


def test_csrf_refusal_is_not_retryable_and_says_why(roundup: RoundupServer):
    def strip_origin(request: httpx.Request) -> None:
        if request.method != "GET":
            del request.headers["Origin"]

    stripping = Wrapped(before=strip_origin)
    with wrapped_sink(roundup, stripping) as s, pytest.raises(DeliveryError) as err:
        s.create(outgoing(), {})
    assert err.value.status == 400 and not err.value.retryable
    assert "Required Header Missing" in str(err.value)


def test_server_error_is_retryable(roundup: RoundupServer):
    def boom(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        response.read()
        return httpx.Response(503, text="Service Unavailable", request=request)

    with wrapped_sink(roundup, Wrapped(after=boom)) as s, pytest.raises(DeliveryError) as err:
        s.find(KEY)
    assert err.value.status == 503 and err.value.retryable


def test_answer_without_id_is_a_clear_error(roundup: RoundupServer):
    def no_id(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/data/msg"):
            response.read()
            return httpx.Response(201, json={"data": {"link": "x"}}, request=request)
        return response

    with wrapped_sink(roundup, Wrapped(after=no_id)) as s, pytest.raises(DeliveryError) as err:
        s.note(Ref("1"), "x")
    assert not err.value.retryable
    assert "no data.id" in str(err.value) and "/rest/data/msg" in str(err.value)
