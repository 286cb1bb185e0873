"""A participant that joins a Jitsi meeting as a browser does on the wire (docs/meeting-client.md):
what the recorder, the SIP gateway and the transcriber are in a meeting."""

from . import events
from .client import JoinError, Login, Meeting, XmppServer
from .roster import Participant

__all__ = ["JoinError", "Login", "Meeting", "Participant", "XmppServer", "events"]
