"""A participant that joins a Jitsi meeting as a browser does on the wire (docs/meeting-client.md):
what the recorder, the SIP gateway and the transcriber are in a meeting. For example::

    meeting = Meeting(XmppServer.of(settings.common.domains, host, port),
                      Login("recorder@hidden.meet.jitsi", password),   # or None: anonymous
                      display_name="Recorder", features=("http://jitsi.org/protocol/jibri",))
    await meeting.join("standup", timeout=30)          # JoinError(reason) on any failure
    async for event in meeting.events():               # ends after events.Ended
        match event:
            case events.TrackAdded(endpoint_id, source_name, kind, video_type, track): ...
    await meeting.leave()

Also: ``participants``, ``set_presence_extras``, ``set_status``, ``send_group_message``,
``send_endpoint_message``, ``set_video_constraints``, ``set_audio_muted``; the events are in
:mod:`.events`.
"""

from . import events
from .client import JoinError, Login, Meeting, XmppServer
from .roster import Participant

__all__ = ["JoinError", "Login", "Meeting", "Participant", "XmppServer", "events"]
