"""`rdiag-collector users add|list|remove|passwd` and `tokens add|list|remove`.

A password is asked for twice at a terminal, or read from stdin with --password-stdin
(scripts, provisioning); it is never an argument, which would leave it in shell history
and in every `ps` listing. An API token is printed once, at creation; only its SHA-256 is
kept.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from collector.store import SqlStore
from collector.store.accounts import AccountError
from collector.store.model import Role
from collector.web.auth import MIN_PASSWORD, digest, hash_password, new_api_token
from collector.web.views import when

ROLES = [r.value for r in Role]


def add_parsers(sub: Any) -> None:
    users = sub.add_parser("users", help="console users: add, list, remove, passwd")
    usub = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    ua = usub.add_parser("add", help="add a user (asks for the password)")
    ua.add_argument("name")
    ua.add_argument("--role", choices=ROLES, required=True,
                    help="viewer: read; L1: acknowledge, comment, take; L2: resolve, assign, "
                         "silence; admin: users and tokens too")  # fmt: skip
    ua.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    ul = usub.add_parser("list", help="users and their roles")
    ul.add_argument("--json", action="store_true")
    ur = usub.add_parser("remove", help="remove a user (ends their sessions)")
    ur.add_argument("name")
    up = usub.add_parser("passwd", help="set a user's password (ends their sessions)")
    up.add_argument("name")
    up.add_argument("--password-stdin", action="store_true")

    tokens = sub.add_parser("tokens", help="API tokens for integrations: add, list, remove")
    tsub = tokens.add_subparsers(dest="action", required=True, metavar="ACTION")
    ta = tsub.add_parser("add", help="create a token (printed once)")
    ta.add_argument("name")
    ta.add_argument("--role", choices=ROLES, required=True)
    ta.add_argument("--by", default=getpass.getuser(), help="who creates it (default: you)")
    tl = tsub.add_parser("list", help="tokens, never their secrets")
    tl.add_argument("--json", action="store_true")
    tr = tsub.add_parser("remove", help="revoke a token")
    tr.add_argument("name")


def _password(from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        print("no terminal to ask for the password: use --password-stdin", file=sys.stderr)
        return None
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        print("the two passwords differ", file=sys.stderr)
        return None
    return first


def run_users(args: argparse.Namespace, store: SqlStore) -> int:
    try:
        match args.action:
            case "add" | "passwd":
                password = _password(args.password_stdin)
                if password is None:
                    return 2
                if len(password) < MIN_PASSWORD:
                    print(f"a password needs at least {MIN_PASSWORD} characters", file=sys.stderr)
                    return 2
                if args.action == "add":
                    user = store.add_user(args.name, args.role, hash_password(password))
                    print(f"user {user.name} added with role {user.role.value}")
                else:
                    store.set_password(args.name, hash_password(password))
                    print(f"password of {args.name} changed; their sessions ended")
            case "list":
                users = store.list_users()
                if args.json:
                    print(json.dumps([{"name": u.name, "role": u.role.value,
                                       "created": when(u.created_ms),
                                       "last_login": when(u.last_login_ms)}
                                      for u in users], indent=2))  # fmt: skip
                else:
                    print(f"{'name':20} {'role':7} {'last login':20}")
                    for u in users:
                        print(f"{u.name:20} {u.role.value:7} {when(u.last_login_ms) or 'never':20}")
            case "remove":
                if not store.remove_user(args.name):
                    print(f"no user {args.name!r}", file=sys.stderr)
                    return 1
                print(f"user {args.name} removed")
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def run_tokens(args: argparse.Namespace, store: SqlStore) -> int:
    try:
        match args.action:
            case "add":
                secret = new_api_token()
                token = store.add_token(args.name, args.role, digest(secret), args.by)
                print(f"token {token.name} ({token.role.value}); shown only now:", file=sys.stderr)
                print(secret)
            case "list":
                tokens = store.list_tokens()
                if args.json:
                    print(json.dumps([{"name": t.name, "role": t.role.value,
                                       "created_by": t.created_by,
                                       "created": when(t.created_ms),
                                       "last_used": when(t.last_used_ms)}
                                      for t in tokens], indent=2))  # fmt: skip
                else:
                    print(f"{'name':20} {'role':7} {'created by':12} {'last used':20}")
                    for t in tokens:
                        print(f"{t.name:20} {t.role.value:7} {t.created_by:12} "
                              f"{when(t.last_used_ms) or 'never':20}")  # fmt: skip
            case "remove":
                if not store.remove_token(args.name):
                    print(f"no token {args.name!r}", file=sys.stderr)
                    return 1
                print(f"token {args.name} revoked")
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
