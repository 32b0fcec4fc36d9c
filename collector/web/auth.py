"""Who may do what in the console: argon2 passwords, sessions, API tokens, roles.

A browser logs in with a name and password and gets a session cookie (HttpOnly,
SameSite=Strict, Secure behind TLS) whose SHA-256 the store keeps; each session has a
CSRF token that every state-changing form and fetch must echo. An integration sends
`Authorization: Bearer <token>` instead: no cookie, so no CSRF to forge, and the token
carries its own role.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from collector.store.model import Role, User

SESSION_COOKIE = "rdiag_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
TOKEN_PREFIX = "rdg_"

# argon2id with the library's defaults (RFC 9106's second recommended option, 64 MiB):
# a login costs ~50 ms here, a stolen hash costs an attacker the same per guess.
_HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    # Checked against when the user does not exist, so a login takes as long either way
    # and its time does not tell which names are real.
    return _HASHER.hash(secrets.token_hex(16))


MIN_PASSWORD = 8


class Permission:
    """What each action needs; a role has every permission of the roles below it."""

    READ = Role.VIEWER
    ACKNOWLEDGE = Role.L1  # acknowledge, comment, assign a ticket to oneself
    WORK = Role.L2  # assign to anyone, resolve, reopen, silence, redeliver, release storms
    ADMIN = Role.ADMIN  # users, API tokens


_RANK = {Role.VIEWER: 0, Role.L1: 1, Role.L2: 2, Role.ADMIN: 3}


def allows(role: Role, needed: Role) -> bool:
    return _RANK[role] >= _RANK[needed]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a logged-in user (with the session's CSRF token) or an API token."""

    name: str
    role: Role
    csrf: str = ""  # empty for a bearer token: nothing to forge without a cookie
    via_token: bool = False
    session_sha256: str = ""

    def may(self, needed: Role) -> bool:
        return allows(self.role, needed)


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    return _HASHER.hash(password)


def check_password(user_and_hash: tuple[User, str] | None, password: str) -> User | None:
    """The user if the password matches, else None; as slow for an unknown user."""
    stored = user_and_hash[1] if user_and_hash else _dummy_hash()
    try:
        _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    return user_and_hash[0] if user_and_hash else None


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_api_token() -> str:
    # A recognisable prefix lets secret scanners find a token pasted where it should not be.
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return bool(a) and hmac.compare_digest(a.encode(), b.encode())
