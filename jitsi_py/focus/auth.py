"""Who may start a conference when ENABLE_AUTH is on (focus.md §1.4): jicofo's XMPP-domain
authority, sans-I/O.

A request from a JID of the login domain (``XMPP_DOMAIN``; users who logged in with a password
or a token) authenticates its user: it needs a ``machine-uid`` and gets a session id that later
requests (e.g. from the guest connection, same machine) present instead. Anyone else may join a
room that exists, but not create one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from ..common.stanzas.jitsi import ConferenceIq


@dataclass
class AuthSession:
    id: str
    machine_uid: str
    identity: str  # the authenticated bare JID
    expires: float


class Refused(Exception):
    """The request is refused; ``condition``/``kind`` make the XMPP error, ``text`` its text
    (``session-invalid`` stands for the focus namespace's application condition)."""

    def __init__(self, condition: str, kind: str, text: str) -> None:
        super().__init__(text)
        self.condition, self.kind, self.text = condition, kind, text


class Authority:
    def __init__(self, login_domain: str, lifetime: float) -> None:
        self.login_domain = login_domain
        self.lifetime = lifetime
        self.sessions: dict[str, AuthSession] = {}

    def check(self, request: ConferenceIq, requester: str, *, room_exists: bool, now: float) -> AuthSession | None:
        """The requester's session, whose id and identity go into the answer (None: a guest
        joining an existing room); or :class:`Refused`."""
        for key in [k for k, s in self.sessions.items() if s.expires < now]:
            del self.sessions[key]
        if request.session_id:
            session = self.sessions.get(request.session_id)
            if session is None:
                raise Refused("not-acceptable", "cancel", "session-invalid")
            if session.machine_uid != request.machine_uid:
                raise Refused("not-acceptable", "cancel", "machine UID mismatch or empty")
            return session
        domain = requester.partition("@")[2].partition("/")[0]
        if domain == self.login_domain:
            if not request.machine_uid:
                raise Refused("not-acceptable", "cancel", "Missing mandatory attribute 'machine-uid'")
            session_id = str(uuid.uuid4())
            session = self.sessions[session_id] = AuthSession(session_id, request.machine_uid,
                                                              requester.partition("/")[0], now + self.lifetime)
            return session
        if not room_exists:
            raise Refused("not-authorized", "auth", "not authorized user domain")
        return None
