"""The console's users, sessions and API tokens, as the store keeps them.

Secrets never reach the store: callers (collector/web/auth.py) hand in an argon2 hash
for a password and a SHA-256 for a session cookie or an API token. Times here are the
wall clock's, even when the store's clock follows a simulated fleet: a login lasts a
working day of the person's, not of the fleet's.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from collector.store.clock import wall_clock_ms
from collector.store.model import ApiToken, Role, User
from collector.store.schema import api_tokens, sessions, users

# A token's last use is written at most this often: a busy integration must not turn
# every read into a write.
LAST_USED_EVERY_MS = 60_000


class AccountError(Exception):
    """A user or token that cannot be added or found; the message says which and why."""


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise AccountError(
            f"unknown role {value!r}; expected one of: {', '.join(r.value for r in Role)}"
        ) from None


class AccountsMixin:
    _write_lock: AbstractContextManager[Any]
    _read_lock: AbstractContextManager[Any]

    def _transaction(self, lock: AbstractContextManager[Any]) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    # -- users ----------------------------------------------------------------------

    def add_user(self, name: str, role: str, password_hash: str) -> User:
        if not name or len(name) > 64 or not name.isprintable() or name.strip() != name:
            raise AccountError(f"bad user name {name!r}: 1 to 64 printable characters")
        r = _role(role)
        now = wall_clock_ms()
        # Checked inside the transaction: the transaction turns a unique-constraint error
        # into a StoreError, so one caught here could never say "already exists".
        with self._transaction(self._write_lock) as conn:
            if conn.execute(select(users.c.id).where(users.c.name == name)).first():
                raise AccountError(f"user {name!r} already exists")
            uid = conn.execute(
                insert(users).values(
                    name=name, role=r.value, password_hash=password_hash, created_ms=now
                )  # fmt: skip
            ).inserted_primary_key
        assert uid is not None
        return User(int(uid[0]), name, r, now)

    def set_password(self, name: str, password_hash: str) -> None:
        with self._transaction(self._write_lock) as conn:
            uid = conn.execute(select(users.c.id).where(users.c.name == name)).scalar()
            if uid is None:
                raise AccountError(f"no user {name!r}")
            conn.execute(update(users).where(users.c.id == uid).values(password_hash=password_hash))
            # A new password ends every session of the old one.
            conn.execute(delete(sessions).where(sessions.c.user_id == uid))

    def list_users(self) -> list[User]:
        with self._transaction(self._read_lock) as conn:
            rows = conn.execute(select(users).order_by(users.c.name)).mappings().all()
        return [_user(row) for row in rows]

    def remove_user(self, name: str) -> bool:
        with self._transaction(self._write_lock) as conn:
            uid = conn.execute(select(users.c.id).where(users.c.name == name)).scalar()
            if uid is None:
                return False
            conn.execute(delete(sessions).where(sessions.c.user_id == uid))
            conn.execute(delete(users).where(users.c.id == uid))
        return True

    def user_password(self, name: str) -> tuple[User, str] | None:
        """The user and their password hash, for a login."""
        with self._transaction(self._read_lock) as conn:
            row = conn.execute(select(users).where(users.c.name == name)).mappings().one_or_none()
        return None if row is None else (_user(row), row["password_hash"])

    # -- sessions --------------------------------------------------------------------

    def open_session(self, user: User, token_sha256: str, csrf: str, ttl_ms: int) -> None:
        now = wall_clock_ms()
        with self._transaction(self._write_lock) as conn:
            conn.execute(delete(sessions).where(sessions.c.expires_ms < now))
            conn.execute(
                insert(sessions).values(
                    token_sha256=token_sha256,
                    user_id=user.id,
                    csrf=csrf,
                    created_ms=now,
                    expires_ms=now + ttl_ms,
                )  # fmt: skip
            )
            conn.execute(update(users).where(users.c.id == user.id).values(last_login_ms=now))

    def session_user(self, token_sha256: str) -> tuple[User, str] | None:
        """The session's user and CSRF token, while the session lasts."""
        query = (
            select(users, sessions.c.csrf, sessions.c.expires_ms)
            .select_from(sessions.join(users, users.c.id == sessions.c.user_id))
            .where(sessions.c.token_sha256 == token_sha256)
        )
        with self._transaction(self._read_lock) as conn:
            row = conn.execute(query).mappings().one_or_none()
        if row is None or row["expires_ms"] < wall_clock_ms():
            return None
        return _user(row), row["csrf"]

    def close_session(self, token_sha256: str) -> None:
        with self._transaction(self._write_lock) as conn:
            conn.execute(delete(sessions).where(sessions.c.token_sha256 == token_sha256))

    # -- API tokens -------------------------------------------------------------------

    def add_token(self, name: str, role: str, token_sha256: str, created_by: str) -> ApiToken:
        if not name or len(name) > 64 or not name.isprintable():
            raise AccountError(f"bad token name {name!r}: 1 to 64 printable characters")
        r = _role(role)
        now = wall_clock_ms()
        with self._transaction(self._write_lock) as conn:
            if conn.execute(select(api_tokens.c.id).where(api_tokens.c.name == name)).first():
                raise AccountError(f"token {name!r} already exists")
            tid = conn.execute(
                insert(api_tokens).values(
                    name=name,
                    role=r.value,
                    token_sha256=token_sha256,
                    created_by=created_by,
                    created_ms=now,
                )  # fmt: skip
            ).inserted_primary_key
        assert tid is not None
        return ApiToken(int(tid[0]), name, r, created_by, now)

    def list_tokens(self) -> list[ApiToken]:
        with self._transaction(self._read_lock) as conn:
            rows = conn.execute(select(api_tokens).order_by(api_tokens.c.name)).mappings().all()
        return [_token(row) for row in rows]

    def remove_token(self, name: str) -> bool:
        with self._transaction(self._write_lock) as conn:
            return bool(conn.execute(delete(api_tokens).where(api_tokens.c.name == name)).rowcount)

    def token_by_hash(self, token_sha256: str) -> ApiToken | None:
        query = select(api_tokens).where(api_tokens.c.token_sha256 == token_sha256)
        with self._transaction(self._read_lock) as conn:
            row = conn.execute(query).mappings().one_or_none()
        if row is None:
            return None
        now = wall_clock_ms()
        if now - row["last_used_ms"] >= LAST_USED_EVERY_MS:
            with self._transaction(self._write_lock) as conn:
                conn.execute(
                    update(api_tokens).where(api_tokens.c.id == row["id"]).values(last_used_ms=now)
                )
        return _token(row)


def _user(row: Any) -> User:
    return User(row["id"], row["name"], Role(row["role"]), row["created_ms"], row["last_login_ms"])


def _token(row: Any) -> ApiToken:
    return ApiToken(row["id"], row["name"], Role(row["role"]), row["created_by"],
                    row["created_ms"], row["last_used_ms"])  # fmt: skip
