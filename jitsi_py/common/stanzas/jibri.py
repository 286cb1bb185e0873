"""The recorder's wire vocabulary (``http://jitsi.org/protocol/jibri``): a codec, no behaviour.

* :class:`JibriIq`: the moderator's start/stop to the focus, the focus's start/stop to a recorder,
  and every answer and status update between them (docs/recording.md §2);
* :class:`JibriStatus`: a recorder's presence in its brewery (idle/busy, healthy/unhealthy);
* :class:`RecordingStatus`: the focus's ``<jibri-recording-status>`` presence every client reads.

For example::

    request = JibriIq.from_element(iq.xml.find(q(ns.JIBRI, "jibri")))
    request.action, request.recording_mode, request.streamid       # "start", "stream", "abcd-..."
    reply.append(JibriIq(status=PENDING, session_id=sid).to_element())
    presence.append(JibriStatus(busy=False, healthy=True).to_element())
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from xml.etree.ElementTree import Element, SubElement

from .. import ns

q = ns.tag

START, STOP = "start", "stop"
ACTIONS = frozenset({START, STOP})
ON, OFF, PENDING = "on", "off", "pending"
STATUSES = frozenset({ON, OFF, PENDING})
FILE, STREAM = "file", "stream"
MODES = frozenset({FILE, STREAM})
BUSY, ERROR = "busy", "error"  # failure_reason values
FEATURE = ns.JIBRI  # in a recorder participant's presence <features> (docs/recording.md §4)
YOUTUBE_INGEST = "rtmp://a.rtmp.youtube.com/live2/"


class JibriStanzaError(ValueError):
    """A malformed recorder element; the message names the attribute and the fault."""


def _choice(elem: Element, name: str, allowed: frozenset[str]) -> str | None:
    value = elem.get(name)
    if value is None or value == "":
        return None
    value = value.lower()
    if value not in allowed:
        raise JibriStanzaError(f"jibri {name}={elem.get(name)!r}: expected one of {', '.join(sorted(allowed))}")
    return value


@dataclass
class JibriIq:
    """``<jibri>`` with every attribute upstream defines; None means absent on the wire.

    ``should_retry`` absent reads as False, as jicofo reads it."""

    action: str | None = None
    status: str | None = None
    recording_mode: str | None = None
    room: str | None = None
    streamid: str | None = None
    you_tube_broadcast_id: str | None = None
    displayname: str | None = None
    sipaddress: str | None = None
    session_id: str | None = None
    failure_reason: str | None = None
    should_retry: bool | None = None
    app_data: str | None = None

    @classmethod
    def from_element(cls, elem: Element | None) -> "JibriIq":
        if elem is None or elem.tag != q(ns.JIBRI, "jibri"):
            raise JibriStanzaError("no <jibri xmlns='http://jitsi.org/protocol/jibri'> element")
        retry = elem.get("should_retry")
        return cls(
            action=_choice(elem, "action", ACTIONS),
            status=_choice(elem, "status", STATUSES),
            recording_mode=_choice(elem, "recording_mode", MODES),
            room=elem.get("room") or None,
            streamid=elem.get("streamid") or None,
            you_tube_broadcast_id=elem.get("you_tube_broadcast_id") or None,
            displayname=elem.get("displayname") or None,
            sipaddress=elem.get("sipaddress") or None,
            session_id=elem.get("session_id") or None,
            failure_reason=elem.get("failure_reason") or None,
            should_retry=None if retry is None else retry.lower() == "true",
            app_data=elem.get("app_data") or None,
        )

    def to_element(self, parent: Element | None = None) -> Element:
        elem = Element(q(ns.JIBRI, "jibri")) if parent is None else SubElement(parent, q(ns.JIBRI, "jibri"))
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                elem.set(f.name, ("true" if value else "false") if isinstance(value, bool) else str(value))
        return elem


@dataclass(frozen=True)
class JibriStatus:
    """``<jibri-status>`` in a recorder's brewery presence: available means idle and healthy."""

    busy: bool
    healthy: bool

    @property
    def available(self) -> bool:
        return self.healthy and not self.busy

    @classmethod
    def from_presence(cls, presence: Element) -> "JibriStatus | None":
        """None when the presence carries no status (not a recorder, or one still starting)."""
        status = presence.find(q(ns.JIBRI, "jibri-status"))
        if status is None:
            return None
        busy = status.find(q(ns.JIBRI, "busy-status"))
        health = status.find(q(ns.JITSI_HEALTH_STATUS, "health-status"))
        if busy is None or health is None:
            raise JibriStanzaError("jibri-status needs <busy-status> and <health-status>")
        return cls(busy=(busy.get("status") or "").lower() != "idle",
                   healthy=(health.get("status") or "").lower() == "healthy")

    def to_element(self, parent: Element | None = None) -> Element:
        tag = q(ns.JIBRI, "jibri-status")
        elem = Element(tag) if parent is None else SubElement(parent, tag)
        SubElement(elem, q(ns.JIBRI, "busy-status"), status="busy" if self.busy else "idle")
        SubElement(elem, q(ns.JITSI_HEALTH_STATUS, "health-status"),
                   status="healthy" if self.healthy else "unhealthy")
        return elem


@dataclass(frozen=True)
class RecordingStatus:
    """``<jibri-recording-status>`` in the focus's room presence, replaced on every change."""

    status: str
    session_id: str
    recording_mode: str | None = None
    initiator: str | None = None
    failure_reason: str | None = None

    @classmethod
    def from_presence(cls, presence: Element) -> "RecordingStatus | None":
        elem = presence.find(q(ns.JIBRI, "jibri-recording-status"))
        if elem is None:
            return None
        status = _choice(elem, "status", STATUSES)
        session_id = elem.get("session_id")
        if status is None or not session_id:
            raise JibriStanzaError("jibri-recording-status needs status and session_id")
        return cls(status, session_id, _choice(elem, "recording_mode", MODES), elem.get("initiator"),
                   elem.get("failure_reason"))

    def to_element(self, parent: Element | None = None) -> Element:
        tag = q(ns.JIBRI, "jibri-recording-status")
        elem = Element(tag) if parent is None else SubElement(parent, tag)
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                elem.set(f.name, value)
        return elem


def stream_url(streamid: str) -> str:
    """A full ``rtmp://``/``rtmps://`` URL as given, anything else a YouTube stream key (as Jibri)."""
    if streamid.lower().startswith(("rtmp://", "rtmps://")):
        return streamid
    return YOUTUBE_INGEST + streamid


def view_url(broadcast_id: str) -> str:
    if broadcast_id.lower().startswith(("http://", "https://")):
        return broadcast_id
    return "http://youtu.be/" + broadcast_id
