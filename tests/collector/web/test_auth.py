"""Logins, sessions and API tokens: argon2 hashes, the login form's CSRF, cookie flags,
safe redirects, sessions that end, and the `users` / `tokens` commands.

On the shared `live_console`; the tests that change a password or remove a user do it to
a user of their own, never to the four users the other tests log in as.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing

import httpx
import pytest

from collector.store.model import Role, User
from collector.web.auth import check_password, hash_password
from tests.collector.web.conftest import PASSWORD, USERS, LiveConsole

WRONG = "Wrong user name or password."


def form_token(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def rows(live: LiveConsole, query: str, *args: object) -> list[tuple[object, ...]]:
    """Read the store's tables as they are on disk, read-only."""
    with closing(sqlite3.connect(f"file:{live.db}?mode=ro", uri=True)) as db:
        return db.execute(query, args).fetchall()


@pytest.fixture
def anon(live_console: LiveConsole) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_console.url, timeout=30) as client:
        yield client


def log_in(client: httpx.Client, name: str, password: str, nxt: str = "/") -> httpx.Response:
    token = form_token(client.get("/login"))
    return client.post("/login", data={"username": name, "password": password,
                                       "csrf": token, "next": nxt})  # fmt: skip


def add_user(live: LiveConsole, role: str = "L1", password: str = PASSWORD) -> str:
    name = f"u-{uuid.uuid4().hex[:8]}"
    done = live.cli("users", "add", name, "--role", role, "--password-stdin",
                    stdin=password + "\n")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"user {name} added with role {role}"
    return name


def is_logged_in(live: LiveConsole, cookie: str) -> bool:
    with httpx.Client(base_url=live.url, timeout=30, cookies={"rdiag_session": cookie}) as c:
        r = c.get("/", follow_redirects=False)
    if r.status_code == 303:
        assert r.headers["location"] == "/login?next=%2F"
        return False
    assert r.status_code == 200, r.status_code
    return True


# -- passwords ---------------------------------------------------------------------------


def test_passwords_are_argon2id_hashes_that_verify() -> None:
    hashed = hash_password("a long enough password")
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    user = User(1, "someone", Role.L1, 0)
    assert check_password((user, hashed), "a long enough password") == user
    assert check_password((user, hashed), "a long enough passworD") is None
    assert check_password(None, "a long enough password") is None  # unknown user
    assert check_password((user, "not a hash"), "a long enough password") is None
    assert hash_password("a long enough password") != hashed  # salted
    with pytest.raises(ValueError, match="at least 8 characters"):
        hash_password("short")


def test_the_store_keeps_only_the_argon2_hash(live_console: LiveConsole) -> None:
    [(stored,)] = rows(live_console, "SELECT password_hash FROM users WHERE name = ?",
                       USERS["viewer"])  # fmt: skip
    assert isinstance(stored, str) and stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    user = User(1, USERS["viewer"], Role.VIEWER, 0)
    assert check_password((user, stored), PASSWORD) == user


# -- the login form ------------------------------------------------------------------------


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(anon: httpx.Client) -> None:
    for name, password in ((USERS["viewer"], "not the password"), ("nobody-at-all", PASSWORD)):
        r = log_in(anon, name, password)
        assert r.status_code == 401, (name, r.status_code)
        assert f'<p class="error" role="alert" id="login-error">{WRONG}</p>' in r.text
        assert "rdiag_session" not in anon.cookies
        assert form_token(r)  # a fresh form to try again
    assert "Traceback" not in r.text


def test_the_login_form_needs_its_csrf_cookie_and_field(
    anon: httpx.Client, live_console: LiveConsole
) -> None:
    token = form_token(anon.get("/login"))
    good = {"username": USERS["viewer"], "password": PASSWORD, "next": "/"}
    for field in ({}, {"csrf": "x" + token}, {"csrf": ""}):
        r = anon.post("/login", data={**good, **field})
        assert r.status_code == 403, field
        assert "the login form expired: reload the page and try again" in r.text
    # The right field without the cookie it must match (a form posted from elsewhere).
    with httpx.Client(base_url=live_console.url, timeout=30) as other:
        r = other.post("/login", data={**good, "csrf": token})
    assert r.status_code == 403
    assert "rdiag_session" not in anon.cookies
    r = anon.post("/login", data={**good, "csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and "rdiag_session" in anon.cookies


OFF_SITE = [
    "//evil.example",
    "//evil.example/login",
    "https://evil.example/",
    "evil.example",
    "/\\evil.example",
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_login_never_redirects_off_the_console(anon: httpx.Client, target: str) -> None:
    r = anon.get("/login", params={"next": target})
    hidden = re.search(r'name="next" value="([^"]*)"', r.text)
    assert hidden is not None
    if not target.startswith("/") or target.startswith("//"):
        assert hidden.group(1) == "/"
    r = log_in_without_following(anon, target)
    assert r.status_code == 303
    location = r.headers["location"]
    # Where a browser would go: a path on this console (a backslash reads as a slash).
    assert location.startswith("/") and not location.replace("\\", "/").startswith("//")
    assert "evil.example" not in httpx.URL(location).host
    if not target.startswith("/") or target.startswith("//"):
        assert location == "/"


def log_in_without_following(client: httpx.Client, nxt: str) -> httpx.Response:
    token = form_token(client.get("/login"))
    form = {"username": USERS["viewer"], "password": PASSWORD, "csrf": token, "next": nxt}
    return client.post("/login", data=form, follow_redirects=False)


def test_login_goes_back_to_the_page_asked_for(anon: httpx.Client) -> None:
    r = anon.get("/tickets?state=open&q=disk", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Ftickets%3Fstate%3Dopen%26q%3Ddisk"
    page = anon.get(r.headers["location"])
    assert 'name="next" value="/tickets?state=open&amp;q=disk"' in page.text
    r = log_in_without_following(anon, "/tickets?state=open&q=disk")
    assert r.headers["location"] == "/tickets?state=open&q=disk"


def test_cookies_are_httponly_and_samesite_strict(anon: httpx.Client) -> None:
    form = anon.get("/login")
    [login_cookie] = form.headers.get_list("set-cookie")
    assert login_cookie.startswith("rdiag_login=")
    token = form_token(form)
    r = anon.post("/login", data={"username": USERS["viewer"], "password": PASSWORD,
                                  "csrf": token, "next": "/"}, follow_redirects=False)  # fmt: skip
    [session] = [c for c in r.headers.get_list("set-cookie") if c.startswith("rdiag_session=")]
    for cookie in (login_cookie, session):
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert "httponly" in flags and "samesite=strict" in flags, cookie
        assert "path=/" in flags
    assert "max-age=43200" in session.lower()  # a working day, then log in again


# -- sessions end -------------------------------------------------------------------------------


def test_logout_ends_the_session(live_console: LiveConsole) -> None:
    client, csrf = live_console.login("viewer")
    with closing(client):
        cookie = client.cookies["rdiag_session"]
        digest = hashlib.sha256(cookie.encode()).hexdigest()
        assert rows(live_console, "SELECT 1 FROM sessions WHERE token_sha256 = ?", digest)
        r = client.post("/logout", data={}, follow_redirects=False)  # without the CSRF token
        assert r.status_code == 403 and is_logged_in(live_console, cookie)
        r = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, "/login")
    assert not rows(live_console, "SELECT 1 FROM sessions WHERE token_sha256 = ?", digest)
    assert not is_logged_in(live_console, cookie)
    with httpx.Client(base_url=live_console.url, timeout=30,
                      cookies={"rdiag_session": cookie}) as old:  # fmt: skip
        r = old.get("/api/v1/tickets")
    assert r.status_code == 401


def test_users_passwd_ends_the_users_sessions(live_console: LiveConsole) -> None:
    name = add_user(live_console)
    try:
        with httpx.Client(base_url=live_console.url, timeout=30) as c:
            assert log_in(c, name, PASSWORD).status_code == 303
            cookie = c.cookies["rdiag_session"]
        assert is_logged_in(live_console, cookie)
        other, _ = live_console.login("L1")  # another user's session is not touched
        with closing(other):
            done = live_console.cli("users", "passwd", name, "--password-stdin",
                                    stdin="a brand new password\n")  # fmt: skip
            assert done.returncode == 0, done.stderr
            assert "sessions ended" in done.stdout
            assert not is_logged_in(live_console, cookie)
            assert other.get("/", follow_redirects=False).status_code == 200
        with httpx.Client(base_url=live_console.url, timeout=30) as c:
            assert log_in(c, name, PASSWORD).status_code == 401
            assert log_in(c, name, "a brand new password").status_code == 303
    finally:
        live_console.cli("users", "remove", name)


def test_users_remove_ends_the_users_sessions(live_console: LiveConsole) -> None:
    name = add_user(live_console, role="admin")
    with httpx.Client(base_url=live_console.url, timeout=30) as c:
        assert log_in(c, name, PASSWORD).status_code == 303
        cookie = c.cookies["rdiag_session"]
    done = live_console.cli("users", "remove", name)
    assert done.returncode == 0 and done.stdout.strip() == f"user {name} removed"
    assert not is_logged_in(live_console, cookie)
    assert name not in [u["name"] for u in json.loads(
        live_console.cli("users", "list", "--json").stdout)]  # fmt: skip


# -- the commands ---------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "stdin", "code", "message"), [
    (("users", "add", USERS["viewer"], "--role", "L2"), PASSWORD, 1,
     f"error: user '{USERS['viewer']}' already exists"),
    (("users", "add", "newbie", "--role", "boss"), PASSWORD, 2,
     "argument --role: invalid choice: 'boss'"),
    (("users", "add", "newbie", "--role", "L1"), "short", 2,
     "a password needs at least 8 characters"),
    (("users", "add", " newbie", "--role", "L1"), PASSWORD, 1,
     "error: bad user name ' newbie': 1 to 64 printable characters"),
    (("users", "add", "newbie", "--role", "L1"), None, 2,
     "no terminal to ask for the password: use --password-stdin"),
    (("users", "remove", "nobody-at-all"), None, 1, "no user 'nobody-at-all'"),
    (("users", "passwd", "nobody-at-all", "--password-stdin"), PASSWORD, 1,
     "error: no user 'nobody-at-all'"),
    (("tokens", "remove", "no-such-token"), None, 1, "no token 'no-such-token'"),
    (("tokens", "add", "t", "--role", "root"), None, 2, "argument --role: invalid choice"),
])  # fmt: skip
def test_commands_refuse_with_a_clear_message(
    live_console: LiveConsole, args: tuple[str, ...], stdin: str | None, code: int, message: str
) -> None:
    before = live_console.cli("users", "list", "--json").stdout
    done = live_console.cli(*args, *(["--password-stdin"] if stdin and args[1] == "add" else []),
                            stdin="" if stdin is None else stdin + "\n")  # fmt: skip
    assert done.returncode == code, (done.stdout, done.stderr)
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "UNIQUE" not in done.stderr
    assert live_console.cli("users", "list", "--json").stdout == before


def test_a_duplicate_token_name_is_refused_clearly(live_console: LiveConsole) -> None:
    name = f"dup-{uuid.uuid4().hex[:6]}"
    assert live_console.cli("tokens", "add", name, "--role", "viewer").returncode == 0
    try:
        done = live_console.cli("tokens", "add", name, "--role", "admin")
        assert done.returncode == 1 and done.stdout == ""  # no secret for a token not made
        assert f"error: token '{name}' already exists" in done.stderr
        assert "Traceback" not in done.stderr
    finally:
        live_console.cli("tokens", "remove", name)


def test_users_list_as_json(live_console: LiveConsole) -> None:
    client, _ = live_console.login("viewer")  # a login to show
    client.close()
    done = live_console.cli("users", "list", "--json")
    assert done.returncode == 0, done.stderr
    listed = {u["name"]: u for u in json.loads(done.stdout)}
    assert {name: listed[name]["role"] for name in USERS.values()} == {
        name: role for role, name in USERS.items()}  # fmt: skip
    assert all(set(u) == {"name", "role", "created", "last_login"} for u in listed.values())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", listed[USERS["viewer"]]["last_login"])
    text = live_console.cli("users", "list").stdout
    assert re.search(rf"^{USERS['L2']}\s+L2\s", text, re.M), text
    assert "argon2" not in done.stdout + text


def test_tokens_list_never_shows_the_secret(live_console: LiveConsole) -> None:
    name = f"scan-{uuid.uuid4().hex[:6]}"
    done = live_console.cli("tokens", "add", name, "--role", "L1", "--by", "ada")
    assert done.returncode == 0, done.stderr
    secret = done.stdout.strip()
    assert secret.startswith("rdg_") and "shown only now" in done.stderr
    try:
        text = live_console.cli("tokens", "list").stdout
        as_json = live_console.cli("tokens", "list", "--json").stdout
        assert name in text and name in as_json
        [mine] = [t for t in json.loads(as_json) if t["name"] == name]
        assert mine == {"name": name, "role": "L1", "created_by": "ada",
                        "created": mine["created"], "last_used": ""}  # fmt: skip
        sha = hashlib.sha256(secret.encode()).hexdigest()
        for shown in (text, as_json):
            assert secret not in shown and secret[4:20] not in shown and sha not in shown
    finally:
        live_console.cli("tokens", "remove", name)


# -- what the store keeps -------------------------------------------------------------------


def test_the_store_keeps_only_sha256_of_session_cookies_and_tokens(
    live_console: LiveConsole,
) -> None:
    client, csrf = live_console.login("L2")
    with closing(client):
        cookie = client.cookies["rdiag_session"]
    name = f"hash-{uuid.uuid4().hex[:6]}"
    secret = live_console.cli("tokens", "add", name, "--role", "viewer").stdout.strip()
    try:
        sessions = rows(live_console, "SELECT * FROM sessions")
        [(token_row,)] = rows(live_console, "SELECT token_sha256 FROM api_tokens WHERE name = ?",
                              name)  # fmt: skip
        assert token_row == hashlib.sha256(secret.encode()).hexdigest()
        mine = [s for s in sessions if hashlib.sha256(cookie.encode()).hexdigest() in s]
        assert len(mine) == 1 and csrf in mine[0]  # the CSRF token is no secret of the cookie
        # Neither secret appears in any column of any row of either table.
        everything = json.dumps([*sessions, *rows(live_console, "SELECT * FROM api_tokens")],
                                default=str)  # fmt: skip
        assert cookie not in everything and secret not in everything
        assert secret[4:] not in everything
    finally:
        live_console.cli("tokens", "remove", name)
