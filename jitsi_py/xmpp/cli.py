"""The prosodyctl equivalent for accounts: register, unregister, list-users.

Silent on success (list-users prints one user per line), a one-line reason and a non-zero exit
on failure, so scripts (docker's entrypoints) can call it like prosodyctl.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from ..settings import SettingsError, load
from .accounts import AccountError, AccountStore, store_path

COMMANDS = ("register", "unregister", "list-users")


def main(prog: str, argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Manage XMPP accounts (like prosodyctl).")
    parser.add_argument("--env-file", type=Path, default=None)
    sub = parser.add_subparsers(dest="command", required=True)
    register = sub.add_parser("register", help="create an account or change its password")
    register.add_argument("user")
    register.add_argument("domain")
    register.add_argument("password")
    unregister = sub.add_parser("unregister", help="delete an account")
    unregister.add_argument("user")
    unregister.add_argument("domain")
    list_users = sub.add_parser("list-users", help="the accounts of a domain, one per line")
    list_users.add_argument("domain")
    args = parser.parse_args(argv)
    try:
        settings = load(args.env_file)
    except SettingsError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    try:
        store = AccountStore(store_path(settings))
    except OSError as exc:
        print(f"{prog}: cannot open the account store: {exc}", file=sys.stderr)
        return 1
    try:
        if args.command == "register":
            store.set_password(args.user, args.domain, args.password)
        elif args.command == "unregister":
            store.remove(args.user, args.domain)
        else:
            for user in store.users(args.domain):
                print(user)
    except AccountError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0
