"""The focus's Jingle: the offer it makes, what it reads from answers (docs/focus.md §3-4). Pure.

``Offer`` holds the codecs and header extensions chosen from settings; ``session_initiate``
copies the bridge's transport into every content, adds the sources of the others (JSON for
clients that advertise it, XML otherwise). ``read_sources`` takes a participant's sources from a
``session-accept`` / ``source-add`` / ``source-remove``; ``validate_sources`` applies jicofo's
limits and uniqueness rules and raises :class:`SourceError` (sent back as ``bad-request``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Mapping

from ..common.stanzas.colibri2 import Media
from ..common.stanzas.jingle import (
    BridgeSession,
    Content,
    HeaderExtension,
    IceTransport,
    Jingle,
    PayloadType,
    RtcpFb,
    Source,
    SsrcGroup,
)
from ..common.stanzas.jitsi import (
    FEATURE_AUDIO,
    FEATURE_JSON_SOURCES,
    FEATURE_OPUS_RED,
    FEATURE_REMB,
    FEATURE_RTX,
    FEATURE_SCTP,
    FEATURE_TCC,
    FEATURE_VIDEO,
    JitsiStanzaError,
    decode_sources,
    encode_sources,
)

if TYPE_CHECKING:
    from ..settings.focus import Focus as FocusSettings

AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
TRANSPORT_CC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
SDES_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
AV1_DEPENDENCY_DESCRIPTOR = "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension"
VIDEO_LAYERS_ALLOCATION = "http://www.webrtc.org/experiments/rtp-hdrext/video-layers-allocation00"

Sources = tuple[list[Source], list[SsrcGroup]]


class SourceError(ValueError):
    """Sources a participant may not announce; the text goes back in the ``bad-request``."""


@dataclass(frozen=True)
class Offer:
    """The codecs and header extensions of every offer: jicofo's defaults, switched by settings."""

    vp8: bool = True
    vp9: bool = True
    av1: bool = True
    h264: bool = True
    opus_red: bool = False
    tcc: bool = True
    remb: bool = False
    mid: bool = False
    vla: bool = False

    @classmethod
    def from_settings(cls, focus: FocusSettings) -> Offer:
        return cls(vp8=focus.codec_vp8, vp9=focus.codec_vp9, av1=focus.codec_av1, h264=focus.codec_h264,
                   opus_red=focus.codec_opus_red, tcc=focus.enable_tcc, remb=focus.enable_remb,
                   mid=focus.enable_mid, vla=focus.enable_vla)

    def audio(self, *, tcc: bool = True, red: bool = True) -> Media:
        fb = [RtcpFb("transport-cc")] if tcc else []
        pts = [PayloadType(111, "opus", 48000, 2, {"minptime": "10", "useinbandfec": "1"}, fb)]
        if red:
            pts.insert(0, PayloadType(112, "red", 48000, 2))
        pts.append(PayloadType(126, "telephone-event", 8000))
        exts = [HeaderExtension(1, AUDIO_LEVEL), HeaderExtension(3, ABS_SEND_TIME)]
        if tcc:
            exts.append(HeaderExtension(5, TRANSPORT_CC))
        if self.mid:
            exts.append(HeaderExtension(10, SDES_MID))
        return Media("audio", pts, exts, extmap_allow_mixed=True)

    def video(self, *, tcc: bool = True, remb: bool = False, rtx: bool = True) -> Media:
        """Primary payload types in jicofo's order, then their RTX in the same order."""
        fb = [RtcpFb("ccm", "fir"), RtcpFb("nack"), RtcpFb("nack", "pli")]
        rtx_fb = list(fb)
        if remb:
            fb.append(RtcpFb("goog-remb"))
        if tcc:
            fb.append(RtcpFb("transport-cc"))
        codecs = [(pt, rtx_pt, name, params) for enabled, pt, rtx_pt, name, params in (
            (self.av1, 41, 42, "AV1", {}),
            (self.vp8, 100, 96, "VP8", {}),
            (self.h264, 107, 99, "H264", {"profile-level-id": "42e01f", "level-asymmetry-allowed": "1",
                                          "packetization-mode": "1"}),
            (self.vp9, 101, 97, "VP9", {}),
        ) if enabled]
        pts = [PayloadType(pt, name, 90000, None, dict(params), list(fb)) for pt, _, name, params in codecs]
        if rtx:
            pts += [PayloadType(rtx_pt, "rtx", 90000, None, {"apt": str(pt)}, list(rtx_fb))
                    for pt, rtx_pt, _, _ in codecs]
        exts = [HeaderExtension(3, ABS_SEND_TIME)]
        if tcc:
            exts.append(HeaderExtension(5, TRANSPORT_CC))
        if self.mid:
            exts.append(HeaderExtension(10, SDES_MID))
        if self.av1:
            exts.append(HeaderExtension(11, AV1_DEPENDENCY_DESCRIPTOR))
        if self.vla:
            exts.append(HeaderExtension(12, VIDEO_LAYERS_ALLOCATION))
        return Media("video", pts, exts, extmap_allow_mixed=True)

    def media(self, features: Iterable[str]) -> list[Media]:
        """What one participant is offered: RTX, transport-cc, REMB and RED only when its disco
        features say it supports them (REMB only without transport-cc), as jicofo does."""
        features = set(features)
        tcc = self.tcc and FEATURE_TCC in features
        found = []
        if FEATURE_AUDIO in features:
            found.append(self.audio(tcc=tcc, red=self.opus_red and FEATURE_OPUS_RED in features))
        if FEATURE_VIDEO in features:
            found.append(self.video(tcc=tcc, remb=not tcc and self.remb and FEATURE_REMB in features,
                                    rtx=FEATURE_RTX in features))
        return found


def session_initiate(offer: Offer, *, sid: str, initiator: str, transport: IceTransport,
                     features: Iterable[str], sctp_port: int | None, remote: Mapping[str, Sources],
                     bridge_session: str, region: str | None = None) -> Jingle:
    features = set(features)
    contents = []
    for media in offer.media(features):
        content = Content(media.type, media=media.type, payload_types=media.payload_types,
                          header_extensions=media.header_extensions,
                          extmap_allow_mixed=media.extmap_allow_mixed, rtcp_mux=True,
                          maxptime=60 if media.type == "audio" else None, transport=_copy(transport))
        contents.append(content)
    if sctp_port is not None and FEATURE_SCTP in features:
        data = _copy(transport)
        data.sctp_port = sctp_port
        contents.append(Content("data", media="application", transport=data))
    jingle = Jingle("session-initiate", sid, initiator=initiator, contents=contents,
                    bundle=[c.name for c in contents], bridge_session=BridgeSession(bridge_session, region))
    _put_sources(jingle, features, remote)
    return jingle


def source_update(action: str, *, sid: str, features: Iterable[str], remote: Mapping[str, Sources]) -> Jingle:
    """``source-add`` / ``source-remove`` carrying ``remote`` (owner -> sources) to one participant."""
    jingle = Jingle(action, sid)
    _put_sources(jingle, set(features), remote)
    return jingle


def session_terminate(sid: str, reason: str = "success", text: str | None = None,
                      bridge_session: str | None = None) -> Jingle:
    return Jingle("session-terminate", sid, reason=reason, reason_text=text,
                  bridge_session=BridgeSession(bridge_session) if bridge_session else None)


def transport_info(sid: str, transport: IceTransport) -> Jingle:
    return Jingle("transport-info", sid, contents=[Content("audio", transport=_copy(transport))])


def _put_sources(jingle: Jingle, features: set[str], remote: Mapping[str, Sources]) -> None:
    if FEATURE_JSON_SOURCES in features:
        jingle.json_sources = encode_sources(remote)
        return
    by_media: dict[str, Content] = {c.name: c for c in jingle.contents}
    for owner, (sources, groups) in remote.items():
        for source in sources:
            content = by_media.get(source.media)
            if content is None:
                content = by_media[source.media] = Content(source.media, media=source.media, senders=None)
                jingle.contents.append(content)
            content.sources.append(Source(source.ssrc, source.media, source.name, source.msid,
                                          source.video_type, owner))
        for group in groups:
            content = by_media.get(group.media)
            if content is not None:
                content.ssrc_groups.append(group)


def _copy(transport: IceTransport) -> IceTransport:
    return IceTransport(transport.ufrag, transport.pwd, list(transport.candidates), list(transport.fingerprints),
                        True, list(transport.web_sockets), None, transport.ice_generation)


# --- reading the participant's side -----------------------------------------------------------------

def read_sources(jingle: Jingle, owner: str) -> Sources:
    """The sources a participant announces, XML or JSON, attributed to ``owner``."""
    sources: list[Source] = []
    groups: list[SsrcGroup] = []
    if jingle.json_sources:
        try:
            decoded = decode_sources(jingle.json_sources)
        except JitsiStanzaError as exc:
            raise SourceError(str(exc)) from None
        for owned, owned_groups in decoded.values():
            sources.extend(owned)
            groups.extend(owned_groups)
    for content in jingle.contents:
        sources.extend(content.sources)
        groups.extend(content.ssrc_groups)
    return ([Source(s.ssrc, s.media, s.name, s.msid, s.video_type, owner) for s in sources], groups)


def read_transport(jingle: Jingle) -> IceTransport | None:
    """The participant's (bundled) transport: the first content that has one."""
    return next((c.transport for c in jingle.contents if c.transport is not None), None)


def initial_last_n(jingle: Jingle) -> int | None:
    video = jingle.content("video")
    return video.initial_last_n if video is not None else None


def validate_sources(owner: str, current: Sources, added: Sources, others: Iterable[int], *,
                     max_ssrcs: int, max_groups: int) -> Sources:
    """``current`` plus ``added``, or :class:`SourceError`; ``others`` are SSRCs other endpoints use."""
    taken = set(others)
    sources = list(current[0])
    groups = list(current[1])
    own = {s.ssrc for s in sources}
    for source in added[0]:
        if source.ssrc in taken:
            raise SourceError(f"SSRC {source.ssrc} is already used in the conference")
        if source.ssrc == 0:
            raise SourceError("SSRC 0 is not valid")
        if source.ssrc not in own:
            sources.append(source)
            own.add(source.ssrc)
    for group in added[1]:
        if group not in groups:
            groups.append(group)
    for group in groups:
        missing = [s for s in group.ssrcs if s not in own]
        if missing:
            raise SourceError(f"{group.semantics} group refers to unknown SSRC {missing[0]}")
        if group.semantics == "FID" and len(group.ssrcs) != 2:
            raise SourceError("an FID group needs exactly two SSRCs")
    msids: dict[str, str | None] = {}
    for source in sources:
        name = source.name or f"{owner}-{source.media[0]}0"
        if name in msids and source.msid and msids[name] and msids[name] != source.msid:
            raise SourceError(f"source {name} has more than one msid")
        msids.setdefault(name, source.msid)
    if len(sources) > max_ssrcs:
        raise SourceError(f"too many SSRCs ({len(sources)} > {max_ssrcs})")
    if len(groups) > max_groups:
        raise SourceError(f"too many SSRC groups ({len(groups)} > {max_groups})")
    return sources, groups


def remove_sources(current: Sources, removed: Sources) -> Sources:
    gone = {s.ssrc for s in removed[0]}
    return ([s for s in current[0] if s.ssrc not in gone],
            [g for g in current[1] if not gone.intersection(g.ssrcs)])


def strip_simulcast(sources: Sources) -> Sources:
    """What the others see of one endpoint: the first SSRC of each SIM group and its RTX."""
    ssrcs, groups = sources
    dropped: set[int] = set()
    for group in groups:
        if group.semantics == "SIM":
            dropped.update(group.ssrcs[1:])
    for group in groups:
        if group.semantics == "FID" and group.ssrcs[0] in dropped:
            dropped.update(group.ssrcs[1:])
    return ([s for s in ssrcs if s.ssrc not in dropped],
            [g for g in groups if g.semantics != "SIM" and not dropped.intersection(g.ssrcs)])

