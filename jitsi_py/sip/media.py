"""A call's media: the RTP/RTCP sockets on the JIGASI port range, and the 20 ms clock that moves audio
both ways between the phone and the meeting.

* Phone to meeting: RTP into the jitter buffer; on each tick one frame is decoded (or concealed) and
  handed to :class:`PhoneTrack`, the aiortc track the meeting client sends.
* Meeting to phone: each remote audio track of the meeting is read into a short queue; on each tick
  one frame of each is summed (numpy), encoded and sent, so the phone hears everyone but itself.
* Symmetric RTP, latched as Asterisk's strictrtp: the phone's source is learnt from its first packets
  (LATCH_PACKETS in a row from one address with one SSRC), then only that source is taken and we send to
  it, so a phone behind NAT hears us and a host that guesses the port cannot take the call's media. The
  same SSRC coming from a new address LATCH_PACKETS times in a row (a NAT rebinding) latches again; a new
  address in the SDP starts the learning over. Until the first latch we send to the SDP's address.

One :class:`MediaClock` ticks every call; nothing per packet is logged or allocated beyond the bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import secrets
import time
from collections import deque
from typing import Any, Callable

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ..common import telephone_event
from ..common.meeting.audio import MIN_LEVEL, InlineAudioTrack, audio_level, mono_s16
from . import rtp
from .audio import FRAME, RATE, MeetingEncoder, Transcoder
from .jitterbuffer import JitterBuffer
from .sdes import Protection, SrtpError
from .sdp import TELEPHONE_EVENT, AudioDescription, Codec

log = logging.getLogger(__name__)

TICK = 0.02
TIME_BASE = fractions.Fraction(1, RATE)
MAX_QUEUED = 5  # frames a meeting source or the phone track may run ahead: bounds the added latency
RTCP_INTERVAL = 5.0
TONE_TICKS = 5  # a digit sent to the phone lasts 100 ms (RFC 4733 events, one update per tick)
TONE_ENDS = 3  # its end packet is sent three times (RFC 4733 §2.5.1.4)
MAX_TONES = 32
LATCH_PACKETS = 4  # packets in a row from one address with one SSRC that (re)latch the source
Addr = tuple[str, int]


class PortPool:
    """Even RTP ports (RTCP on the next odd one) from the JIGASI_PORT_MIN..MAX range."""

    def __init__(self, low: int, high: int) -> None:
        first = low + (low & 1)
        self.free = deque(range(first, high, 2))

    def take(self) -> int | None:
        return self.free.popleft() if self.free else None

    def give_back(self, port: int) -> None:
        self.free.append(port)


class PhoneTrack(MediaStreamTrack):
    """What the phone says, as the meeting client's audio source: one Opus packet (48 kHz mono) per tick
    of the media clock (recv waits for it). aiortc sends a packet as it is, where it would encode a frame
    on its executor's thread."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._packets: asyncio.Queue[tuple[av.Packet, int]] = asyncio.Queue()
        self.audio_level = MIN_LEVEL  # of the packet recv() returned last (aiortc measures only frames)
        self._encoder: MeetingEncoder | None = None
        self._pts = 0
        self.muted = False

    def push(self, pcm: np.ndarray) -> None:
        """20 ms of the phone's audio at its codec's rate (a new encoder when that changes)."""
        if self.readyState != "live":
            return
        if self._encoder is None or self._encoder.silence.size != pcm.size:
            self._encoder = MeetingEncoder(pcm.size * 50)
        if self.muted:
            pcm = self._encoder.silence
        packet = av.Packet(self._encoder.encode(pcm))
        packet.pts, packet.time_base = self._pts, TIME_BASE
        self._pts += FRAME
        while self._packets.qsize() >= MAX_QUEUED:
            self._packets.get_nowait()
        self._packets.put_nowait((packet, audio_level(pcm)))

    async def recv(self) -> av.Packet:  # aiortc's sender takes packets too
        if self.readyState != "live":
            raise MediaStreamError
        packet, self.audio_level = await self._packets.get()
        return packet


def _framer(queue: deque[np.ndarray]) -> Callable[[np.ndarray], None]:
    """Audio of any length into `queue` as 20 ms frames; a sender's 20 ms packets go in as they are."""
    pending = np.zeros(0, np.int16)

    def take(pcm: np.ndarray) -> None:
        nonlocal pending
        if pcm.size == FRAME and not pending.size:
            queue.append(pcm)
            return
        rest = np.concatenate([pending, pcm])
        while rest.size >= FRAME:
            queue.append(rest[:FRAME])
            rest = rest[FRAME:]
        pending = rest
    return take


class _RtpProtocol(asyncio.DatagramProtocol):
    def __init__(self, media: CallMedia, rtcp: bool) -> None:
        self.media, self.rtcp = media, rtcp

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.rtcp:
            self.media.rtcp_received(addr)
        else:
            self.media.rtp_received(data, addr)


class CallMedia:
    """The media of one call, bound to one RTP/RTCP port pair."""

    def __init__(self, port: int, address: str, on_digit: Callable[[str], None]) -> None:
        """``address``: the local address the sockets bind (the SDP may advertise another)."""
        self.port, self.address = port, address
        self.on_digit = on_digit
        self.track = PhoneTrack()
        self.sources: dict[str, deque[np.ndarray]] = {}
        self.buffer = JitterBuffer()
        self.transcoder: Transcoder | None = None
        self.pt = self.dtmf_pt = -1
        self.dtmf_step = TELEPHONE_EVENT.clock // 50  # set by start() from the SDP
        self.remote: Addr | None = None
        self.remote_rtcp: Addr | None = None
        self.source: Addr | None = None  # the latched source of the phone's RTP; None while learning it
        self._source_ssrc = -1
        self._candidate: tuple[Addr, int] | None = None  # (address, SSRC) that may (re)latch
        self._candidate_packets = 0
        self.sending = False  # the phone takes our media: not while it holds the call
        self._signalled: Addr | None = None  # where the phone's latest SDP said it listens
        self.protection: Protection | None = None  # SDES-SRTP, when the SDP exchanged keys
        self._rtp: asyncio.DatagramTransport | None = None
        self._rtcp: asyncio.DatagramTransport | None = None
        self._digits = telephone_event.Receiver()
        self._tones: deque[str] = deque()  # digits from the meeting, for the phone (RFC 4733)
        self._tone_start = self._tone_ticks = 0
        self._ssrc = secrets.randbits(32)
        self._seq = secrets.randbits(16)
        self._timestamp = secrets.randbits(32)
        self._first = True
        self._readers: dict[str, asyncio.Task[None]] = {}
        self._inline: dict[str, InlineAudioTrack] = {}
        self._next_rtcp = 0.0
        self._prompt: deque[np.ndarray] = deque()
        self.sent_packets = self.sent_octets = self.bad_packets = 0
        self.stray_packets = 0  # authentic RTP from an address that is not the latched source: dropped

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._rtp, _ = await loop.create_datagram_endpoint(lambda: _RtpProtocol(self, False),
                                                           local_addr=(self.address, self.port))
        self._rtcp, _ = await loop.create_datagram_endpoint(lambda: _RtpProtocol(self, True),
                                                            local_addr=(self.address, self.port + 1))

    def start(self, remote: AudioDescription, pt: int, codec: Codec) -> None:
        """The codec the offer/answer settled on, and where the peer's SDP says it listens; again on
        each re-INVITE (hold, resume, another codec or address)."""
        if self.transcoder is None or self.transcoder.codec != codec or pt != self.pt:
            self.transcoder = Transcoder(codec)
            self.buffer = JitterBuffer()  # what is queued was encoded with the codec before
        self.pt = pt
        dtmf_pt, dtmf_clock = remote.telephone_event(codec)
        self.dtmf_pt = dtmf_pt if dtmf_pt is not None else -1
        # an event's duration counts in telephone-event's clock (RFC 4733 §2.5.1.3), which is not the
        # audio's when an Opus call (48 kHz) took telephone-event/8000; its timestamp stays the stream's
        self.dtmf_step = dtmf_clock // 50
        if self.sending != remote.receives:
            self.sending = remote.receives
            self._first = True  # a talkspurt starts (RFC 3551 §4.1): the marker bit
        signalled = (remote.address, remote.port)
        if remote.receives and signalled != self._signalled:
            # A new address in the SDP wins over the source we latched onto: learn it again.
            self._signalled, self.source, self._candidate = signalled, None, None
            self.remote = signalled
            self.remote_rtcp = (remote.address, remote.rtcp_port or remote.port + 1)

    # ---- the network side ----

    def rtp_received(self, data: bytes, addr: Addr) -> None:
        if self.protection is not None:
            try:
                data = self.protection.unprotect(data)
            except SrtpError:
                self.bad_packets += 1
                return
        try:
            pt, _marker, seq, timestamp, ssrc, offset = rtp.read_header(data)
        except rtp.RtpError:
            self.bad_packets += 1
            return
        if not self._from_source(addr, ssrc):
            self.stray_packets += 1
            return
        if pt == self.pt:
            self.buffer.put(seq, data[offset:])
        elif pt == self.dtmf_pt:
            digit = self._digits.feed(timestamp, data[offset:])
            if digit is not None:
                self.on_digit(digit)
        else:
            self.bad_packets += 1

    def _from_source(self, addr: Addr, ssrc: int) -> bool:
        """Whether a packet from ``addr`` is the phone's. While learning, every packet is taken (the phone is
        heard from its first) and LATCH_PACKETS in a row from one address and SSRC latch it; once latched,
        only the source's, unless the source's SSRC comes from elsewhere LATCH_PACKETS times in a row with
        none from the source between (a NAT rebinding): then that address is the source."""
        if addr == self.source:
            self._source_ssrc, self._candidate = ssrc, None
            return True
        if self.source is not None and ssrc != self._source_ssrc:
            return False
        if self._candidate == (addr, ssrc):
            self._candidate_packets += 1
        else:
            self._candidate, self._candidate_packets = (addr, ssrc), 1
        if self._candidate_packets < LATCH_PACKETS:
            return self.source is None
        if self.source is not None:
            log.info("sip: RTP on port %d moved from %s:%d to %s:%d (SSRC %08x)", self.port, *self.source, *addr, ssrc)
        self.source, self.remote, self._source_ssrc, self._candidate = addr, addr, ssrc, None
        return True

    def rtcp_received(self, addr: Addr) -> None:
        # symmetric RTCP as well, from the host of the latched source only; its reports are not used
        if self.source is not None and addr[0] == self.source[0]:
            self.remote_rtcp = addr

    # ---- the meeting side ----

    def add_source(self, name: str, track: MediaStreamTrack) -> None:
        queue: deque[np.ndarray] = deque(maxlen=MAX_QUEUED)
        self.sources[name] = queue
        if isinstance(track, InlineAudioTrack):  # decoded as its packets come: into the queue at once
            track.sink = _framer(queue)
            self._inline[name] = track
        else:
            self._readers[name] = asyncio.ensure_future(self._read(name, track, queue))

    def remove_source(self, name: str) -> None:
        self.sources.pop(name, None)
        reader = self._readers.pop(name, None)
        if reader is not None:
            reader.cancel()
        inline = self._inline.pop(name, None)
        if inline is not None:
            inline.sink = None

    @staticmethod
    async def _read(name: str, track: MediaStreamTrack, queue: deque[np.ndarray]) -> None:
        take = _framer(queue)
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if isinstance(frame, av.AudioFrame):
                    take(mono_s16(frame))

    # ---- every 20 ms ----

    def tick(self, now: float) -> None:
        if self.transcoder is None:
            return
        playing, payload = self.buffer.pop()
        if playing:
            pcm = self.transcoder.decode(payload) if payload is not None else self.transcoder.conceal()
        else:
            pcm = self.transcoder.silence
        self.track.push(pcm)
        if not self.sending or self.remote is None or self._rtp is None:
            # on hold: the RTP clock runs on, so the timestamps after it tell the time that passed
            self._timestamp = (self._timestamp + self.transcoder.timestamp_step) & 0xFFFFFFFF
            return
        if self._tones:
            packet = self._tone_packet(self.dtmf_step)
        else:
            if self._prompt:
                out = self._prompt.popleft()
            else:
                mix = np.zeros(FRAME, np.int32)
                for queue in self.sources.values():
                    if queue:
                        mix += queue.popleft()
                out = np.clip(mix, -32768, 32767).astype(np.int16)
            packet = rtp.write(self.pt, self._first, self._seq, self._timestamp, self._ssrc,
                               self.transcoder.encode(out))
            self._first = False
        self._seq = (self._seq + 1) & 0xFFFF
        self._timestamp = (self._timestamp + self.transcoder.timestamp_step) & 0xFFFFFFFF
        self._rtp.sendto(packet if self.protection is None else self.protection.protect(packet), self.remote)
        self.sent_packets += 1
        self.sent_octets += len(packet) - rtp.HEADER.size
        if now >= self._next_rtcp and self._rtcp is not None and self.remote_rtcp is not None:
            self._next_rtcp = now + RTCP_INTERVAL
            report = rtp.sender_report(self._ssrc, time.time(), self._timestamp, self.sent_packets,
                                       self.sent_octets)
            self._rtcp.sendto(report if self.protection is None else self.protection.protect_rtcp(report),
                              self.remote_rtcp)

    def send_tone(self, digit: str) -> bool:
        """Queue a digit for the phone as RFC 4733 events; False when the phone took no telephone-event.
        Beyond MAX_TONES queued, digits are dropped."""
        if self.dtmf_pt < 0:
            return False
        if len(self._tones) < MAX_TONES:
            self._tones.append(digit)
        return True

    def _tone_packet(self, step: int) -> bytes:
        """The next packet of the digit at the head of the queue, in place of this tick's audio: its
        start (marker) with this tick's timestamp, which all its packets keep, updates of its
        duration, then its end three times."""
        if self._tone_ticks == 0:
            self._tone_start = self._timestamp
        self._tone_ticks += 1
        ticks = min(self._tone_ticks, TONE_TICKS)
        body = telephone_event.payload(self._tones[0], ticks * step, self._tone_ticks >= TONE_TICKS)
        packet = rtp.write(self.dtmf_pt, self._tone_ticks == 1, self._seq, self._tone_start, self._ssrc, body)
        if self._tone_ticks == TONE_TICKS + TONE_ENDS - 1:
            self._tones.popleft()
            self._tone_ticks = 0
        return packet

    def play(self, pcm: np.ndarray) -> None:
        """48 kHz audio the phone hears instead of the meeting until it is over (a prompt, a tone)."""
        padded = np.concatenate([pcm.astype(np.int16), np.zeros(-pcm.size % FRAME, np.int16)])
        self._prompt.extend(padded.reshape(-1, FRAME))

    def close(self) -> None:
        for name in list(self.sources):
            self.remove_source(name)
        self.track.stop()
        for transport in (self._rtp, self._rtcp):
            if transport is not None:
                transport.close()


class MediaClock:
    """One 20 ms clock for every call: late ticks are caught up (a few at most), never skipped silently."""

    def __init__(self) -> None:
        self.calls: set[CallMedia] = set()
        self.late_ticks = 0
        self._task: asyncio.Task[None] | None = None

    def add(self, media: CallMedia) -> None:
        self.calls.add(media)
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def discard(self, media: CallMedia) -> None:
        self.calls.discard(media)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            now = loop.time()
            if now < next_tick:
                await asyncio.sleep(next_tick - now)
                now = loop.time()
            behind = int((now - next_tick) / TICK)
            if behind > 3:  # a stall: skip what cannot be caught up, the jitter buffers rebuffer
                self.late_ticks += behind
                next_tick += behind * TICK
            for media in list(self.calls):
                try:
                    media.tick(now)
                except Exception:  # noqa: BLE001 - one call's failure must not stop the others
                    log.exception("sip: media of the call on port %d failed", media.port)
                    self.calls.discard(media)
            next_tick += TICK

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
