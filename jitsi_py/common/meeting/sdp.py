"""Jingle <-> SDP for a participant, with one m-line per remote source as lib-jitsi-meet's unified plan
builds it: a pure mapping, no I/O.

The focus offers one content per medium (``audio``, ``video``, ``data``) plus the remote sources.
A WebRTC stack routes incoming RTP to a receiver by the SSRCs of its m-line, and aiortc takes only the
first SSRC of an m-line (and an RTX one beside it): remote sources all listed on the ``video`` m-line
would all land in one track. So, as a browser does, :class:`MediaLines` keeps the contents as the first
m-lines (what we send; ``mid`` = content name) and appends one ``sendonly`` m-line per remote source
(``mid`` ``s1``, ``s2``...). A removed source's m-line stays, ``inactive`` and without SSRCs: m-lines
may never be dropped or reordered in a later offer. Only the contents' m-lines go back to the focus in
``session-accept``: the extra ones exist between us and our WebRTC stack only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..stanzas.jingle import (
    Candidate,
    Content,
    Fingerprint,
    HeaderExtension,
    IceTransport,
    Jingle,
    JingleError,
    PayloadType,
    Source,
    SsrcGroup,
)
from ..stanzas.jitsi import decode_sources

BRIDGE_OWNER = "jvb"  # the bridge's own feedback sources: nothing is ever received on them
UNKNOWN_OWNER = "unknown"
# aiortc runs one REMB estimator per receiver, i.e. per m-line here, each reporting its own stream's
# rate as if it were the whole downlink: the bridge would believe the smallest and suspend the stage.
# Without abs-send-time aiortc sends no REMB, and the bridge keeps its initial estimate.
ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"


@dataclass(frozen=True)
class RemoteSource:
    """One named source of another endpoint: its primary SSRC first, then the RTX SSRC paired with it."""

    owner: str
    name: str
    media: str
    ssrcs: tuple[int, ...]
    msid: str | None = None
    video_type: str | None = None


def jingle_sources(jingle: Jingle) -> dict[str, tuple[list[Source], list[SsrcGroup]]]:
    """``{owner: (sources, groups)}`` of a Jingle IQ, whichever of the two forms it used (docs/focus.md §4).
    Raises ``JitsiStanzaError`` for malformed JSON sources."""
    if jingle.json_sources:
        return decode_sources(jingle.json_sources)
    by_owner: dict[str, tuple[list[Source], list[SsrcGroup]]] = {}
    owner_of: dict[int, str] = {}
    for content in jingle.contents:
        for source in content.sources:
            # without <ssrc-info owner>, the owner is what the source name starts with: <endpoint>-v0
            owner = source.owner or (source.name or "").rpartition("-")[0] or UNKNOWN_OWNER
            owner_of[source.ssrc] = owner
            by_owner.setdefault(owner, ([], []))[0].append(source)
    for content in jingle.contents:
        for group in content.ssrc_groups:
            group_owner = owner_of.get(group.ssrcs[0])
            if group_owner is not None:
                by_owner[group_owner][1].append(group)
    return by_owner


def named_sources(by_owner: dict[str, tuple[list[Source], list[SsrcGroup]]]) -> list[RemoteSource]:
    """One :class:`RemoteSource` per source name. The primary SSRC is the first of a SIM group (the
    bridge forwards the layer it picks on it), else the first SSRC; its FID partner is the RTX."""
    result = []
    for owner, (sources, groups) in by_owner.items():
        # An SSRC without a name (a simulcast layer, an RTX stream) belongs to the named one it is grouped with.
        names = {s.ssrc: s.name for s in sources if s.name}
        for group in groups:
            name = next((names[ssrc] for ssrc in group.ssrcs if ssrc in names), None)
            if name is not None:
                names.update({ssrc: name for ssrc in group.ssrcs if ssrc not in names})
        by_name: dict[str, list[Source]] = {}
        for source in sources:
            by_name.setdefault(names.get(source.ssrc) or f"{owner}-{source.media[0]}{source.ssrc}", []).append(source)
        for name, named in by_name.items():
            ssrcs = {s.ssrc for s in named}
            sim = next((g for g in groups if g.semantics == "SIM" and g.ssrcs[0] in ssrcs), None)
            primary = sim.ssrcs[0] if sim else named[0].ssrc
            rtx = next((g.ssrcs[1] for g in groups
                        if g.semantics == "FID" and len(g.ssrcs) == 2 and g.ssrcs[0] == primary), None)
            first = next(s for s in named if s.ssrc == primary)
            result.append(RemoteSource(owner, name, first.media, (primary,) if rtx is None else (primary, rtx),
                                       first.msid, first.video_type))
    return result


@dataclass
class MediaLine:
    mid: str
    media: str  # "audio" | "video" | "application"
    source: RemoteSource | None = None  # what arrives on it; None on the contents' own m-lines
    retired: bool = False


@dataclass
class MediaLines:
    """The m-lines of one Jingle session, in their fixed order, and the offer SDP they make."""

    offer: Jingle  # the session-initiate (or transport-replace): codecs, extensions, transport
    sending: frozenset[str] = frozenset()  # media we send on the contents' m-lines
    receiving: frozenset[str] = frozenset({"audio", "video"})
    lines: list[MediaLine] = field(default_factory=list)
    version: int = 1

    def __post_init__(self) -> None:
        if not self.lines:
            self.lines = [MediaLine(c.name, c.media or "application") for c in self.offer.contents
                          if self._template(c.media or "application") is c]

    def _template(self, media: str) -> Content | None:
        return next((c for c in self.offer.contents if (c.media or "application") == media), None)

    def active(self) -> dict[str, MediaLine]:
        """Source name -> the m-line it is received on."""
        return {line.source.name: line for line in self.lines if line.source and not line.retired}

    def add(self, sources: list[RemoteSource], own_endpoint: str) -> list[MediaLine]:
        """Appends an m-line per source not yet received; returns them."""
        active = self.active()
        added = []
        for source in sources:
            if (source.owner in (BRIDGE_OWNER, own_endpoint) or source.media not in self.receiving
                    or source.name in active or self._template(source.media) is None):
                continue
            line = MediaLine(f"s{len(self.lines)}", source.media, source)
            self.lines.append(line)
            active[source.name] = line
            added.append(line)
        if added:
            self.version += 1
        return added

    def remove(self, ssrcs: set[int], names: set[str]) -> list[MediaLine]:
        """Retires the m-lines of the sources named or owning one of ``ssrcs``; returns them."""
        removed = []
        for line in self.lines:
            if line.source and not line.retired and (line.source.name in names or ssrcs & set(line.source.ssrcs)):
                line.retired = True
                removed.append(line)
        if removed:
            self.version += 1
        return removed

    def sdp(self) -> str:
        offer = self.offer
        out = ["v=0", f"o=- {_session_id(offer.sid)} {self.version} IN IP4 0.0.0.0", "s=-", "t=0 0",
               "a=msid-semantic: WMS *", "a=group:BUNDLE " + " ".join(line.mid for line in self.lines)]
        # BUNDLE: one ICE/DTLS transport for every m-line, whichever content carries it in full
        transport = next((c.transport for c in offer.contents if c.transport and c.transport.fingerprints), None)
        if transport is None:
            raise JingleError("the offer has no transport with a DTLS fingerprint")
        for line in self.lines:
            content = self._template(line.media)
            assert content is not None  # __post_init__ and add() make lines only for offered media
            if line.media == "application":
                out += ["m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0"]
            else:
                pts = " ".join(str(p.id) for p in content.payload_types)
                out += [f"m={line.media} 9 UDP/TLS/RTP/SAVPF {pts}", "c=IN IP4 0.0.0.0"]
            out += [f"a=ice-ufrag:{transport.ufrag}", f"a=ice-pwd:{transport.pwd}"]
            out += [f"a=fingerprint:{fp.hash} {fp.value}" for fp in transport.fingerprints]
            out.append(f"a=setup:{transport.fingerprints[0].setup or 'actpass'}")
            out.append(f"a=mid:{line.mid}")
            out += [f"a=candidate:{c.foundation} {c.component} {c.protocol} {c.priority} {c.ip} {c.port} "
                    f"typ {c.type}" + (f" raddr {c.rel_addr} rport {c.rel_port}" if c.rel_addr else "")
                    + f" generation {c.generation}" for c in transport.candidates
                    if c.protocol == "udp"]  # aiortc's ICE is UDP only
            if line.media == "application":
                out.append(f"a=sctp-port:{(content.transport or transport).sctp_port or 5000}")
                continue
            out += [self._direction(line), "a=rtcp-mux"]
            for pt in content.payload_types:
                out.append(f"a=rtpmap:{pt.id} {pt.name}/{pt.clockrate}" + (f"/{pt.channels}" if pt.channels else ""))
                if pt.parameters:
                    out.append(f"a=fmtp:{pt.id} " + ";".join(f"{k}={v}" for k, v in pt.parameters.items()))
                out += [f"a=rtcp-fb:{pt.id} {fb.type}" + (f" {fb.subtype}" if fb.subtype else "") for fb in pt.rtcp_fb]
            out += [f"a=extmap:{ext.id} {ext.uri}" for ext in content.header_extensions if ext.uri != ABS_SEND_TIME]
            if line.source and not line.retired:
                source = line.source
                if len(source.ssrcs) == 2:
                    out.append("a=ssrc-group:FID " + " ".join(map(str, source.ssrcs)))
                msid = source.msid or f"{source.owner} {source.name}"
                for ssrc in source.ssrcs:
                    out += [f"a=ssrc:{ssrc} cname:{source.owner}", f"a=ssrc:{ssrc} msid:{msid}"]
        return "\r\n".join(out) + "\r\n"

    def _direction(self, line: MediaLine) -> str:
        if line.source is None:  # a content's own m-line: the remote end receives what we send
            return "a=recvonly" if line.media in self.sending else "a=inactive"
        return "a=inactive" if line.retired else "a=sendonly"


def _session_id(sid: str) -> int:
    return int.from_bytes(sid.encode()[:6].ljust(6, b"\0"), "big")


def answer_contents(offer: Jingle, answer_sdp: str, endpoint_id: str) -> list[Content]:
    """The contents of our ``session-accept`` (or ``transport-accept``) from the WebRTC answer: only the
    m-lines of the offer's contents; our sources named ``<endpoint>-a0`` / ``-v0``."""
    session, *sections = re.split(r"\r?\n(?=m=)", answer_sdp.strip())
    offered = {c.name: c for c in offer.contents}
    contents = []
    for section in sections:
        attrs = [line[2:] for line in section.splitlines() if line.startswith("a=")]
        media = section.split(" ", 1)[0][2:]
        mid = _one(attrs, "mid:")
        if mid not in offered:
            continue
        ufrag, pwd = _one(attrs, "ice-ufrag:", session), _one(attrs, "ice-pwd:", session)
        hash_name, value = (_one(attrs, "fingerprint:", session) or " ").split(" ", 1)
        transport = IceTransport(ufrag, pwd, fingerprints=[Fingerprint(hash_name, value, _one(attrs, "setup:", session),
                                                                       True)])
        for i, line in enumerate(a for a in attrs if a.startswith("candidate:")):
            parts = line[len("candidate:"):].split()
            transport.candidates.append(Candidate(int(parts[1]), parts[0], 0, f"{endpoint_id}{i}", parts[4],
                                                  int(parts[5]), int(parts[3]), parts[2].lower(), parts[7]))
        if media == "application":
            offered_transport = offered[mid].transport
            transport.sctp_port = offered_transport.sctp_port if offered_transport else None
            contents.append(Content(mid, media="application", transport=transport))
            continue
        by_id = {p.id: p for p in offered[mid].payload_types}
        pts = [by_id[int(m.group(1))] for m in (re.match(r"rtpmap:(\d+) ", a) for a in attrs)
               if m and int(m.group(1)) in by_id]
        msids: dict[int, str] = {}
        ssrcs: list[int] = []
        sending = "sendrecv" in attrs or "sendonly" in attrs  # aiortc lists an SSRC on every m-line
        for a in attrs if sending else ():
            m = re.match(r"ssrc:(\d+) (\w+):(.*)", a)
            if m:
                ssrc = int(m.group(1))
                if ssrc not in ssrcs:
                    ssrcs.append(ssrc)
                if m.group(2) == "msid":
                    msids[ssrc] = m.group(3)
        name = f"{endpoint_id}-{media[0]}0"
        media_msid = _one(attrs, "msid:")  # unified plan puts it on the m-line, not on each SSRC
        content = Content(mid, media=media, payload_types=[PayloadType(p.id, p.name, p.clockrate, p.channels,
                                                                       p.parameters, p.rtcp_fb) for p in pts],
                          header_extensions=[HeaderExtension(int(m.group(1)), m.group(2)) for m in
                                             (re.match(r"extmap:(\d+) (\S+)", a) for a in attrs) if m],
                          transport=transport, rtcp_mux=True,
                          sources=[Source(s, media, name, msids.get(s, media_msid),
                                          "camera" if media == "video" else None)
                                   for s in ssrcs])
        for a in attrs if sending else ():
            if a.startswith("ssrc-group:"):
                semantics, *group = a[len("ssrc-group:"):].split()
                content.ssrc_groups.append(SsrcGroup(semantics, tuple(int(s) for s in group), media))
        contents.append(content)
    return contents


def session_accept(offer: Jingle, answer_sdp: str, endpoint_id: str, responder: str,
                   action: str = "session-accept") -> Jingle:
    contents = answer_contents(offer, answer_sdp, endpoint_id)
    return Jingle(action, offer.sid, initiator=offer.initiator, responder=responder, contents=contents,
                  bundle=[c.name for c in contents])


def _one(attrs: list[str], prefix: str, session: str = "") -> str | None:
    for a in attrs:
        if a.startswith(prefix):
            return a[len(prefix):].strip()
    for line in session.splitlines():
        if line.startswith("a=" + prefix):
            return line[2 + len(prefix):].strip()
    return None
