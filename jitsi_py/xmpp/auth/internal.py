"""Password accounts from the SQLite store (Prosody's internal_hashed): SCRAM and PLAIN."""

from __future__ import annotations

from ...settings import Settings
from ..accounts import AccountStore, store_path
from ..sasl import password_matches
from .base import Attempt, AuthFailure, Identity, ScramCredentials

_stores: dict[str, AccountStore] = {}


def shared_store(settings: Settings) -> AccountStore:
    """One connection per database file, shared by the domains and the service-account setup."""
    path = store_path(settings)
    store = _stores.get(str(path))
    if store is None:
        store = _stores[str(path)] = AccountStore(path)
    return store


class InternalBackend:
    name = "internal"
    mechanisms = ("SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN")

    def __init__(self, settings: Settings, domain: str) -> None:
        self.domain = domain
        self.store = shared_store(settings)

    async def anonymous(self, attempt: Attempt) -> Identity:
        raise AuthFailure("invalid-mechanism", f"{self.domain} needs a username and password")

    async def plain(self, attempt: Attempt, username: str, password: str) -> Identity:
        creds = self.store.credentials(username, self.domain, "sha256")
        if creds is None or not password_matches(password, "sha256", creds):
            raise AuthFailure("not-authorized", "unknown user or wrong password")
        return Identity(username.lower())

    async def scram_credentials(self, attempt: Attempt, username: str, hash_name: str) -> ScramCredentials | None:
        return self.store.credentials(username, self.domain, hash_name)
