"""Colibri2 (``jitsi:colibri2``, focus <-> bridge): a wire codec, no behaviour.

Both sides use it: the focus builds :class:`ConferenceModify` and reads :class:`ConferenceModified`;
the bridge does the reverse. Elements are ``xml.etree.ElementTree`` elements (slixmpp carries the
same type: append ``to_element()`` to ``iq.xml``; hand ``iq.xml.find(CONFERENCE_MODIFY)`` to
:func:`parse_conference_modify`). Bad input raises :class:`Colibri2Error` with a precise message;
the caller turns it into ``bad-request``. docs/colibri2.md §3-5 is the reference.

Building a request (focus side)::

    request = ConferenceModify(meeting_id, name="room@muc.meet.jitsi", create=True, endpoints=[
        Endpoint("3f2a9c1e", create=True, stats_id="Mireille-8Kd",
                 media=[Media("audio", payload_types=[PayloadType(111, "opus", 48000, 2)])],
                 transport=Transport(ice_controlling=True, sctp=Sctp()),
                 capabilities=["source-names", "ssrc-rewriting"]),
    ])
    iq.xml.append(request.to_element())
    ...
    answer = parse_conference_modified(result.xml.find(CONFERENCE_MODIFIED))
    answer.endpoint("3f2a9c1e").transport.ice   # an IceTransport: ufrag, pwd, candidates, fingerprints

Errors (§5): :func:`error_reason` reads ``<error xmlns=jitsi:colibri2 reason=..>`` from an IQ error
element; :func:`reason_element` builds it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar
from xml.etree.ElementTree import Element, SubElement

from .jingle import (
    NS_COLIBRI2,
    NS_HDREXT,
    NS_ICE_UDP,
    NS_RTP,
    NS_SSMA,
    HeaderExtension,
    IceTransport,
    JingleError,
    PayloadType,
    Source,
    SsrcGroup,
    q,
)

NS = NS_COLIBRI2
CONFERENCE_MODIFY = q(NS, "conference-modify")
CONFERENCE_MODIFIED = q(NS, "conference-modified")

# Lower-cased enum names of the real bridge's Colibri2Error.Reason (docs/colibri2.md §5).
REASON_CONFERENCE_NOT_FOUND = "conference_not_found"
REASON_CONFERENCE_ALREADY_EXISTS = "conference_already_exists"
REASON_GRACEFUL_SHUTDOWN = "graceful_shutdown"
REASON_UNKNOWN_ENDPOINT = "unknown_endpoint"
REASON_FEATURE_NOT_IMPLEMENTED = "feature_not_implemented"

CAPABILITY_SOURCE_NAMES = "source-names"
CAPABILITY_SSRC_REWRITING = "ssrc-rewriting"
CAPABILITY_PRIVATE_ADDRESS_CONNECTIVITY = "private-address-connectivity"

# The bridge's own feedback sources in every answer that creates something (docs/colibri2.md §4).
FEEDBACK_AUDIO = "jvb-a0"
FEEDBACK_VIDEO = "jvb-v0"


class Colibri2Error(JingleError):
    """Malformed Colibri2: the message says which element and attribute."""


def _bool(elem: Element, name: str) -> bool:
    return (elem.get(name) or "").lower() in ("true", "1")


def _opt_bool(elem: Element, name: str) -> bool | None:
    raw = elem.get(name)
    return None if raw is None else raw.lower() in ("true", "1")


def _flag(elem: Element, name: str, value: bool) -> None:
    if value:
        elem.set(name, "true")


def _int(elem: Element, name: str) -> int:
    raw = elem.get(name)
    try:
        return int(raw or "")
    except ValueError:
        raise Colibri2Error(f"<{elem.tag.rsplit('}', 1)[-1]} {name}={raw!r}> is not an integer") from None


def _required(elem: Element, name: str) -> str:
    value = elem.get(name)
    if not value:
        raise Colibri2Error(f"<{elem.tag.rsplit('}', 1)[-1]}> lacks the '{name}' attribute")
    return value


T = TypeVar("T")


def _wrap(parse: Callable[[Element], T], elem: Element) -> T:
    """Jingle's codec raises JingleError; inside Colibri2 it is a Colibri2Error."""
    try:
        return parse(elem)
    except Colibri2Error:
        raise
    except JingleError as exc:
        raise Colibri2Error(str(exc)) from None


@dataclass
class Media:
    """``<media type>``: the payload types and header extensions an endpoint uses."""

    type: str  # "audio" | "video"
    payload_types: list[PayloadType] = field(default_factory=list)
    header_extensions: list[HeaderExtension] = field(default_factory=list)
    extmap_allow_mixed: bool = False

    @classmethod
    def from_element(cls, elem: Element) -> "Media":
        kind = _required(elem, "type")
        if kind not in ("audio", "video"):
            raise Colibri2Error(f"<media type={kind!r}> is neither audio nor video")
        return cls(
            kind,
            [_wrap(PayloadType.from_element, p) for p in elem.findall(q(NS_RTP, "payload-type"))],
            [_wrap(HeaderExtension.from_element, h) for h in elem.findall(q(NS_HDREXT, "rtp-hdrext"))],
            elem.find(q(NS_HDREXT, "extmap-allow-mixed")) is not None,
        )

    def to_element(self, parent: Element) -> Element:
        elem = SubElement(parent, q(NS, "media"), type=self.type)
        for pt in self.payload_types:
            pt.to_element(elem)
        for ext in self.header_extensions:
            ext.to_element(elem)
        if self.extmap_allow_mixed:
            SubElement(elem, q(NS_HDREXT, "extmap-allow-mixed"))
        return elem


@dataclass
class Sctp:
    """``<sctp port role>``: the request asks for the SCTP data channel; the answer says how."""

    port: int | None = None
    role: str | None = None

    @classmethod
    def from_element(cls, elem: Element) -> "Sctp":
        return cls(_int(elem, "port") if elem.get("port") else None, elem.get("role"))

    def to_element(self, parent: Element) -> Element:
        elem = SubElement(parent, q(NS, "sctp"))
        if self.port is not None:
            elem.set("port", str(self.port))
        if self.role is not None:
            elem.set("role", self.role)
        return elem


@dataclass
class Transport:
    """Colibri2 ``<transport>`` around an ICE-UDP transport and/or ``<sctp>``."""

    ice: IceTransport | None = None
    sctp: Sctp | None = None
    ice_controlling: bool | None = None
    ice_restart: bool = False
    use_unique_port: bool = False

    @classmethod
    def from_element(cls, elem: Element) -> "Transport":
        ice = elem.find(q(NS_ICE_UDP, "transport"))
        sctp = elem.find(q(NS, "sctp"))
        return cls(
            _wrap(IceTransport.from_element, ice) if ice is not None else None,
            Sctp.from_element(sctp) if sctp is not None else None,
            _opt_bool(elem, "ice-controlling"),
            _bool(elem, "ice-restart"),
            _bool(elem, "use-unique-port"),
        )

    def to_element(self, parent: Element) -> Element:
        elem = SubElement(parent, q(NS, "transport"))
        if self.ice_controlling is not None:
            elem.set("ice-controlling", "true" if self.ice_controlling else "false")
        _flag(elem, "ice-restart", self.ice_restart)
        _flag(elem, "use-unique-port", self.use_unique_port)
        if self.ice is not None:
            self.ice.to_element(elem)
        if self.sctp is not None:
            self.sctp.to_element(elem)
        return elem


@dataclass
class MediaSource:
    """``<media-source type id>``: one named source (``id`` is the source name) and its SSRCs."""

    type: str  # "audio" | "video"
    id: str
    sources: list[Source] = field(default_factory=list)
    ssrc_groups: list[SsrcGroup] = field(default_factory=list)
    synthetic: bool = False

    @classmethod
    def from_element(cls, elem: Element) -> "MediaSource":
        kind = _required(elem, "type")
        if kind not in ("audio", "video"):
            raise Colibri2Error(f"<media-source type={kind!r}> is neither audio nor video")
        return cls(
            kind, _required(elem, "id"),
            [_wrap(lambda s: Source.from_element(s, kind), s) for s in elem.findall(q(NS_SSMA, "source"))],
            [_wrap(lambda g: SsrcGroup.from_element(g, kind), g) for g in elem.findall(q(NS_SSMA, "ssrc-group"))],
            _bool(elem, "synthetic"),
        )

    def to_element(self, parent: Element) -> Element:
        elem = SubElement(parent, q(NS, "media-source"), type=self.type, id=self.id)
        _flag(elem, "synthetic", self.synthetic)
        for source in self.sources:
            # Sources sent over Colibri2 carry neither msid nor owner (docs/colibri2.md §3.4).
            source.to_element(elem, msid=False, owner=False)
        for group in self.ssrc_groups:
            group.to_element(elem)
        return elem


def _sources_from(elem: Element) -> list[MediaSource]:
    return [MediaSource.from_element(m) for m in elem.findall(q(NS, "media-source"))]


def _sources_to(parent: Element, sources: list[MediaSource]) -> None:
    elem = SubElement(parent, q(NS, "sources"))
    for source in sources:
        source.to_element(elem)


@dataclass
class ForceMute:
    audio: bool | None = None
    video: bool | None = None


@dataclass
class Endpoint:
    """``<endpoint>`` of a request, or of an answer (there: ``id``, ``expire``, ``transport``)."""

    id: str
    create: bool = False
    expire: bool = False
    stats_id: str | None = None
    muc_role: str | None = None
    diarize: bool = False
    media: list[Media] = field(default_factory=list)
    transport: Transport | None = None
    sources: list[MediaSource] | None = None  # None: no <sources>; []: clear them
    force_mute: ForceMute | None = None
    capabilities: list[str] = field(default_factory=list)
    initial_last_n: int | None = None

    @classmethod
    def from_element(cls, elem: Element) -> "Endpoint":
        transport = elem.find(q(NS, "transport"))
        sources = elem.find(q(NS, "sources"))
        mute = elem.find(q(NS, "force-mute"))
        last_n = elem.find(q(NS, "initial-last-n"))
        return cls(
            id=_required(elem, "id"),
            create=_bool(elem, "create"),
            expire=_bool(elem, "expire"),
            stats_id=elem.get("stats-id"),
            muc_role=elem.get("muc-role"),
            diarize=_bool(elem, "diarize"),
            media=[Media.from_element(m) for m in elem.findall(q(NS, "media"))],
            transport=Transport.from_element(transport) if transport is not None else None,
            sources=_sources_from(sources) if sources is not None else None,
            force_mute=ForceMute(_opt_bool(mute, "audio"), _opt_bool(mute, "video")) if mute is not None else None,
            capabilities=[_required(c, "name") for c in elem.findall(q(NS, "capability"))],
            initial_last_n=_int(last_n, "value") if last_n is not None else None,
        )

    def to_element(self, parent: Element) -> Element:
        elem = SubElement(parent, q(NS, "endpoint"), id=self.id)
        _flag(elem, "create", self.create)
        _flag(elem, "expire", self.expire)
        if self.stats_id:
            elem.set("stats-id", self.stats_id)
        if self.muc_role:
            elem.set("muc-role", self.muc_role)
        _flag(elem, "diarize", self.diarize)
        for media in self.media:
            media.to_element(elem)
        if self.transport is not None:
            self.transport.to_element(elem)
        if self.sources is not None:
            _sources_to(elem, self.sources)
        if self.force_mute is not None:
            mute = SubElement(elem, q(NS, "force-mute"))
            for name in ("audio", "video"):
                value = getattr(self.force_mute, name)
                if value is not None:
                    mute.set(name, "true" if value else "false")
        for name in self.capabilities:
            SubElement(elem, q(NS, "capability"), name=name)
        if self.initial_last_n is not None:
            SubElement(elem, q(NS, "initial-last-n"), value=str(self.initial_last_n))
        return elem


@dataclass
class RelayEndpoint:
    """A remote endpoint reachable through a relay (``<relay><endpoints><endpoint>``)."""

    id: str
    create: bool = False
    expire: bool = False
    stats_id: str | None = None
    sources: list[MediaSource] | None = None


@dataclass
class Relay:
    """``<relay>``: a bridge-to-bridge transport (docs/colibri2.md §3.3)."""

    id: str
    create: bool = False
    expire: bool = False
    mesh_id: str | None = None
    media: list[Media] = field(default_factory=list)
    transport: Transport | None = None
    endpoints: list[RelayEndpoint] = field(default_factory=list)

    @classmethod
    def from_element(cls, elem: Element) -> "Relay":
        transport = elem.find(q(NS, "transport"))
        remote = []
        for child in elem.findall(f"{q(NS, 'endpoints')}/{q(NS, 'endpoint')}"):
            sources = child.find(q(NS, "sources"))
            remote.append(RelayEndpoint(_required(child, "id"), _bool(child, "create"), _bool(child, "expire"),
                                        child.get("stats-id"),
                                        _sources_from(sources) if sources is not None else None))
        return cls(_required(elem, "id"), _bool(elem, "create"), _bool(elem, "expire"), elem.get("mesh-id"),
                   [Media.from_element(m) for m in elem.findall(q(NS, "media"))],
                   Transport.from_element(transport) if transport is not None else None, remote)

    def to_element(self, parent: Element) -> Element:
        elem = SubElement(parent, q(NS, "relay"), id=self.id)
        _flag(elem, "create", self.create)
        _flag(elem, "expire", self.expire)
        if self.mesh_id:
            elem.set("mesh-id", self.mesh_id)
        for media in self.media:
            media.to_element(elem)
        if self.transport is not None:
            self.transport.to_element(elem)
        if self.endpoints:
            endpoints = SubElement(elem, q(NS, "endpoints"))
            for remote in self.endpoints:
                child = SubElement(endpoints, q(NS, "endpoint"), id=remote.id)
                _flag(child, "create", remote.create)
                _flag(child, "expire", remote.expire)
                if remote.stats_id:
                    child.set("stats-id", remote.stats_id)
                if remote.sources is not None:
                    _sources_to(child, remote.sources)
        return elem


CONNECT_PROTOCOLS = ("mediajson",)
CONNECT_TYPES = ("recorder", "transcriber", "translator")


@dataclass
class Connect:
    """``<connect>`` in ``<connects>``: the bridge exports the conference's audio over a WebSocket to
    ``url`` (docs/colibri2.md §3.5). ``id`` names it across requests (``create``/``expire`` as for
    endpoints); a connect without an ``id`` is the older form, where ``<connects>`` is the whole set."""

    url: str
    id: str | None = None
    protocol: str = "mediajson"
    type: str = "transcriber"
    audio: bool = False
    video: bool = False
    create: bool = False
    expire: bool = False
    http_headers: list[tuple[str, str]] = field(default_factory=list)
    ping: tuple[int, int] | None = None  # interval, timeout in ms
    exports: list[str] = field(default_factory=list)  # source names; none: all audio
    requests: list[str] = field(default_factory=list)  # source names wanted back (translation)

    @classmethod
    def from_element(cls, elem: Element) -> "Connect":
        url = _required(elem, "url")
        scheme = url.partition(":")[0].lower()
        if scheme not in ("ws", "wss") or not url[len(scheme):].startswith("://"):
            raise Colibri2Error(f"<connect url={url!r}> is not a ws:// or wss:// URL")
        protocol = _required(elem, "protocol").lower()
        if protocol not in CONNECT_PROTOCOLS:
            raise Colibri2Error(f"<connect protocol={protocol!r}> is not one of {', '.join(CONNECT_PROTOCOLS)}")
        kind = _required(elem, "type").lower()
        if kind not in CONNECT_TYPES:
            raise Colibri2Error(f"<connect type={kind!r}> is not one of {', '.join(CONNECT_TYPES)}")
        ping = elem.find(q(NS, "ping"))
        return cls(
            url, elem.get("id"), protocol, kind, _bool(elem, "audio"), _bool(elem, "video"),
            _bool(elem, "create"), _bool(elem, "expire"),
            [(_required(h, "name"), h.get("value") or "") for h in elem.findall(q(NS, "http-header"))],
            (_int(ping, "interval"), _int(ping, "timeout")) if ping is not None else None,
            [_required(e, "name") for e in elem.findall(f"{q(NS, 'exports')}/{q(NS, 'export')}")],
            [_required(r, "name") for r in elem.findall(f"{q(NS, 'requests')}/{q(NS, 'request')}")],
        )

    def to_element(self, parent: Element) -> Element:
        elem = SubElement(parent, q(NS, "connect"), url=self.url, protocol=self.protocol, type=self.type)
        if self.id is not None:
            elem.set("id", self.id)
        for name in ("audio", "video", "create", "expire"):
            _flag(elem, name, getattr(self, name))
        for name, value in self.http_headers:
            SubElement(elem, q(NS, "http-header"), name=name, value=value)
        if self.ping is not None:
            SubElement(elem, q(NS, "ping"), interval=str(self.ping[0]), timeout=str(self.ping[1]))
        for wrapper, child, names in (("exports", "export", self.exports), ("requests", "request", self.requests)):
            if names:
                holder = SubElement(elem, q(NS, wrapper))
                for name in names:
                    SubElement(holder, q(NS, child), name=name)
        return elem


@dataclass
class ConferenceModify:
    """``<conference-modify>``: the one Colibri2 request."""

    meeting_id: str
    name: str | None = None
    create: bool = False
    expire: bool = False
    rtcstats_enabled: bool | None = None
    endpoints: list[Endpoint] = field(default_factory=list)
    relays: list[Relay] = field(default_factory=list)
    connects: list[Connect] | None = None  # None: no <connects>; []: an empty one

    def endpoint(self, endpoint_id: str) -> Endpoint | None:
        return next((e for e in self.endpoints if e.id == endpoint_id), None)

    def to_element(self) -> Element:
        elem = Element(CONFERENCE_MODIFY, {"meeting-id": self.meeting_id})
        if self.name:
            elem.set("name", self.name)
        _flag(elem, "create", self.create)
        _flag(elem, "expire", self.expire)
        if self.rtcstats_enabled is False:
            elem.set("rtcstats-enabled", "false")
        for endpoint in self.endpoints:
            endpoint.to_element(elem)
        for relay in self.relays:
            relay.to_element(elem)
        if self.connects is not None:
            holder = SubElement(elem, q(NS, "connects"))
            for connect in self.connects:
                connect.to_element(holder)
        return elem


def parse_conference_modify(elem: Element | None) -> ConferenceModify:
    if elem is None or elem.tag != CONFERENCE_MODIFY:
        raise Colibri2Error("no <conference-modify xmlns='jitsi:colibri2'> element")
    return ConferenceModify(
        meeting_id=_required(elem, "meeting-id"),
        name=elem.get("name"),
        create=_bool(elem, "create"),
        expire=_bool(elem, "expire"),
        rtcstats_enabled=_opt_bool(elem, "rtcstats-enabled"),
        endpoints=[Endpoint.from_element(e) for e in elem.findall(q(NS, "endpoint"))],
        relays=[Relay.from_element(r) for r in elem.findall(q(NS, "relay"))],
        connects=_connects_from(elem.find(q(NS, "connects"))),
    )


def _connects_from(elem: Element | None) -> list[Connect] | None:
    return None if elem is None else [Connect.from_element(c) for c in elem.findall(q(NS, "connect"))]


@dataclass
class ConferenceModified:
    """``<conference-modified>``: the answer; ``sources`` are the bridge's feedback sources."""

    endpoints: list[Endpoint] = field(default_factory=list)
    relays: list[Relay] = field(default_factory=list)
    sources: list[MediaSource] | None = None

    def endpoint(self, endpoint_id: str) -> Endpoint | None:
        return next((e for e in self.endpoints if e.id == endpoint_id), None)

    def to_element(self) -> Element:
        elem = Element(CONFERENCE_MODIFIED)
        for endpoint in self.endpoints:
            endpoint.to_element(elem)
        for relay in self.relays:
            relay.to_element(elem)
        if self.sources is not None:
            _sources_to(elem, self.sources)
        return elem


def parse_conference_modified(elem: Element | None) -> ConferenceModified:
    if elem is None or elem.tag != CONFERENCE_MODIFIED:
        raise Colibri2Error("no <conference-modified xmlns='jitsi:colibri2'> element")
    sources = elem.find(q(NS, "sources"))
    return ConferenceModified(
        [Endpoint.from_element(e) for e in elem.findall(q(NS, "endpoint"))],
        [Relay.from_element(r) for r in elem.findall(q(NS, "relay"))],
        _sources_from(sources) if sources is not None else None,
    )


def reason_element(reason: str, endpoint_id: str | None = None) -> Element:
    """The application-specific child of an IQ ``<error>`` (docs/colibri2.md §5)."""
    elem = Element(q(NS, "error"), reason=reason)
    if endpoint_id is not None:
        SubElement(elem, q(NS, "endpoint"), id=endpoint_id)
    return elem


def error_reason(error: Element | None) -> str | None:
    """The Colibri2 ``reason`` inside an IQ ``<error>`` element, if any."""
    if error is None:
        return None
    child = error.find(q(NS, "error"))
    return child.get("reason") if child is not None else None
