"""`make demo` as a user runs it: `python -m tests.demo`, a real collector, real agents and
a real Roundup tracker as the helpdesk."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.procs import ROOT, env

# Written out here, not taken from tests/demo.py, so a demo that quietly expects less fails.
EXPECTED_SUMMARIES = {
    "ws-finance-07": ["[Disk] Volume /home almost full on ws-finance-07"],
    "ws-design-12": ["[Disk] Drive /dev/sda reports SMART failure on ws-design-12"],
    "ws-lab-21": ["[Disk] Volume / almost full on ws-lab-21"],
    # Seven tickets, two of them merged into the read-only root's: one problem, one ticket.
    "ws-eng-laptop-12": [
        "[Disk] Drive /dev/sda reports SMART failure on ws-eng-laptop-12",
        "[Disk] Volume /home almost full on ws-eng-laptop-12",
        "[Disk] Filesystem on sda2 went read-only on ws-eng-laptop-12",
        "[Disk] Kernel I/O errors on sda on ws-eng-laptop-12",
        "[Disk] Filesystem errors on sda2 on ws-eng-laptop-12",
        "[Disk] SATA link errors on port ata2 on ws-eng-laptop-12",
        "[Stability] Kernel crash (oops) on ws-eng-laptop-12",
    ],
    "NB-SALES-114": [
        "[Stability] Blue screen 0x0000009f on NB-SALES-114",
        "[Disk] Storage timeouts and resets on NB-SALES-114",
    ],
    "ws-support-03": [],
}


@pytest.mark.slow
def test_demo_opens_the_expected_tickets_and_exits_0(tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    done = subprocess.run(
        [sys.executable, "-m", "tests.demo", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env(),
        cwd=ROOT,
        timeout=150,
        check=False,
    )
    assert done.returncode == 0, (
        f"demo exit status {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    text = done.stdout
    assert "Traceback" not in text + done.stderr
    for hostname, summaries in EXPECTED_SUMMARIES.items():
        header = next(line for line in text.splitlines() if line.startswith(f">> {hostname} "))
        assert header.endswith(f": {len(summaries)} ticket{'' if len(summaries) == 1 else 's'}")
        for summary in summaries:
            # The report's own heading: "# #3 [Disk] ...".
            (line,) = [line for line in text.splitlines() if line.endswith(f" {summary}")]
            assert line.startswith("# #")
    # The merged ones say where their problem went.
    assert text.count("Merged into ticket #") == 2
    # Every ticket that is not merged reached the real Roundup tracker through the outbox.
    assert text.count("In the helpdesk (roundup): issue ") == 11
    assert (
        "delivered to the helpdesk (a real Roundup tracker, through the outbox): 11 tickets" in text
    )
    for part in ("| Priority | P1 Critical |", "## Probable cause", "## Already checked",
                 "## What to do", "Respond by"):  # fmt: skip
        assert part in text
    # Nothing for the healthy host anywhere in the ticket texts.
    assert "on ws-support-03" not in text
    assert "DEMO OK" in text
    assert (out / "collector.db").is_file()
    assert (out / "logs" / "collector.log").is_file()
