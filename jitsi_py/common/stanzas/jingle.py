"""Jingle (XEP-0166/0167/0176/0320/0339) with Jitsi's extensions: a wire codec, no behaviour.

Plain dataclasses and ``xml.etree.ElementTree`` elements, so any XMPP library can carry them
(slixmpp stanzas wrap the same ``Element`` type: append ``to_element()`` to ``iq.xml``, hand
``iq.xml.find(...)`` to ``parse_jingle``). Every ``from_element`` raises :class:`JingleError` with a
precise message on bad input; the caller turns it into an XMPP ``bad-request``.

The same transport, payload-type, header-extension and source elements appear inside Colibri2
(docs/colibri2.md §3.2), which is why they are separate classes with their own codec.

Reading and answering an offer (a participant's side)::

    offer = parse_jingle(iq.xml.find(q(NS_JINGLE, "jingle")))   # JingleError if malformed
    offer.action, offer.sid, offer.bridge_session.id
    audio = offer.content("audio")       # Content: payload_types, header_extensions, sources,
    audio.transport.ufrag                # transport (IceTransport: candidates, fingerprints)
    offer.json_sources                   # text for jitsi.decode_sources(), when sent as JSON
    accept = Jingle("session-accept", offer.sid, initiator=offer.initiator, responder=my_jid,
                    contents=[Content("audio", media="audio", payload_types=[...], sources=[
                        Source(1234, "audio", "abcd1234-a0", msid="stream track")],
                        transport=IceTransport(ufrag, pwd, [...], [Fingerprint("sha-256", fp, "active")]))])
    iq.xml.append(accept.to_element())

A ``data`` content (``media="application"``) carries the SCTP port as ``transport.sctp_port``
(``<sctpmap>``); the ``<rtcp-mux/>`` of a description is ``Content.rtcp_mux``, that of a transport
``IceTransport.rtcp_mux``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, SubElement

from .. import ns

NS_JINGLE = ns.JINGLE
NS_JINGLE_ERRORS = ns.JINGLE_ERRORS
NS_RTP = ns.JINGLE_RTP
NS_ICE_UDP = ns.JINGLE_ICE_UDP
NS_DTLS = ns.JINGLE_DTLS
NS_SSMA = ns.JINGLE_SSMA
NS_RTCP_FB = ns.JINGLE_RTCP_FB
NS_HDREXT = ns.JINGLE_HDREXT
NS_GROUPING = ns.JINGLE_GROUPING
NS_DTLS_SCTP = ns.JINGLE_DTLS_SCTP
NS_COLIBRI = ns.COLIBRI
NS_COLIBRI2 = ns.COLIBRI2
NS_JITMEET = ns.JITSI_MEET
NS_FOCUS = ns.JITSI_FOCUS

# Actions jicofo accepts from a participant (docs/focus.md §3); the legacy names map onto the new ones.
ACTIONS = frozenset({
    "session-initiate", "session-accept", "session-info", "session-terminate",
    "transport-info", "transport-accept", "transport-reject", "transport-replace",
    "source-add", "source-remove", "content-modify", "content-add", "content-remove",
})
LEGACY_ACTIONS = {"addsource": "source-add", "removesource": "source-remove"}
REASONS = frozenset({
    "success", "busy", "cancel", "connectivity-error", "decline", "expired", "failed-application",
    "failed-transport", "general-error", "gone", "incompatible-parameters", "media-error",
    "security-error", "timeout", "unsupported-applications", "unsupported-transports",
    "alternative-session",
})


class JingleError(ValueError):
    """Malformed Jingle: the message says which element and attribute."""


q = ns.tag  # the codecs' short name for the one Clark-notation helper


def _req(elem: Element, name: str) -> str:
    value = elem.get(name)
    if value is None or value == "":
        raise JingleError(f"<{_local(elem.tag)}> lacks the '{name}' attribute")
    return value


def _int(elem: Element, name: str, default: int | None = None, *, lo: int = 0, hi: int = 2**32 - 1) -> int:
    raw = elem.get(name)
    if raw is None or raw == "":
        if default is None:
            raise JingleError(f"<{_local(elem.tag)}> lacks the '{name}' attribute")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise JingleError(f"<{_local(elem.tag)} {name}={raw!r}> is not an integer") from None
    if not lo <= value <= hi:
        raise JingleError(f"<{_local(elem.tag)} {name}={raw!r}> is out of range")
    return value


def _bool(elem: Element, name: str) -> bool:
    return (elem.get(name) or "").lower() in ("true", "1")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _set(elem: Element, name: str, value: object) -> None:
    if value is not None:
        elem.set(name, str(value).lower() if isinstance(value, bool) else str(value))


# --- ICE-UDP transport with DTLS fingerprints (XEP-0176, XEP-0320) --------------------------------

@dataclass
class Candidate:
    component: int
    foundation: str
    generation: int
    id: str
    ip: str
    port: int
    priority: int
    protocol: str
    type: str
    network: int = 0
    rel_addr: str | None = None
    rel_port: int | None = None
    tcptype: str | None = None

    @classmethod
    def from_element(cls, elem: Element) -> "Candidate":
        rel_port = elem.get("rel-port")
        return cls(
            component=_int(elem, "component", 1, hi=256),
            foundation=_req(elem, "foundation"),
            generation=_int(elem, "generation", 0),
            id=elem.get("id") or "",
            ip=_req(elem, "ip"),
            port=_int(elem, "port", hi=65535),
            priority=_int(elem, "priority"),
            protocol=_req(elem, "protocol").lower(),
            type=_req(elem, "type"),
            network=_int(elem, "network", 0),
            rel_addr=elem.get("rel-addr"),
            rel_port=_int(elem, "rel-port", hi=65535) if rel_port else None,
            tcptype=elem.get("tcptype"),
        )

    def to_element(self, parent: Element | None = None) -> Element:
        elem = _child(parent, NS_ICE_UDP, "candidate")
        for name, value in (
            ("component", self.component), ("foundation", self.foundation),
            ("generation", self.generation), ("id", self.id or None), ("ip", self.ip),
            ("network", self.network), ("port", self.port), ("priority", self.priority),
            ("protocol", self.protocol), ("type", self.type), ("rel-addr", self.rel_addr),
            ("rel-port", self.rel_port), ("tcptype", self.tcptype),
        ):
            _set(elem, name, value)
        return elem


@dataclass
class Fingerprint:
    hash: str
    value: str
    setup: str | None = None
    required: bool | None = None

    @classmethod
    def from_element(cls, elem: Element) -> "Fingerprint":
        value = (elem.text or "").strip()
        if not value:
            raise JingleError("<fingerprint> is empty")
        required = elem.get("required")
        return cls(_req(elem, "hash"), value, elem.get("setup"),
                   None if required is None else required.lower() in ("true", "1"))

    def to_element(self, parent: Element | None = None) -> Element:
        elem = _child(parent, NS_DTLS, "fingerprint")
        _set(elem, "hash", self.hash)
        _set(elem, "setup", self.setup)
        _set(elem, "required", self.required)
        elem.text = self.value
        return elem


@dataclass
class IceTransport:
    """``<transport xmlns=ice-udp>``; in Jingle also the ``<sctpmap>`` and colibri-ws URLs."""

    ufrag: str | None = None
    pwd: str | None = None
    candidates: list[Candidate] = field(default_factory=list)
    fingerprints: list[Fingerprint] = field(default_factory=list)
    rtcp_mux: bool = False
    web_sockets: list[str] = field(default_factory=list)
    sctp_port: int | None = None
    ice_generation: int | None = None

    @classmethod
    def from_element(cls, elem: Element) -> "IceTransport":
        if elem.tag != q(NS_ICE_UDP, "transport"):
            raise JingleError(f"unsupported transport {elem.tag}")
        sctpmap = elem.find(q(NS_DTLS_SCTP, "sctpmap"))
        generation = elem.get("ice-generation")
        return cls(
            ufrag=elem.get("ufrag"),
            pwd=elem.get("pwd"),
            candidates=[Candidate.from_element(c) for c in elem.findall(q(NS_ICE_UDP, "candidate"))],
            fingerprints=[Fingerprint.from_element(f) for f in elem.findall(q(NS_DTLS, "fingerprint"))],
            rtcp_mux=elem.find(q(NS_ICE_UDP, "rtcp-mux")) is not None,
            web_sockets=[_req(ws, "url") for ws in elem.findall(q(NS_COLIBRI, "web-socket"))],
            sctp_port=_int(sctpmap, "number", 5000, hi=65535) if sctpmap is not None else None,
            ice_generation=_int(elem, "ice-generation") if generation else None,
        )

    def to_element(self, parent: Element | None = None, *, sctp: bool = False) -> Element:
        """``sctp`` adds the data channel's ``<sctpmap>`` (the Jingle ``data`` content only)."""
        elem = _child(parent, NS_ICE_UDP, "transport")
        _set(elem, "ufrag", self.ufrag)
        _set(elem, "pwd", self.pwd)
        _set(elem, "ice-generation", self.ice_generation)
        if self.rtcp_mux:
            SubElement(elem, q(NS_ICE_UDP, "rtcp-mux"))
        for fingerprint in self.fingerprints:
            fingerprint.to_element(elem)
        for candidate in self.candidates:
            candidate.to_element(elem)
        for url in self.web_sockets:
            SubElement(elem, q(NS_COLIBRI, "web-socket"), url=url)
        if sctp and self.sctp_port is not None:
            SubElement(elem, q(NS_DTLS_SCTP, "sctpmap"), number=str(self.sctp_port),
                       protocol="webrtc-datachannel", streams="1024")
        return elem


# --- RTP description (XEP-0167, 0293, 0294) -------------------------------------------------------

@dataclass
class RtcpFb:
    type: str
    subtype: str | None = None


@dataclass
class PayloadType:
    id: int
    name: str
    clockrate: int
    channels: int | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    rtcp_fb: list[RtcpFb] = field(default_factory=list)

    @classmethod
    def from_element(cls, elem: Element) -> "PayloadType":
        channels = elem.get("channels")
        return cls(
            id=_int(elem, "id", hi=127),
            name=elem.get("name") or "",
            clockrate=_int(elem, "clockrate", 0),
            channels=_int(elem, "channels") if channels else None,
            parameters={_req(p, "name"): p.get("value") or ""
                        for p in elem.findall(q(NS_RTP, "parameter"))},
            rtcp_fb=[RtcpFb(_req(f, "type"), f.get("subtype"))
                     for f in elem.findall(q(NS_RTCP_FB, "rtcp-fb"))],
        )

    def to_element(self, parent: Element | None = None) -> Element:
        elem = _child(parent, NS_RTP, "payload-type")
        _set(elem, "id", self.id)
        _set(elem, "name", self.name)
        _set(elem, "clockrate", self.clockrate or None)
        _set(elem, "channels", self.channels)
        for name, value in self.parameters.items():
            SubElement(elem, q(NS_RTP, "parameter"), name=name, value=value)
        for fb in self.rtcp_fb:
            fb_elem = SubElement(elem, q(NS_RTCP_FB, "rtcp-fb"), type=fb.type)
            _set(fb_elem, "subtype", fb.subtype)
        return elem


@dataclass
class HeaderExtension:
    id: int
    uri: str

    @classmethod
    def from_element(cls, elem: Element) -> "HeaderExtension":
        return cls(_int(elem, "id", hi=255), _req(elem, "uri"))

    def to_element(self, parent: Element | None = None) -> Element:
        elem = _child(parent, NS_HDREXT, "rtp-hdrext")
        elem.set("id", str(self.id))
        elem.set("uri", self.uri)
        return elem


# --- Sources (XEP-0339) with Jitsi's names, video types and owners ---------------------------------

@dataclass(frozen=True)
class Source:
    ssrc: int
    media: str  # "audio" | "video"
    name: str | None = None
    msid: str | None = None
    video_type: str | None = None  # "camera" | "desktop"
    owner: str | None = None  # endpoint id, or "jvb" for the bridge's own sources

    @classmethod
    def from_element(cls, elem: Element, media: str) -> "Source":
        msid = None
        for param in elem.findall(q(NS_SSMA, "parameter")):
            if param.get("name") == "msid":
                msid = param.get("value")
        info = elem.find(q(NS_JITMEET, "ssrc-info"))
        return cls(
            ssrc=_int(elem, "ssrc"),
            media=media,
            name=elem.get("name"),
            msid=msid,
            video_type=elem.get("videoType"),
            owner=info.get("owner") if info is not None else None,
        )

    def to_element(self, parent: Element | None = None, *, msid: bool = True, owner: bool = True) -> Element:
        elem = _child(parent, NS_SSMA, "source")
        elem.set("ssrc", str(self.ssrc))
        _set(elem, "name", self.name)
        _set(elem, "videoType", self.video_type)
        if msid and self.msid:
            SubElement(elem, q(NS_SSMA, "parameter"), name="msid", value=self.msid)
        if owner and self.owner:
            SubElement(elem, q(NS_JITMEET, "ssrc-info"), owner=self.owner)
        return elem


@dataclass(frozen=True)
class SsrcGroup:
    semantics: str  # "SIM" | "FID" | "FEC-FR"
    ssrcs: tuple[int, ...]
    media: str = "video"

    @classmethod
    def from_element(cls, elem: Element, media: str) -> "SsrcGroup":
        ssrcs = tuple(_int(s, "ssrc") for s in elem.findall(q(NS_SSMA, "source")))
        if not ssrcs:
            raise JingleError("<ssrc-group> has no <source>")
        return cls(_req(elem, "semantics"), ssrcs, media)

    def to_element(self, parent: Element | None = None) -> Element:
        elem = _child(parent, NS_SSMA, "ssrc-group")
        elem.set("semantics", self.semantics)
        for ssrc in self.ssrcs:
            SubElement(elem, q(NS_SSMA, "source"), ssrc=str(ssrc))
        return elem


# --- Contents and the <jingle> element ------------------------------------------------------------

@dataclass
class Content:
    name: str
    creator: str = "initiator"
    senders: str | None = "both"
    media: str | None = None  # <description media=...>; None: no description
    payload_types: list[PayloadType] = field(default_factory=list)
    header_extensions: list[HeaderExtension] = field(default_factory=list)
    extmap_allow_mixed: bool = False
    rtcp_mux: bool = False
    maxptime: int | None = None
    sources: list[Source] = field(default_factory=list)
    ssrc_groups: list[SsrcGroup] = field(default_factory=list)
    transport: IceTransport | None = None
    initial_last_n: int | None = None  # jitsi:colibri2 child of the video content

    @classmethod
    def from_element(cls, elem: Element) -> "Content":
        name = _req(elem, "name")
        desc = elem.find(q(NS_RTP, "description"))
        media = desc.get("media") if desc is not None else None
        kind = media or name
        transport = elem.find(q(NS_ICE_UDP, "transport"))
        last_n = elem.find(q(NS_COLIBRI2, "initial-last-n"))
        content = cls(
            name=name,
            creator=elem.get("creator") or "initiator",
            senders=elem.get("senders"),
            media=media,
            transport=IceTransport.from_element(transport) if transport is not None else None,
            initial_last_n=_int(last_n, "value") if last_n is not None else None,
        )
        if desc is not None:
            content.payload_types = [PayloadType.from_element(p) for p in desc.findall(q(NS_RTP, "payload-type"))]
            content.header_extensions = [HeaderExtension.from_element(h)
                                         for h in desc.findall(q(NS_HDREXT, "rtp-hdrext"))]
            content.extmap_allow_mixed = desc.find(q(NS_HDREXT, "extmap-allow-mixed")) is not None
            content.rtcp_mux = desc.find(q(NS_RTP, "rtcp-mux")) is not None
            content.maxptime = _int(desc, "maxptime") if desc.get("maxptime") else None
            content.sources = [Source.from_element(s, kind) for s in desc.findall(q(NS_SSMA, "source"))]
            content.ssrc_groups = [SsrcGroup.from_element(g, kind) for g in desc.findall(q(NS_SSMA, "ssrc-group"))]
        return content

    def to_element(self, parent: Element | None = None) -> Element:
        elem = _child(parent, NS_JINGLE, "content")
        elem.set("creator", self.creator)
        elem.set("name", self.name)
        _set(elem, "senders", self.senders)
        if self.media is not None:
            desc = SubElement(elem, q(NS_RTP, "description"), media=self.media)
            _set(desc, "maxptime", self.maxptime)
            for pt in self.payload_types:
                pt.to_element(desc)
            for ext in self.header_extensions:
                ext.to_element(desc)
            if self.extmap_allow_mixed:
                SubElement(desc, q(NS_HDREXT, "extmap-allow-mixed"))
            for source in self.sources:
                source.to_element(desc)
            for group in self.ssrc_groups:
                group.to_element(desc)
            if self.rtcp_mux:
                SubElement(desc, q(NS_RTP, "rtcp-mux"))
        if self.transport is not None:
            self.transport.to_element(elem, sctp=self.media == "application")
        if self.initial_last_n is not None:
            SubElement(elem, q(NS_COLIBRI2, "initial-last-n"), value=str(self.initial_last_n))
        return elem


@dataclass
class BridgeSession:
    """``<bridge-session xmlns=focus>``: which Colibri2 session a Jingle session belongs to."""

    id: str | None = None
    region: str | None = None
    restart: bool = False
    ice_restart: bool = False

    @classmethod
    def from_element(cls, elem: Element) -> "BridgeSession":
        return cls(elem.get("id"), elem.get("region"), _bool(elem, "restart"), _bool(elem, "ice-restart"))

    def to_element(self, parent: Element | None = None) -> Element:
        elem = _child(parent, NS_FOCUS, "bridge-session")
        _set(elem, "id", self.id)
        _set(elem, "region", self.region)
        if self.restart:
            elem.set("restart", "true")
        if self.ice_restart:
            elem.set("ice-restart", "true")
        return elem


@dataclass
class Jingle:
    action: str
    sid: str
    initiator: str | None = None
    responder: str | None = None
    contents: list[Content] = field(default_factory=list)
    bundle: list[str] | None = None  # <group semantics="BUNDLE"> content names
    bridge_session: BridgeSession | None = None
    json_sources: str | None = None  # text of <json-message xmlns=jitmeet>
    reason: str | None = None
    reason_text: str | None = None
    ice_state: str | None = None  # session-info <ice-state xmlns=focus>

    def content(self, name: str) -> Content | None:
        return next((c for c in self.contents if c.name == name), None)

    def to_element(self) -> Element:
        elem = Element(q(NS_JINGLE, "jingle"), action=self.action, sid=self.sid)
        _set(elem, "initiator", self.initiator)
        _set(elem, "responder", self.responder)
        for content in self.contents:
            content.to_element(elem)
        if self.bundle:
            group = SubElement(elem, q(NS_GROUPING, "group"), semantics="BUNDLE")
            for name in self.bundle:
                SubElement(group, q(NS_GROUPING, "content"), name=name)
        if self.bridge_session is not None:
            self.bridge_session.to_element(elem)
        if self.json_sources is not None:
            SubElement(elem, q(NS_JITMEET, "json-message")).text = self.json_sources
        if self.reason is not None:
            reason = SubElement(elem, q(NS_JINGLE, "reason"))
            SubElement(reason, q(NS_JINGLE, self.reason))
            if self.reason_text:
                SubElement(reason, q(NS_JINGLE, "text")).text = self.reason_text
        return elem


def parse_jingle(elem: Element | None) -> Jingle:
    if elem is None or elem.tag != q(NS_JINGLE, "jingle"):
        raise JingleError("no <jingle xmlns='urn:xmpp:jingle:1'> element")
    action = _req(elem, "action")
    action = LEGACY_ACTIONS.get(action, action)
    if action not in ACTIONS:
        raise JingleError(f"unknown Jingle action {action!r}")
    jingle = Jingle(
        action=action,
        sid=_req(elem, "sid"),
        initiator=elem.get("initiator"),
        responder=elem.get("responder"),
        contents=[Content.from_element(c) for c in elem.findall(q(NS_JINGLE, "content"))],
    )
    for group in elem.findall(q(NS_GROUPING, "group")):
        if group.get("semantics") == "BUNDLE":
            jingle.bundle = [_req(c, "name") for c in group.findall(q(NS_GROUPING, "content"))]
    session = elem.find(q(NS_FOCUS, "bridge-session"))
    if session is not None:
        jingle.bridge_session = BridgeSession.from_element(session)
    json_message = elem.find(q(NS_JITMEET, "json-message"))
    if json_message is not None:
        jingle.json_sources = json_message.text or ""
    ice_state = elem.find(q(NS_FOCUS, "ice-state"))
    if ice_state is not None:
        jingle.ice_state = (ice_state.text or "").strip()
    reason = elem.find(q(NS_JINGLE, "reason"))
    if reason is not None:
        for child in reason:
            tag = _local(child.tag)
            if tag == "text":
                jingle.reason_text = child.text
            elif tag in REASONS:
                jingle.reason = tag
    return jingle


def _child(parent: Element | None, ns: str, tag: str) -> Element:
    return Element(q(ns, tag)) if parent is None else SubElement(parent, q(ns, tag))
