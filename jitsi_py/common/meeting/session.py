"""One Jingle session on one aiortc peer connection: the offer made SDP (one m-line per remote source,
``sdp.MediaLines``), our answer made ``session-accept``, and the remote sources' tracks as events.

A new session (a new ``session-initiate``, a ``transport-replace``) is a new :class:`MediaSession`:
a peer connection is never carried over to another bridge.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiortc import MediaStreamTrack, RTCBundlePolicy, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from .. import telephone_event
from ..stanzas.jingle import Jingle
from . import events
from .audio import InlineAudioTrack
from .sdp import MediaLine, MediaLines, RemoteSource, jingle_sources, named_sources, session_accept

# aiortc logs a warning per video frame it cannot decode; a participant that joins while cameras are on
# gets frames ahead of the first key frame it asked for, a few dozen lines per join and nothing to act on
logging.getLogger("aiortc.rtcrtpreceiver").setLevel(logging.ERROR)


class LentTrack(MediaStreamTrack):
    """The caller's track as one session sends it. aiortc stops a sender's track when its peer
    connection closes; lent, the caller's own track outlives the session, so that the next one (the
    focus moved us to another bridge) sends it too."""

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.kind = source.kind
        self.source = source

    async def recv(self):
        return await self.source.recv()


class MediaSession:
    def __init__(self, offer: Jingle, endpoint_id: str, *, tracks=(), receiving=frozenset({"audio", "video"}),
                 on_event: Callable[[object], None] = lambda event: None,
                 video_type_of: Callable[[str, str], str | None] = lambda owner, name: None,
                 inline_audio: bool = False, shared_decoders: bool = False) -> None:
        """``tracks``: aiortc tracks we send, at most one per kind, lent (never stopped by the session);
        ``on_event`` gets TrackAdded and TrackRemoved; ``video_type_of(owner, source name)`` when
        Jingle did not say (presence does); ``inline_audio``: remote audio tracks are
        :class:`InlineAudioTrack`, decoded as the packets come, with ``shared_decoders`` by the
        process's one decoder of each source."""
        self.offer = offer
        self.endpoint_id = endpoint_id
        self.tracks = [LentTrack(t) for t in tracks]
        self.lines = MediaLines(offer, frozenset(t.kind for t in self.tracks), frozenset(receiving))
        # max-bundle: with aiortc's default (balanced), an m-line made in the same offer as an earlier one
        # of its kind takes that one's transport before BUNDLE moves the earlier one to the first m-line's,
        # and is left on a transport that never starts (a late joiner got no video of sources already there)
        self.pc = RTCPeerConnection(RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        self.senders: dict = {}
        self.announced: dict[str, MediaLine] = {}  # source name -> its m-line, for tracks we reported
        self._on_event = on_event
        self._video_type_of = video_type_of
        self._lock = asyncio.Lock()  # one offer/answer at a time on the peer connection
        audio = next((c for c in offer.contents if c.media == "audio"), None)
        self._tone_pt = _payload_type(audio, "telephone-event")
        self._opus_pt = _payload_type(audio, "opus") if inline_audio else None
        self._inline: dict[object, InlineAudioTrack] = {}  # receiver -> its track, with inline_audio
        self._shared_decoders = shared_decoders
        self.closed = False

    @property
    def sid(self) -> str:
        return self.offer.sid

    async def answer(self, responder: str, action: str = "session-accept",
                     sources: list[RemoteSource] | None = None) -> Jingle:
        """Our answer to the offer, as the Jingle to send (``transport-accept`` for a transport-replace,
        whose remote ``sources`` are those of the session it replaces)."""
        async with self._lock:
            self.lines.add(named_sources(jingle_sources(self.offer)) if sources is None else sources,
                           self.endpoint_id)
            await self._negotiate()
            return session_accept(self.offer, self.pc.localDescription.sdp, self.endpoint_id, responder, action)

    async def add_sources(self, jingle: Jingle) -> None:
        """A ``source-add`` of this session: an m-line (and a track) per new source."""
        async with self._lock:
            if not self.closed and self.lines.add(named_sources(jingle_sources(jingle)), self.endpoint_id):
                await self._negotiate()

    async def remove_sources(self, jingle: Jingle) -> None:
        """A ``source-remove`` of this session: those tracks end and their m-lines go inactive."""
        async with self._lock:
            if self.closed:
                return
            sources = [s for owned, _groups in jingle_sources(jingle).values() for s in owned]
            removed = self.lines.remove({s.ssrc for s in sources}, {s.name for s in sources if s.name})
            if not removed:
                return
            transceivers = {t.mid: t for t in self.pc.getTransceivers()}
            for line in removed:
                if line.source and self.announced.pop(line.source.name, None) is not None:
                    self._on_event(events.TrackRemoved(line.source.owner, line.source.name))
                    if line.mid in transceivers:
                        receiver = transceivers[line.mid].receiver
                        await _end(receiver, self._inline.pop(receiver, None))
            await self._negotiate()

    def remote_sources(self) -> list[RemoteSource]:
        return [line.source for line in self.lines.active().values() if line.source]

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for name, line in self.announced.items():
            if line.source is not None:
                self._on_event(events.TrackRemoved(line.source.owner, name))
        self.announced.clear()
        receivers = [t.receiver for t in self.pc.getTransceivers()]
        await self.pc.close()
        for receiver in receivers:
            await _end(receiver, self._inline.pop(receiver, None))

    def _attach_tracks(self) -> None:
        """Our tracks go on the transceivers aiortc made for the contents' own m-lines. Added before the
        offer (addTrack), a video track's transceiver would be aiortc's first but BUNDLE's second, and
        max-bundle would stop its transport, the one every m-line shares: nothing would connect."""
        by_mid = {t.mid: t for t in self.pc.getTransceivers()}
        for track in self.tracks:
            line = next((m for m in self.lines.lines if m.source is None and m.media == track.kind), None)
            transceiver = by_mid.get(line.mid) if line is not None else None
            if transceiver is None:
                continue  # the offer has no content of that kind: nothing to send it on
            transceiver.direction = "sendonly"
            transceiver.sender.replaceTrack(track)
            if hasattr(track.source, "audio_level"):
                _levels_from(transceiver.sender, track.source)
            self.senders[track.kind] = transceiver.sender

    async def _negotiate(self) -> None:
        pc = self.pc
        await pc.setRemoteDescription(RTCSessionDescription(self.lines.sdp(), "offer"))
        if len(self.senders) < len(self.tracks):
            self._attach_tracks()
        await pc.setLocalDescription(await pc.createAnswer())
        by_mid = {t.mid: t for t in pc.getTransceivers()}
        for line in self.lines.lines:
            source = line.source
            if source is None or line.retired or source.name in self.announced:
                continue
            transceiver = by_mid.get(line.mid)
            if transceiver is None or transceiver.receiver.track is None:
                continue
            self.announced[source.name] = line
            video_type = None
            track = transceiver.receiver.track
            if source.media == "audio" and self._tone_pt is not None:
                self._take_tones(transceiver.receiver, source.owner, self._tone_pt)
            if source.media == "audio" and self._opus_pt is not None:
                shared = (source.name, source.ssrcs[0]) if self._shared_decoders else None
                track = self._decode_inline(transceiver.receiver, self._opus_pt, shared)
            if source.media == "video":
                video_type = source.video_type or self._video_type_of(source.owner, source.name) or "camera"
            self._on_event(events.TrackAdded(source.owner, source.name, source.media, video_type, track))


    def _take_tones(self, receiver, owner: str, pt: int) -> None:
        """aiortc has no telephone-event, and its RTP router drops a payload type the receiver did not
        negotiate: the digits a browser sends in its audio (RFC 4733, RTCDTMFSender) are routed to the
        receiver all the same, and taken out before it decodes."""
        receiver.transport._rtp_router.payload_type_table.setdefault(pt, set()).add(receiver)
        handle = receiver._handle_rtp_packet
        digits = telephone_event.Receiver()

        async def taking_tones(packet, arrival_time_ms: int) -> None:
            if packet.payload_type != pt:
                await handle(packet, arrival_time_ms)
                return
            digit = digits.feed(packet.timestamp, packet.payload)
            if digit is not None:
                self._on_event(events.Dtmf(owner, digit))
        setattr(receiver, "_handle_rtp_packet", taking_tones)  # noqa: B010 - an instance's, not the class's


    def _decode_inline(self, receiver, pt: int, shared: tuple[str, int] | None) -> InlineAudioTrack:
        """The receiver's Opus packets go to an InlineAudioTrack before aiortc's jitter buffer and
        decoder thread see them (aiortc keeps the rest: RTCP, telephone-events)."""
        track = self._inline[receiver] = InlineAudioTrack(shared)
        handle = receiver._handle_rtp_packet

        async def decoding(packet, arrival_time_ms: int) -> None:
            if packet.payload_type == pt:
                level = packet.extensions.audio_level
                track.feed(packet.payload, level[1] if level is not None else None, packet.sequence_number)
            else:
                await handle(packet, arrival_time_ms)
        setattr(receiver, "_handle_rtp_packet", decoding)  # noqa: B010 - an instance's, not the class's
        return track


def _levels_from(sender, source) -> None:
    """aiortc measures the level (RFC 6464, what the bridge picks the dominant speaker by) of the frames
    it encodes, not of packets encoded already: a source of packets says each one's level in its
    ``audio_level`` as recv() returns it."""
    next_frame = sender._next_encoded_frame

    async def with_level(codec):
        frame = await next_frame(codec)
        if frame is not None and frame.audio_level is None:
            frame.audio_level = source.audio_level
        return frame
    setattr(sender, "_next_encoded_frame", with_level)  # noqa: B010 - an instance's, not the class's


def _payload_type(content, name: str) -> int | None:
    if content is None:
        return None
    return next((p.id for p in content.payload_types if p.name.lower() == name), None)


async def _end(receiver, inline: InlineAudioTrack | None = None) -> None:
    """Stops a receiver so its track ends: a waiting recv() raises MediaStreamError once the decoder
    stops; a receiver that never started (no media yet) has no decoder, so its track is ended too."""
    await receiver.stop()
    if receiver.track is not None:
        receiver.track.stop()
    if inline is not None:
        inline.stop()
