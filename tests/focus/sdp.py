"""Jingle <-> SDP for test participants, the way lib-jitsi-meet maps them for the browser.

``offer_sdp`` turns the focus's ``session-initiate`` (plus later ``source-add``s) into the SDP
offer a browser would apply (one m-line per content, ``mid`` = content name, the bridge's transport
on each, remote sources as ``a=ssrc`` lines); ``session_accept`` turns the local answer back into
the participant's ``session-accept`` (transport with ``setup``, sources named ``<nick>-a0/-v0``).
"""

from __future__ import annotations

import re

from jitsi_py.common.stanzas.jingle import (
    Candidate,
    Content,
    Fingerprint,
    IceTransport,
    Jingle,
    PayloadType,
    Source,
    SsrcGroup,
)


def offer_sdp(offer: Jingle, remote: dict[str, tuple[list[Source], list[SsrcGroup]]]) -> str:
    lines = ["v=0", f"o=- {abs(hash(offer.sid)) % 10**12} 2 IN IP4 0.0.0.0", "s=-", "t=0 0",
             "a=msid-semantic: WMS *", "a=group:BUNDLE " + " ".join(c.name for c in offer.contents)]
    for content in offer.contents:
        transport = content.transport
        if content.media == "application":
            lines += ["m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0"]
        else:
            pts = " ".join(str(p.id) for p in content.payload_types)
            lines += [f"m={content.media} 9 UDP/TLS/RTP/SAVPF {pts}", "c=IN IP4 0.0.0.0"]
        lines += [f"a=ice-ufrag:{transport.ufrag}", f"a=ice-pwd:{transport.pwd}"]
        for fp in transport.fingerprints:
            lines.append(f"a=fingerprint:{fp.hash} {fp.value}")
        lines.append(f"a=setup:{transport.fingerprints[0].setup or 'actpass'}")
        lines.append(f"a=mid:{content.name}")
        for c in transport.candidates:
            lines.append(f"a=candidate:{c.foundation} {c.component} {c.protocol} {c.priority} {c.ip} {c.port} "
                         f"typ {c.type} generation {c.generation}")
        if content.media == "application":
            lines.append(f"a=sctp-port:{transport.sctp_port or 5000}")
            continue
        lines += ["a=sendrecv", "a=rtcp-mux"]
        for pt in content.payload_types:
            lines.append(f"a=rtpmap:{pt.id} {pt.name}/{pt.clockrate}" + (f"/{pt.channels}" if pt.channels else ""))
            if pt.parameters:
                lines.append(f"a=fmtp:{pt.id} " + ";".join(f"{k}={v}" for k, v in pt.parameters.items()))
            for fb in pt.rtcp_fb:
                lines.append(f"a=rtcp-fb:{pt.id} {fb.type}" + (f" {fb.subtype}" if fb.subtype else ""))
        for ext in content.header_extensions:
            lines.append(f"a=extmap:{ext.id} {ext.uri}")
        for sources, groups in remote.values():
            for group in groups:
                if group.media == content.media:
                    lines.append(f"a=ssrc-group:{group.semantics} " + " ".join(map(str, group.ssrcs)))
            for source in sources:
                if source.media == content.media:
                    lines.append(f"a=ssrc:{source.ssrc} cname:{source.owner or 'jvb'}")
                    if source.msid:
                        lines.append(f"a=ssrc:{source.ssrc} msid:{source.msid}")
    return "\r\n".join(lines) + "\r\n"


def session_accept(offer: Jingle, answer_sdp: str, nick: str, responder: str) -> Jingle:
    session, *sections = re.split(r"\r?\n(?=m=)", answer_sdp.strip())
    contents = []
    for section in sections:
        attrs = [line[2:] for line in section.splitlines() if line.startswith("a=")]
        media = section.split(" ", 1)[0][2:]
        mid = _one(attrs, "mid:")
        ufrag, pwd = _one(attrs, "ice-ufrag:", session), _one(attrs, "ice-pwd:", session)
        hash_name, value = (_one(attrs, "fingerprint:", session) or " ").split(" ", 1)
        transport = IceTransport(ufrag, pwd, fingerprints=[Fingerprint(hash_name, value, _one(attrs, "setup:", session),
                                                                       True)])
        for i, line in enumerate(a for a in attrs if a.startswith("candidate:")):
            parts = line[len("candidate:"):].split()
            transport.candidates.append(Candidate(int(parts[1]), parts[0], 0, f"{nick}{i}", parts[4], int(parts[5]),
                                                  int(parts[3]), parts[2].lower(), parts[7]))
        if media == "application":
            transport.sctp_port = 5000
            contents.append(Content(mid, media="application", transport=transport))
            continue
        offered = {p.id: p for c in offer.contents if c.name == mid for p in c.payload_types}
        pts = [offered[int(m.group(1))] for m in (re.match(r"rtpmap:(\d+) ", a) for a in attrs)
               if m and int(m.group(1)) in offered]
        msids: dict[int, str] = {}
        ssrcs: list[int] = []
        for a in attrs:
            m = re.match(r"ssrc:(\d+) (\w+):(.*)", a)
            if m:
                ssrc = int(m.group(1))
                if ssrc not in ssrcs:
                    ssrcs.append(ssrc)
                if m.group(2) == "msid":
                    msids[ssrc] = m.group(3)
        name = f"{nick}-{media[0]}0"
        content = Content(mid, media=media, payload_types=[PayloadType(p.id, p.name, p.clockrate, p.channels,
                                                                       p.parameters, p.rtcp_fb) for p in pts],
                          transport=transport, rtcp_mux=True,
                          sources=[Source(s, media, name, msids.get(s), "camera" if media == "video" else None)
                                   for s in ssrcs])
        for a in attrs:
            if a.startswith("ssrc-group:"):
                semantics, *group = a[len("ssrc-group:"):].split()
                content.ssrc_groups.append(SsrcGroup(semantics, tuple(int(s) for s in group), media))
        contents.append(content)
    return Jingle("session-accept", offer.sid, initiator=offer.initiator, responder=responder, contents=contents,
                  bundle=[c.name for c in contents])


def _one(attrs: list[str], prefix: str, session: str = "") -> str | None:
    for a in attrs:
        if a.startswith(prefix):
            return a[len(prefix):].strip()
    for line in session.splitlines():
        if line.startswith("a=" + prefix):
            return line[2 + len(prefix):].strip()
    return None
