"""Accounts on the password domains, in SQLite under CONFIG, as SCRAM credentials only.

Each account keeps one row per hash (SHA-1 and SHA-256), so both SCRAM mechanisms work and PLAIN
is checked against the SHA-256 row. The password itself is never stored.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..common import jid
from ..settings import Settings
from .auth.base import ScramCredentials
from .sasl import scram_credentials

HASHES = ("sha1", "sha256")
SCHEMA = """
CREATE TABLE IF NOT EXISTS scram (
    domain TEXT NOT NULL,
    username TEXT NOT NULL,
    hash TEXT NOT NULL,
    salt BLOB NOT NULL,
    iterations INTEGER NOT NULL,
    stored_key BLOB NOT NULL,
    server_key BLOB NOT NULL,
    PRIMARY KEY (domain, username, hash)
)
"""


class AccountError(ValueError):
    """A register/unregister that cannot be done; the message is the reason to show."""


def store_path(settings: Settings) -> Path:
    return settings.common.config_dir / "xmpp" / "accounts.sqlite3"


def _node(username: str) -> str:
    try:
        parsed = jid.parse(f"{username}@x")
    except jid.JidError as exc:
        raise AccountError(f"invalid username {username!r}: {exc}") from None
    if parsed.node is None or parsed.resource is not None:
        raise AccountError(f"invalid username {username!r}")
    return parsed.node


class AccountStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(SCHEMA)
        path.chmod(0o600)

    def close(self) -> None:
        self._db.close()

    def set_password(self, username: str, domain: str, password: str) -> None:
        if not password:
            raise AccountError("empty password")
        node, domain = _node(username), domain.lower()
        rows = []
        for hash_name in HASHES:
            c = scram_credentials(password, hash_name)
            rows.append((domain, node, hash_name, c.salt, c.iterations, c.stored_key, c.server_key))
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO scram VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


    def remove(self, username: str, domain: str) -> None:
        cur = self._db.execute("DELETE FROM scram WHERE domain = ? AND username = ?",
                               (domain.lower(), _node(username)))
        if cur.rowcount == 0:
            raise AccountError(f"no user {username}@{domain}")

    def users(self, domain: str) -> list[str]:
        rows = self._db.execute("SELECT DISTINCT username FROM scram WHERE domain = ? ORDER BY username",
                                (domain.lower(),))
        return [r[0] for r in rows]

    def credentials(self, username: str, domain: str, hash_name: str) -> ScramCredentials | None:
        try:
            node = _node(username)
        except AccountError:
            return None
        row = self._db.execute(
            "SELECT salt, iterations, stored_key, server_key FROM scram WHERE domain = ? AND username = ? AND hash = ?",
            (domain.lower(), node, hash_name),
        ).fetchone()
        return None if row is None else ScramCredentials(bytes(row[0]), row[1], bytes(row[2]), bytes(row[3]))
