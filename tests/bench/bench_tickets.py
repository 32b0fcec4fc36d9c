"""The ticket side's cost: the lifecycle inside the ingest transaction, the report, and
delivery through the outbox to a real Roundup tracker and to a webhook receiver.

* lifecycle per draft at ingest, SQLite: the same batches saved with and without one
  repeating finding each (open tickets of 200 hosts), the difference per draft; and a
  new ticket (row, three evidence files, four outbox operations) per ticket;
* the report (Markdown + HTML + JSON block) of a full ticket;
* outbox delivery: 50 tickets (a create and three attachments each) to a real
  roundup-server on loopback, and the same to a local webhook receiver, in operations/s;
* a storm of 500 hosts firing one rule: the time to store it and what reaches Roundup.
"""

from __future__ import annotations

import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.bench.report import BenchError, Outcome, Row

NAME = "tickets"


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run() -> Outcome:
    from collector.store import open_store
    from collector.tickets.outbox import Outbox
    from collector.tickets.policy import TicketPolicy
    from collector.tickets.report import report_of
    from collector.tickets.sinks.roundup import RoundupSink
    from collector.tickets.sinks.webhook import WebhookSink
    from tests.collector.store.test_store_contract import batch
    from tests.collector.tickets.test_lifecycle import finding
    from tests.helpers.roundup_tracker import RoundupServer

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="rdiag-bench-tickets-") as tmp:
        root = Path(tmp)
        policy = TicketPolicy(storm_max_new=1_000_000, group_wait_ms=0)
        store = open_store(f"sqlite:///{root / 'l.db'}", policy=policy)
        try:
            hosts = [finding(f"h{i:03d}") for i in range(200)]
            seq = 0

            def save(with_findings: bool, rounds: int) -> None:
                nonlocal seq
                for _ in range(rounds):
                    group = []
                    for d in hosts:
                        seq += 1
                        found = ((seq, d),) if with_findings else ()
                        group.append(batch(seq, seq, agent=d.agent_id, findings=found))
                    store.save_batches(group)

            t_new = _timed(lambda: save(True, 1))  # opens 200 tickets
            out["new_ticket_ms"] = t_new / len(hosts) * 1000
            rounds = 10
            t_with = _timed(lambda: save(True, rounds))
            t_without = _timed(lambda: save(False, rounds))
            n = rounds * len(hosts)
            out["repeat_draft_us"] = (t_with - t_without) / n * 1e6
            out["batch_without_us"] = t_without / n * 1e6
            t = store.list_tickets(limit=1)[0]
            reps = 200
            t_report = _timed(
                lambda: [
                    (r.markdown(), r.html()) for r in (report_of(store, t) for _ in range(reps))
                ]
            )
            out["report_ms"] = t_report / reps * 1000
        finally:
            store.close()

        # Delivery: a real tracker, then a webhook receiver.
        def deliver(sink: Any, label: str) -> None:
            s = open_store(f"sqlite:///{root / f'{label}.db'}", policy=policy)
            try:
                box = Outbox(s, [sink], clock=lambda: int(time.time() * 1000))
                nonlocal seq
                for i in range(50):
                    seq += 1
                    d = finding(f"{label}-{i:02d}")
                    s.save_batches([batch(seq, seq, agent=d.agent_id, findings=((seq, d),))])
                t0 = time.perf_counter()
                ops = 0
                while True:
                    done = box.run_once()
                    ops += done
                    if not done:
                        break
                took = time.perf_counter() - t0
                states = {x.state for x in s.deliveries(limit=10_000)}
                if states != {"done"}:
                    raise BenchError(f"{label}: deliveries left in {states}")
                out[f"{label}_ops"] = ops
                out[f"{label}_ops_per_s"] = ops / took
            finally:
                sink.close()
                s.close()

        with RoundupServer(root / "roundup") as tracker:
            tracker.start()
            deliver(RoundupSink(base_url=tracker.base_url, user=tracker.user,
                                password=tracker.password), "roundup")  # fmt: skip
            # The storm: 500 hosts, one rule, ten batches; Roundup should see one issue.
            s = open_store(f"sqlite:///{root / 'storm.db'}",
                           policy=TicketPolicy(group_wait_ms=30_000))  # fmt: skip
            clock = [int(time.time() * 1000)]
            sink = RoundupSink(base_url=tracker.base_url, user=tracker.user,
                               password=tracker.password)  # fmt: skip
            storm_box = Outbox(s, [sink], clock=lambda: clock[0])  # sinks first, as at start
            try:
                drafts = [finding(f"s{i:03d}", rule="drivers.display_tdr") for i in range(500)]
                groups = []
                for k in range(0, 500, 50):
                    group = []
                    for d in drafts[k : k + 50]:
                        seq += 1
                        group.append(batch(seq, seq, agent=d.agent_id, findings=((seq, d),)))
                    groups.append(group)
                out["storm_store_s"] = _timed(lambda: [s.save_batches(g) for g in groups])
                before = len(tracker.issues())
                clock[0] += 60_000  # past group_wait
                storm_box.run_once()
                out["storm_issues"] = len(tracker.issues()) - before
            finally:
                sink.close()
                s.close()

        received: list[int] = []

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received.append(len(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"
            deliver(WebhookSink(url=url, secret="bench"), "webhook")
        finally:
            httpd.shutdown()
            httpd.server_close()

    rows = [
        Row(NAME, "lifecycle per repeating finding at ingest (SQLite FULL, 200 open tickets)",
            out["repeat_draft_us"], "µs",
            note=f"a batch without findings: {out['batch_without_us']:.0f} µs"),
        Row(NAME, "a new ticket: row, 3 evidence files, 4 outbox operations", out["new_ticket_ms"],
            "ms"),
        Row(NAME, "one ticket's report, Markdown + HTML + JSON block", out["report_ms"], "ms"),
        Row(NAME, "outbox to a real Roundup 2.6.0 tracker on loopback", out["roundup_ops_per_s"],
            "ops/s", note=f"{out['roundup_ops']} operations: 50 creates with 3 files each"),
        Row(NAME, "outbox to a webhook receiver (HMAC-signed JSON)", out["webhook_ops_per_s"],
            "ops/s", note=f"{out['webhook_ops']} operations"),
        Row(NAME, "storm of 500 hosts, one rule: stored in", out["storm_store_s"], "s",
            note=f"issues in Roundup afterwards: {out['storm_issues']} (target 1)"),
    ]  # fmt: skip
    if out["storm_issues"] != 1:
        raise BenchError(f"the storm opened {out['storm_issues']} issues in Roundup, not 1")
    return Outcome(rows, out)
