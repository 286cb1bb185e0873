"""SASL ANONYMOUS: every login gets a fresh UUID node (the Jitsi client derives its nick from it)."""

from __future__ import annotations

from ...settings import Settings
from .base import Attempt, AuthFailure, Identity, ScramCredentials


class AnonymousBackend:
    name = "anonymous"
    mechanisms = ("ANONYMOUS",)

    def __init__(self, settings: Settings, domain: str) -> None:
        self.domain = domain

    async def anonymous(self, attempt: Attempt) -> Identity:
        # None: the session layer picks the node (a UUID, or the hibernating session's for previd=).
        return Identity(None, anonymous=True)

    async def plain(self, attempt: Attempt, username: str, password: str) -> Identity:
        raise AuthFailure("invalid-mechanism", f"{self.domain} only allows anonymous logins")

    async def scram_credentials(self, attempt: Attempt, username: str, hash_name: str) -> ScramCredentials | None:
        raise AuthFailure("invalid-mechanism", f"{self.domain} only allows anonymous logins")
