"""Dial-out and the SIP gateway's presence: a codec, no behaviour (docs/sip.md §2).

* :class:`Dial` (``urn:xmpp:rayo:1``): the moderator's dial-out request, which the focus forwards to a
  gateway; :class:`Ref`, the gateway's answer naming the call's occupant, where ``<hangup/>``
  (:data:`HANGUP`) is sent to end the call;
* :func:`transcription_status`: ``<transcription-status>`` a transcriber publishes in the room.

For example::

    dial = Dial.from_element(iq.xml.find(q(ns.RAYO, "dial")))
    dial.to, dial.headers["JvbRoomName"]          # "+4930123456", "room@muc.meet.jitsi"
    result.append(Ref.of_occupant("room@muc.meet.jitsi", "1a2b3c4d").to_element())
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, SubElement

from .. import ns

q = ns.tag

ROOM_NAME_HEADER = "JvbRoomName"
ROOM_PASSWORD_HEADER = "JvbRoomPassword"
TRANSCRIBER_CALLEE = "jitsi_meet_transcribe"  # the dial "to" that asks for a transcriber, not a phone
FEATURE_JIGASI = "http://jitsi.org/protocol/jigasi"
FEATURE_TRANSCRIBER = "http://jitsi.org/protocol/transcriber"
FEATURE_DTMF = "urn:xmpp:jingle:dtmf:0"
FEATURE_AUDIO_MUTE = "http://jitsi.org/protocol/audio-mute"
TRANSCRIPTION_ON, TRANSCRIPTION_OFF = "ON", "OFF"
HANGUP = q(ns.RAYO, "hangup")


class RayoStanzaError(ValueError):
    """A malformed Rayo element; the message says what is missing."""


@dataclass
class Dial:
    to: str
    from_: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def room(self) -> str | None:
        return self.headers.get(ROOM_NAME_HEADER)

    @classmethod
    def from_element(cls, elem: Element | None) -> "Dial":
        if elem is None or elem.tag != q(ns.RAYO, "dial"):
            raise RayoStanzaError("no <dial xmlns='urn:xmpp:rayo:1'> element")
        to = elem.get("to")
        if not to:
            raise RayoStanzaError("dial needs a 'to' attribute")
        headers: dict[str, str] = {}
        for header in elem.findall(q(ns.RAYO, "header")):
            name = header.get("name")
            if not name:
                raise RayoStanzaError("a dial header needs a name")
            headers[name] = header.get("value") or ""
        return cls(to, elem.get("from") or None, headers)

    def to_element(self, parent: Element | None = None) -> Element:
        tag = q(ns.RAYO, "dial")
        elem = Element(tag) if parent is None else SubElement(parent, tag)
        elem.set("to", self.to)
        if self.from_ is not None:
            elem.set("from", self.from_)
        for name, value in self.headers.items():
            SubElement(elem, q(ns.RAYO, "header"), name=name, value=value)
        return elem


@dataclass(frozen=True)
class Ref:
    """The answer to a dial: ``xmpp:<room JID>/<the call's nick>``, the occupant a hangup goes to (as Jigasi
    answers once in the room), or ``not-acceptable``."""

    uri: str

    @classmethod
    def of_occupant(cls, room_jid: str, nick: str) -> "Ref":
        return cls(f"xmpp:{room_jid}/{nick}")

    @classmethod
    def from_element(cls, elem: Element | None) -> "Ref":
        if elem is None or elem.tag != q(ns.RAYO, "ref") or not elem.get("uri"):
            raise RayoStanzaError("no <ref xmlns='urn:xmpp:rayo:1' uri=...> element")
        return cls(elem.get("uri", ""))

    def to_element(self, parent: Element | None = None) -> Element:
        tag = q(ns.RAYO, "ref")
        elem = Element(tag) if parent is None else SubElement(parent, tag)
        elem.set("uri", self.uri)
        return elem


def transcription_status(status: str) -> Element:
    """``<transcription-status status="ON|OFF"/>`` in ``jabber:client``, upper-case as clients read it."""
    if status not in (TRANSCRIPTION_ON, TRANSCRIPTION_OFF):
        raise RayoStanzaError(f"transcription status {status!r}: expected ON or OFF")
    return Element(q(ns.CLIENT, "transcription-status"), status=status)
