"""Jitsi's own XMPP extensions: a wire codec, no behaviour.

* the conference request and logout IQs of ``http://jitsi.org/protocol/focus`` (docs/focus.md §1);
* presence extensions the focus reads or writes (docs/focus.md §2, docs/colibri2.md §2);
* the compact JSON source format (docs/focus.md §4.1);
* the mute IQ (docs/focus.md §6) and the bridge health check.

Plain dataclasses over ``xml.etree.ElementTree`` elements, like ``jingle.py``; bad input raises
:class:`JitsiStanzaError` with a precise message. For example::

    iq.xml.append(ConferenceIq("room@muc.meet.jitsi", machine_uid=uid).to_element())   # request
    answer = ConferenceIq.from_element(result.xml.find(q(NS_FOCUS, "conference")))
    answer.ready, answer.focus_jid, answer.properties["authentication"]
    by_owner = decode_sources(jingle.json_sources)   # {"jvb" | endpoint id: ([Source], [SsrcGroup])}
    stats = bridge_stats(presence.xml)                # {"stress_level": "0.07", ...} or None
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping
from urllib.parse import quote_plus, unquote_plus
from xml.etree.ElementTree import Element, SubElement

from .. import ns
from .jingle import NS_COLIBRI, NS_FOCUS, NS_JITMEET, Source, SsrcGroup, q

NS_HEALTHCHECK = ns.JITSI_HEALTH
NS_MUTE_AUDIO = ns.JITSI_MUTE_AUDIO
NS_MUTE_VIDEO = ns.JITSI_MUTE_VIDEO
NS_MUTE_DESKTOP = ns.JITSI_MUTE_DESKTOP
MUTE_NAMESPACES = {NS_MUTE_AUDIO: "audio", NS_MUTE_VIDEO: "video", NS_MUTE_DESKTOP: "desktop"}
NS_CAPS = ns.CAPS
NS_ETHERPAD = ns.JITSI_ETHERPAD

# Disco features of a participant the focus acts on (docs/focus.md §2.2).
FEATURE_AUDIO = "urn:xmpp:jingle:apps:rtp:audio"
FEATURE_VIDEO = "urn:xmpp:jingle:apps:rtp:video"
FEATURE_SCTP = "urn:xmpp:jingle:transports:dtls-sctp:1"
FEATURE_JSON_SOURCES = "http://jitsi.org/json-encoded-sources"
FEATURE_SOURCE_NAMES = "http://jitsi.org/source-name"
FEATURE_SSRC_REWRITING = "http://jitsi.org/ssrc-rewriting-1"
FEATURE_RECEIVE_MULTIPLE_VIDEO = "http://jitsi.org/receive-multiple-video-streams"
FEATURE_RTX = "urn:ietf:rfc:4588"
FEATURE_TCC = "http://jitsi.org/tcc"
FEATURE_REMB = "http://jitsi.org/remb"
FEATURE_OPUS_RED = "http://jitsi.org/opus-red"
# What the focus assumes when a participant's disco#info fails, as jicofo does.
DEFAULT_FEATURES = frozenset({FEATURE_AUDIO, FEATURE_VIDEO, FEATURE_SCTP})


class JitsiStanzaError(ValueError):
    """A malformed Jitsi extension; the message names the element and the fault."""


# --- Conference request (docs/focus.md §1) -------------------------------------------------------------

@dataclass
class ConferenceIq:
    """``<conference xmlns=focus>``, both the request and the answer."""

    room: str
    machine_uid: str | None = None
    session_id: str | None = None
    token: str | None = None
    ready: bool | None = None
    focus_jid: str | None = None
    identity: str | None = None
    vnode: str | None = None
    properties: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_element(cls, elem: Element | None) -> "ConferenceIq":
        if elem is None or elem.tag != q(NS_FOCUS, "conference"):
            raise JitsiStanzaError("no <conference xmlns='http://jitsi.org/protocol/focus'> element")
        room = elem.get("room")
        if not room:
            raise JitsiStanzaError("No 'room' specified.")
        ready = elem.get("ready")
        return cls(
            room=room,
            machine_uid=elem.get("machine-uid"),
            session_id=elem.get("session-id"),
            token=elem.get("token"),
            ready=None if ready is None else ready.lower() == "true",
            focus_jid=elem.get("focusjid"),
            identity=elem.get("identity"),
            vnode=elem.get("vnode"),
            properties={p.get("name") or "": p.get("value") or ""
                        for p in elem.findall(q(NS_FOCUS, "property")) if p.get("name")},
        )

    def to_element(self) -> Element:
        elem = Element(q(NS_FOCUS, "conference"), room=self.room)
        for name, value in (
            ("machine-uid", self.machine_uid), ("session-id", self.session_id), ("token", self.token),
            ("ready", None if self.ready is None else str(self.ready).lower()),
            ("focusjid", self.focus_jid), ("identity", self.identity), ("vnode", self.vnode),
        ):
            if value is not None:
                elem.set(name, value)
        for name, value in self.properties.items():
            SubElement(elem, q(NS_FOCUS, "property"), name=name, value=value)
        return elem


@dataclass
class LogoutIq:
    """``<logout xmlns=focus>``: the request names the authentication session to end; the answer
    may carry a URL the user should visit to finish logging out (docs/focus.md §1.3), form-encoded on
    the wire as jicofo writes it."""

    session_id: str | None = None
    logout_url: str | None = None

    @classmethod
    def from_element(cls, elem: Element | None) -> "LogoutIq":
        if elem is None or elem.tag != q(NS_FOCUS, "logout"):
            raise JitsiStanzaError("no <logout xmlns='http://jitsi.org/protocol/focus'> element")
        return cls(session_id=elem.get("session-id") or None,
                   logout_url=unquote_plus(elem.get("logout-url") or "") or None)

    def to_element(self) -> Element:
        elem = Element(q(NS_FOCUS, "logout"))
        if self.session_id:
            elem.set("session-id", self.session_id)
        if self.logout_url:
            elem.set("logout-url", quote_plus(self.logout_url))
        return elem


def session_invalid() -> Element:
    """Application condition of a ``not-acceptable`` answer for an unknown ``session-id``."""
    return Element(q(NS_FOCUS, "session-invalid"))


# --- Presence extensions --------------------------------------------------------------------------

def bridge_stats(presence: Element) -> dict[str, str] | None:
    """``<stats xmlns=colibri>`` of a brewery occupant; None when absent (not a bridge)."""
    stats = presence.find(q(NS_COLIBRI, "stats"))
    if stats is None:
        return None
    return {s.get("name") or "": s.get("value") or "" for s in stats.findall(q(NS_COLIBRI, "stat"))
            if s.get("name")}


def build_bridge_stats(stats: Mapping[str, object]) -> Element:
    elem = Element(q(NS_COLIBRI, "stats"))
    for name, value in stats.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        SubElement(elem, q(NS_COLIBRI, "stat"), name=name, value=text)
    return elem


@dataclass
class ParticipantPresence:
    """What the focus reads from a participant's MUC presence (docs/focus.md §2.2)."""

    region: str | None = None
    stats_id: str | None = None
    caps_node: str | None = None
    caps_ver: str | None = None
    caps_hash: str | None = None
    audio_muted: bool | None = None
    video_muted: bool | None = None
    source_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    # <features><feature var/></features>: what a recorder, gateway or transcriber says it is
    features: frozenset[str] = frozenset()

    @classmethod
    def from_element(cls, presence: Element) -> "ParticipantPresence":
        info = cls()
        for child in presence:
            # lib-jitsi-meet adds these without a namespace of their own: match the local name.
            tag = child.tag.rsplit("}", 1)[-1]
            text = (child.text or "").strip()
            if tag == "jitsi_participant_region":
                info.region = text or None
            elif tag == "stats-id":
                info.stats_id = text or None
            elif child.tag == q(NS_CAPS, "c"):
                info.caps_node, info.caps_ver, info.caps_hash = child.get("node"), child.get("ver"), child.get("hash")
            elif tag == "audiomuted":
                info.audio_muted = text == "true"
            elif tag == "videomuted":
                info.video_muted = text == "true"
            elif tag == "features":
                info.features = frozenset(f.get("var") or "" for f in child
                                          if f.tag.rsplit("}", 1)[-1] == "feature") - {""}
            elif tag == "SourceInfo":
                try:
                    parsed = json.loads(text or "{}")
                except (ValueError, RecursionError):  # RecursionError: nested too deep
                    parsed = {}
                if isinstance(parsed, dict):
                    info.source_info = {k: v for k, v in parsed.items() if isinstance(v, dict)}
        return info


def focus_versions(version: str) -> Element:
    elem = Element(q(NS_JITMEET, "versions"))
    SubElement(elem, "component", name="focus").text = version
    return elem


def conference_properties(properties: Mapping[str, str]) -> Element:
    elem = Element(q(NS_FOCUS, "conference-properties"))
    for key, value in properties.items():
        SubElement(elem, q(NS_FOCUS, "property"), key=key, value=value)
    return elem


def bridge_not_available() -> Element:
    return Element(q(NS_FOCUS, "bridgeNotAvailable"))


# --- Mute IQ and health check ---------------------------------------------------------------------

@dataclass
class MuteIq:
    media: str  # "audio" | "video" | "desktop"
    jid: str
    mute: bool
    actor: str | None = None

    @classmethod
    def from_element(cls, elem: Element) -> "MuteIq":
        ns = elem.tag[1:].split("}", 1)[0] if elem.tag.startswith("{") else ""
        media = MUTE_NAMESPACES.get(ns)
        if media is None or not elem.tag.endswith("}mute"):
            raise JitsiStanzaError(f"not a Jitsi mute element: {elem.tag}")
        jid = elem.get("jid")
        value = (elem.text or "").strip().lower()
        if not jid or value not in ("true", "false"):
            raise JitsiStanzaError("<mute> needs a 'jid' and a true/false value")
        return cls(media, jid, value == "true", elem.get("actor"))

    def to_element(self) -> Element:
        ns = next(ns for ns, media in MUTE_NAMESPACES.items() if media == self.media)
        elem = Element(q(ns, "mute"), jid=self.jid)
        if self.actor:
            elem.set("actor", self.actor)
        elem.text = str(self.mute).lower()
        return elem


def healthcheck() -> Element:
    return Element(q(NS_HEALTHCHECK, "healthcheck"))


# --- Compact JSON sources (docs/focus.md §4.1) ---------------------------------------------------------

_GROUP_CODES = {"SIM": "s", "FID": "f"}
_GROUP_SEMANTICS = {code: semantics for semantics, code in _GROUP_CODES.items()}


def encode_sources(by_owner: Mapping[str, tuple[Iterable[Source], Iterable[SsrcGroup]]]) -> str:
    """``{owner: (sources, groups)}`` -> the text of ``<json-message>``; compact, as clients send it."""
    out: dict[str, list[list[Any]]] = {}
    for owner, (sources, groups) in by_owner.items():
        video: list[Any] = []
        audio: list[Any] = []
        video_groups: list[Any] = []
        audio_groups: list[Any] = []
        for source in sources:
            item: dict[str, object] = {"s": source.ssrc}
            if source.name:
                item["n"] = source.name
            if source.msid:
                item["m"] = source.msid
            if source.video_type == "desktop":
                item["v"] = "d"
            (video if source.media == "video" else audio).append(item)
        for group in groups:
            code = _GROUP_CODES.get(group.semantics)
            if code is None:
                continue  # the compact format has no code for it; clients ignore such groups
            (video_groups if group.media == "video" else audio_groups).append([code, *group.ssrcs])
        entry = [video, video_groups, audio]
        if audio_groups:
            entry.append(audio_groups)
        out[owner] = entry
    return json.dumps({"sources": out}, separators=(",", ":"))


def _ssrc(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFFFFFF


def _optional_text(item: dict[str, object], key: str) -> bool:
    return isinstance(item.get(key), (str, type(None)))


def decode_sources(text: str) -> dict[str, tuple[list[Source], list[SsrcGroup]]]:
    """What ``<json-message>`` carries; :class:`JitsiStanzaError` for anything the XML form could
    not say either (an SSRC outside 32 bits, a name that is not text)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise JitsiStanzaError(f"json-message is not JSON: {exc}") from None
    sources = data.get("sources") if isinstance(data, dict) else None
    if not isinstance(sources, dict):
        raise JitsiStanzaError("json-message has no 'sources' object")
    result: dict[str, tuple[list[Source], list[SsrcGroup]]] = {}
    for owner, entry in sources.items():
        if not isinstance(entry, list) or len(entry) < 3:
            raise JitsiStanzaError(f"sources of {owner!r} are not [video, videoGroups, audio, ...]")
        owned: list[Source] = []
        groups: list[SsrcGroup] = []
        for media, items, group_items in (("video", entry[0], entry[1]),
                                          ("audio", entry[2], entry[3] if len(entry) > 3 else [])):
            if not isinstance(items, list) or not isinstance(group_items, list):
                raise JitsiStanzaError(f"sources of {owner!r} are not [video, videoGroups, audio, ...]")
            for item in items:
                if (not isinstance(item, dict) or not _ssrc(item.get("s")) or not _optional_text(item, "n")
                        or not _optional_text(item, "m")):
                    raise JitsiStanzaError(f"bad source {item!r} of {owner!r}")
                owned.append(Source(item["s"], media, item.get("n"), item.get("m"),
                                    "desktop" if item.get("v") == "d" else None, owner))
            for group in group_items:
                if (not isinstance(group, list) or len(group) < 2 or not isinstance(group[0], str)
                        or group[0] not in _GROUP_SEMANTICS or not all(_ssrc(s) for s in group[1:])):
                    raise JitsiStanzaError(f"bad source group {group!r} of {owner!r}")
                groups.append(SsrcGroup(_GROUP_SEMANTICS[group[0]], tuple(group[1:]), media))
        result[owner] = (owned, groups)
    return result
