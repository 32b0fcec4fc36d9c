"""A real collector process serving the console, filled by a real simulated fleet.

Session-scoped: the mixed-fleet scenario (40 hosts, a simulated day, faults of every
family) runs once, through the real agent path and gRPC, and the API and browser tests
read what it left. Users of each role are added with the real `rdiag-collector users add`.
Tests that change tickets act on tickets of their own choosing and say which.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from agent.config import CollectorSection
from collector.sim.run import simulate
from collector.sim.scenario import load_scenario
from collector.store import SqlStore, open_store
from tests.helpers.procs import BIN, ROOT, CollectorProc, env, start_collector

SCENARIO = ROOT / "tests" / "scenarios" / "mixed-fleet.yaml"
PASSWORD = "correct horse battery"
USERS = {"viewer": "vera", "L1": "lars", "L2": "lena", "admin": "ada"}


@dataclass
class LiveConsole:
    proc: CollectorProc
    db: Path
    folder: Path

    @property
    def url(self) -> str:
        return self.proc.console_url.rstrip("/")

    def store(self) -> SqlStore:
        return open_store(f"sqlite:///{self.db}")

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "rdiag-collector"), "--store", f"sqlite:///{self.db}", *args],
            input=stdin, capture_output=True, text=True, env=env(), timeout=60,
        )  # fmt: skip

    def login(self, role: str) -> tuple[httpx.Client, str]:
        """A client logged in as the user of `role`, and the session's CSRF token."""
        return login(self.url, USERS[role], PASSWORD)


def login(url: str, name: str, password: str) -> tuple[httpx.Client, str]:
    import re

    client = httpx.Client(base_url=url, timeout=30, follow_redirects=True)
    form = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token, form.text
    r = client.post("/login", data={"username": name, "password": password,
                                    "csrf": token.group(1), "next": "/"})  # fmt: skip
    assert r.status_code == 200 and r.url.path == "/", (r.status_code, r.text[:300])
    page = client.get("/tickets")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, page.text[:500]
    return client, csrf.group(1)


def in_thread(work: Callable[[], object]) -> Callable[[], None]:
    """Run work (a simulation) in a thread, beside what the test thread drives (a
    Playwright page, an event stream); the returned join() re-raises what it raised."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # handed to the test thread, not lost in this one
            failed.append(exc)

    thread = threading.Thread(target=run, name="console-test-sim")
    thread.start()

    def join() -> None:
        thread.join(120)
        assert not thread.is_alive(), "the simulation did not finish"
        if failed:
            raise failed[0]

    return join


@pytest.fixture(scope="session")
def live_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConsole]:
    folder = tmp_path_factory.mktemp("console")
    db = folder / "collector.db"
    sc = load_scenario(SCENARIO)
    proc = start_collector(db, folder / "collector.log", config=sc.collector_toml(),
                           console=True)  # fmt: skip
    try:
        assert proc.console_url.startswith("http://127.0.0.1:"), proc.console_url
        cfg = CollectorSection(address=proc.address, insecure=True)
        asyncio.run(simulate(sc, cfg, folder / "spools"))
        live = LiveConsole(proc, db, folder)
        for role, name in USERS.items():
            done = live.cli("users", "add", name, "--role", role, "--password-stdin",
                            stdin=PASSWORD + "\n")  # fmt: skip
            assert done.returncode == 0, done.stderr
        yield live
    finally:
        proc.stop()
