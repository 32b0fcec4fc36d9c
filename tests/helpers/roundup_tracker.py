"""A real Roundup 2.6.0 issue tracker for the ticket tests, served on 127.0.0.1.

The tracker is the classic template with what a helpdesk has on top: correlation id,
impact, urgency, category, assignment group, CI (host), an occurrence counter and links
to related issues; ITIL-style statuses and P1..P5 priorities. It runs as a real
`roundup-server` process, so stopping it is a real outage for the adapter.

Only HTTP crosses into the test process: roundup is never imported here. Its modules
emit DeprecationWarnings at import time and the tests run with -W error; and talking
to it the way the collector does keeps the tests honest.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

BIN = Path(sys.executable).parent
TRACKER = "diag"  # the tracker's name in the URL path
ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-Passw0rd"
# The account the adapter uses: role User (the classic schema's Rest Access holder),
# not Admin, so the tests also catch permissions a real integration account lacks.
API_USER = "rdiag"
API_PASSWORD = "rdiag-Passw0rd"

STATUSES = ("new", "open", "on-hold", "resolved", "closed", "wontfix")
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")

# What schema.py gets: appended to the classic issue class.
_ISSUE_ANCHOR = '                status=Link("status"))\n'
_ISSUE_FIELDS = """\
                status=Link("status"),
                # rdiag helpdesk fields
                correlation_id=String(),
                impact=String(),
                urgency=String(),
                category=String(),
                assignment_group=String(),
                ci=String(),
                occurrences=Number(),
                related=Multilink("issue"))
"""

_INITIAL_DATA = re.compile(
    r"pri = db\.getclass\('priority'\).*?(?=# create the two default users)", re.S
)


def _priorities_and_statuses() -> str:
    lines = ["pri = db.getclass('priority')"]
    lines += [f"pri.create(name={p!r}, order={str(i)!r})" for i, p in enumerate(PRIORITIES, 1)]
    lines += ["", "stat = db.getclass('status')"]
    lines += [f"stat.create(name={s!r}, order={str(i)!r})" for i, s in enumerate(STATUSES, 1)]
    return "\n".join(lines) + "\n\n"


# The integration account, after the default users so that admin keeps user id 1.
# initial_data.py runs inside roundup-admin, where roundup is importable.
_API_ACCOUNT = f"""
from roundup import password as _password
db.getclass('user').create(username={API_USER!r}, realname='rdiag collector',
    password=_password.Password({API_PASSWORD!r}, config=db.config), roles='User')
"""


def _run(*args: str) -> None:
    done = subprocess.run(
        args, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        )


def _web(port: int) -> str:
    return f"http://127.0.0.1:{port}/{TRACKER}/"


def install_tracker(home: Path, port: int, admin_password: str = ADMIN_PASSWORD) -> None:
    """A classic sqlite tracker in home, customised for rdiag, initialised (db created)."""
    admin = str(BIN / "roundup-admin")
    settings = ",".join(
        [
            f"tracker_web={_web(port)}",
            "mail_domain=localhost",
            # Nothing may leave the machine: mail that would be sent goes to this file.
            f"mail_debug={home / 'mail.log'}",
            "web_http_auth=yes",  # REST with Basic auth
            "logging_level=WARNING",
            # Roundup's minimum: the default 250000 PBKDF2 rounds cost ~150 ms per
            # request, since Basic auth verifies the password on every one.
            "password_pbkdf2_default_rounds=1000",
        ]
    )
    _run(admin, "-i", str(home), "install", "classic", "sqlite", settings)

    config = (home / "config.ini").read_text()
    # install generates the key; ETags are HMACs with it, so it must stay put.
    if not re.search(r"^secret_key = \S+", config, re.M):
        raise RuntimeError(f"{home}/config.ini has no secret_key")

    schema = home / "schema.py"
    text = schema.read_text()
    if text.count(_ISSUE_ANCHOR) != 1:
        raise RuntimeError(f"unexpected classic schema.py: no {_ISSUE_ANCHOR.strip()!r}")
    schema.write_text(text.replace(_ISSUE_ANCHOR, _ISSUE_FIELDS))

    initial = home / "initial_data.py"
    text, n = _INITIAL_DATA.subn(_priorities_and_statuses(), initial.read_text())
    if n != 1:
        raise RuntimeError("unexpected classic initial_data.py: no priority/status block")
    initial.write_text(text + _API_ACCOUNT)

    # New issues start as "new" (the classic auditor presets "unread", which is gone).
    auditor = home / "detectors" / "statusauditor.py"
    text = auditor.read_text()
    if text.count("db.status.lookup('unread')") != 1:
        raise RuntimeError("unexpected classic statusauditor.py")
    auditor.write_text(text.replace("db.status.lookup('unread')", "db.status.lookup('new')"))

    # No mail reactions (roundup/demo.py does the same).
    (home / "detectors" / "nosyreaction.py").unlink()
    _run(admin, "-i", str(home), "initialise", admin_password)


def retarget(home: Path, port: int) -> None:
    """Point a copied tracker at another port: [tracker] web is the only place it lives."""
    config = home / "config.ini"
    text, n = re.subn(r"^web = .*$", f"web = {_web(port)}", config.read_text(), count=1, flags=re.M)
    if n != 1:
        raise RuntimeError(f"{config}: no [tracker] web line")
    config.write_text(text)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
    except OSError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RoundupServer:
    """One tracker home and its roundup-server process; start() and stop() at will.

    template: an installed tracker home (see install_tracker) to copy instead of
    installing afresh, which saves most of the setup time per test.
    """

    def __init__(self, root: Path, *, template: Path | None = None, port: int | None = None):
        self.port = port or free_port()
        self.root = root
        self.home = root / "tracker"
        self.log = root / "roundup-server.log"
        self.base_url = f"http://127.0.0.1:{self.port}/{TRACKER}"
        self.rest_url = self.base_url + "/rest"
        self.admin = (ADMIN_USER, ADMIN_PASSWORD)
        self.user = API_USER
        self.password = API_PASSWORD
        self._proc: subprocess.Popen[bytes] | None = None
        root.mkdir(parents=True, exist_ok=True)
        if template is None:
            install_tracker(self.home, self.port)
        else:
            shutil.copytree(template, self.home)
            retarget(self.home, self.port)
        self._http = httpx.Client(auth=self.admin, timeout=10.0)

    # -- process ---------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> None:
        """Serve the tracker (again, same port and data); return once REST answers."""
        if self._proc is not None and self._proc.poll() is None:
            return
        args = [str(BIN / "roundup-server"), "-n", "127.0.0.1", "-p", str(self.port)]
        if os.getuid() == 0:
            # roundup-server refuses to run as root unless told which user to become
            # (containers and some CI runners are root): "become" the one we are.
            args += ["-u", "0"]
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                [*args, f"{TRACKER}={self.home}"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group: stop() ends the forked request children too.
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"roundup-server exited {self._proc.returncode}: {self.tail()}")
            try:
                if self._http.get(self.rest_url + "/", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"roundup-server not answering after {timeout}s: {self.tail()}")
            time.sleep(0.05)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the server and wait: the helpdesk is down until start().

        The whole process group: in its default fork mode roundup-server serves each
        connection in a child that keeps a copy of the listening socket, so a child on a
        keep-alive connection outlives its parent and the port still accepts connections
        that nobody answers.
        """
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the group we made in start()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
            raise
        # Down means the port refuses connections (dead children linger as zombies,
        # holding nothing, until init reaps them: that is not worth waiting for).
        deadline = time.monotonic() + grace
        while _accepts(self.port):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                raise RuntimeError(f"port {self.port} still accepts after stopping the server")
            time.sleep(0.02)

    def close(self) -> None:
        self.stop()
        self._http.close()

    def tail(self, n: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    def __enter__(self) -> RoundupServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- read helpers for assertions (admin, plain REST) ---------------------------------

    def _get(self, path: str, **params: str) -> Any:
        r = self._http.get(self.rest_url + path, params=params)
        r.raise_for_status()
        return r.json()["data"]

    def issues(self, **filters: str) -> list[dict[str, Any]]:
        """Every issue matching the filters (exact match on strings), oldest first, as issue()."""
        params = {f"{k}:" if k not in ("status", "priority") else k: v for k, v in filters.items()}
        found = self._get("/data/issue", **params, **{"@sort": "id"})["collection"]
        return [self.issue(item["id"]) for item in found]

    def issue(self, issue_id: str) -> dict[str, Any]:
        """One issue, flattened: links as names (status, priority), multilinks as id lists."""
        data = self._get(f"/data/issue/{issue_id}", **{"@verbose": "2"})
        out: dict[str, Any] = {"id": data["id"], "@etag": data["@etag"]}
        for key, value in data["attributes"].items():
            if isinstance(value, dict):  # a Link, with its label at verbose 2
                value = value.get("name", value["id"])
            elif isinstance(value, list):
                value = [v["id"] for v in value]
            out[key] = value
        return out

    def message(self, msg_id: str) -> dict[str, Any]:
        """A msg with its content inline (verbose 3), links as ids."""
        attrs = self._get(f"/data/msg/{msg_id}", **{"@verbose": "3"})["attributes"]
        return {k: (v["id"] if isinstance(v, dict) and "id" in v else v) for k, v in attrs.items()}

    def user_id(self, username: str) -> str:
        user_id: str = self._get(f"/data/user/username={username}")["id"]
        return user_id

    def file(self, file_id: str) -> tuple[str, str, bytes]:
        """(name, type, content) of a file; the content from its download URL, byte exact."""
        attrs = self._get(f"/data/file/{file_id}")["attributes"]
        r = self._http.get(f"{self.base_url}/file{file_id}/{attrs['name']}")
        r.raise_for_status()
        return attrs["name"], attrs["type"], r.content

    # -- a human at work (admin): issues and edits the adapter did not make -------------------

    def _csrf(self) -> dict[str, str]:
        return {"X-Requested-With": "rest", "Origin": f"http://127.0.0.1:{self.port}"}

    def create_issue(self, **props: Any) -> str:
        """An issue made by someone else, e.g. a human's ticket for the same key."""
        r = self._http.post(self.rest_url + "/data/issue", json=props, headers=self._csrf())
        r.raise_for_status()
        issue_id: str = r.json()["data"]["id"]
        return issue_id

    def edit_issue(self, issue_id: str, **props: Any) -> None:
        """Replace properties of an issue (with its current ETag), as a person would."""
        etag = self._get(f"/data/issue/{issue_id}")["@etag"]
        r = self._http.patch(
            f"{self.rest_url}/data/issue/{issue_id}",
            json={"@op": "replace", **props},
            headers={**self._csrf(), "If-Match": etag},
        )
        r.raise_for_status()
