"""Who may start a conference when ENABLE_AUTH is on (docs/focus.md §1.4): jicofo's XMPP-domain
authority, sans-I/O.

A request from a JID of the login domain (``XMPP_DOMAIN``; users who logged in with a password
or a token) authenticates its user: it needs a ``machine-uid`` and gets a session id. A later
request presenting that id with the same ``machine-uid`` (from the guest connection of the same
browser: a guest logging in during a meeting, or a returning user) authenticates its sender too.
Anyone else may join a room that exists, but not create one. The JID a session last
authenticated is the one the conference makes an owner.

A session lives ``JICOFO_AUTH_LIFETIME`` after its last use; with ``ENABLE_AUTO_LOGIN=0`` it also
ends with the conference it was created for, so a returning user logs in again. A logout ends it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from ..common.errors import StanzaError
from ..common.stanzas.jitsi import ConferenceIq, session_invalid


@dataclass
class AuthSession:
    id: str
    machine_uid: str
    identity: str  # the authenticated bare JID
    room: str  # the conference it was created for
    jid: str  # the full JID it authenticated last
    used: float  # when it last authenticated someone


def invalid_session() -> StanzaError:
    """An unknown or expired ``session-id``: ``not-acceptable`` with the focus's application condition."""
    return StanzaError("cancel", "not-acceptable", "invalid session", [session_invalid()])


class Authority:
    def __init__(self, login_domain: str, lifetime: float, *, auto_login: bool = True) -> None:
        self.login_domain = login_domain
        self.lifetime = lifetime
        self.auto_login = auto_login
        self.sessions: dict[str, AuthSession] = {}

    def check(self, request: ConferenceIq, requester: str, *, room_exists: bool, now: float) -> AuthSession | None:
        """The session that authenticated the requester, whose id and identity go into the
        answer (None: a guest joining an existing room); or raises the refusal's :class:`StanzaError`."""
        self._expire(now)
        if request.session_id:
            session = self.sessions.get(request.session_id)
            if session is None:
                raise invalid_session()
            if session.machine_uid != request.machine_uid:
                raise StanzaError("cancel", "not-acceptable", "machine UID mismatch or empty")
        elif requester.partition("@")[2].partition("/")[0] == self.login_domain:
            if not request.machine_uid:
                raise StanzaError("cancel", "not-acceptable", "Missing mandatory attribute 'machine-uid'")
            session_id = str(uuid.uuid4())
            session = self.sessions[session_id] = AuthSession(
                session_id, request.machine_uid, requester.partition("/")[0], request.room.lower(), requester, now)
        elif not room_exists:
            raise StanzaError("auth", "not-authorized", "not authorized user domain")
        else:
            return None
        session.jid, session.used = requester, now
        return session

    def session_for(self, jid: str | None, now: float) -> AuthSession | None:
        """The session that last authenticated this full JID."""
        self._expire(now)
        return next((s for s in self.sessions.values() if s.jid == jid), None) if jid else None

    def logout(self, session_id: str | None, now: float) -> None:
        """Ends the session; an unknown one is refused with :func:`invalid_session`."""
        self._expire(now)
        if self.sessions.pop(session_id or "", None) is None:
            raise invalid_session()

    def conference_ended(self, room: str) -> None:
        if not self.auto_login:
            for key in [k for k, s in self.sessions.items() if s.room == room]:
                del self.sessions[key]

    def _expire(self, now: float) -> None:
        for key in [k for k, s in self.sessions.items() if now - s.used > self.lifetime]:
            del self.sessions[key]
