"""The media cores: SDP offer/answer, RTP header, jitter buffer with loss and reordering, DTMF both
ways, and each codec carrying a tone through encode and decode."""

import asyncio
import socket
from collections import deque
from fractions import Fraction

import numpy as np
import pytest

from jitsi_py.common import telephone_event
from jitsi_py.sip import dtmf, rtp, sdp
from jitsi_py.sip.audio import FRAME, Transcoder, _Resampler
from jitsi_py.sip.jitterbuffer import JitterBuffer
from jitsi_py.sip.media import LATCH_PACKETS, MAX_QUEUED, TONE_ENDS, TONE_TICKS, CallMedia, PhoneTrack, _framer

from ..support.stack import free_rtp_port

BARESIP_OFFER = (  # the shape baresip sends
    b"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 10000 RTP/AVP 96 9 0 8 101\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 stereo=1\r\n"
    b"a=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\na=ptime:20\r\n"
    b"m=video 10002 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n"
)


def test_the_answer_takes_the_offerers_first_codec_and_refuses_video():
    offer = sdp.parse(BARESIP_OFFER)
    assert (offer.address, offer.port, offer.dtmf_pt) == ("127.0.0.1", 10000, 101)
    assert list(offer.codecs) == [96, 9, 0, 8] and offer.codecs[96] == sdp.OPUS
    answer = sdp.answer(offer, "127.0.0.1", 20000)
    assert answer.first == (96, sdp.OPUS) and answer.dtmf_pt == 101
    text = sdp.serialize(answer, 1)
    assert b"m=audio 20000 RTP/AVP 96 101\r\n" in text and b"m=video 0 RTP/AVP 97" in text
    again = sdp.parse(text)
    assert again.first == (96, sdp.OPUS) and again.port == 20000
    only_g711 = sdp.answer(offer, "127.0.0.1", 20000, preference=(sdp.PCMA,))
    assert only_g711.first == (8, sdp.PCMA)


def test_an_offer_without_a_common_codec_is_refused():
    offer = BARESIP_OFFER.replace(b"96 9 0 8 101", b"18 101").split(b"a=rtpmap:96")[0] + b"a=rtpmap:18 G729/8000\r\n"
    with pytest.raises(sdp.SdpError, match="no common codec"):
        sdp.answer(sdp.parse(offer), "127.0.0.1", 20000)
    with pytest.raises(sdp.SdpError, match="no audio"):
        sdp.parse(b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=video 1 RTP/AVP 97\r\n")
    with pytest.raises(sdp.SdpError):
        sdp.parse(b"v=0\r\nm=audio x RTP/AVP 0\r\n")


def test_rtp_headers_read_back_and_rtcp_is_told_apart():
    packet = rtp.write(96, True, 65535, 2 ** 32 - 1, 0xABCD, b"payload")
    assert rtp.read_header(packet) == (96, True, 65535, 2 ** 32 - 1, 0xABCD, 12)
    report = rtp.sender_report(1, 1.7e9, 0, 0, 0)
    assert (report[1], len(report)) == (200, 28)  # an SR without report blocks
    with pytest.raises(rtp.RtpError):
        rtp.read_header(b"\x80\x00\x00")
    with pytest.raises(rtp.RtpError, match="version"):
        rtp.read_header(b"\x40" + packet[1:])


def test_the_jitter_buffer_reorders_conceals_and_resynchronises():
    buffer = JitterBuffer(capacity=8, delay=3)
    for seq in (65534, 0, 65535):  # reordered around the wrap
        buffer.put(seq, seq.to_bytes(2, "big"))
    played = [buffer.pop() for _ in range(3)]
    assert played == [(True, b"\xff\xfe"), (True, b"\xff\xff"), (True, b"\x00\x00")]
    buffer.put(2, b"two")  # 1 never comes
    assert [buffer.pop(), buffer.pop()] == [(True, None), (True, b"two")]
    buffer.put(1, b"late")
    assert buffer.late == 1 and buffer.lost == 1
    assert buffer.pop() == (True, None)  # 3 is not here yet: concealed, still expected
    buffer.put(3, b"three")
    assert buffer.pop() == (True, b"three") and buffer.concealed == 1
    assert [buffer.pop() for _ in range(4)][-1] == (False, None)  # silent past the delay: buffers again
    buffer.put(30000, b"far")  # a jump past the capacity: a new start
    assert buffer.pop() == (False, None)


def test_the_jitter_buffer_never_lets_its_delay_creep_up():
    buffer = JitterBuffer(capacity=32, delay=2, slack=2)
    buffer.put(0, b"0")
    buffer.put(1, b"1")
    assert buffer.pop() == (True, b"0")
    for seq in range(2, 12):  # a burst: ten packets at once
        buffer.put(seq, str(seq).encode())
    assert buffer.pop() == (True, b"10") and buffer.skipped == 9
    assert buffer.depth == 1


def event(digit: str, end: bool, duration: int) -> bytes:
    """One RFC 4733 payload: event, E bit and volume 10, duration."""
    return bytes([telephone_event.EVENTS.index(digit), (0x80 if end else 0) | 10]) + duration.to_bytes(2, "big")


def test_dtmf_events_and_info_bodies():
    five = [event("5", False, 160), event("5", False, 320), *[event("5", True, 480)] * 3]  # updates, 3 ends
    receiver = telephone_event.Receiver()
    digits = [receiver.feed(1000, p) for p in five] + [receiver.feed(2600, event("#", False, 160))]
    assert [d for d in digits if d] == ["5", "#"]
    assert receiver.feed(2800, b"\x05") is None  # truncated
    assert telephone_event.payload("5", 480, True) == five[-1] and telephone_event.payload("#", 160, False) == \
        event("#", False, 160)
    assert dtmf.parse_info("application/dtmf-relay", b"Signal=9\r\nDuration=160\r\n") == "9"
    assert dtmf.parse_info("application/dtmf", b"11") == "#"
    assert dtmf.parse_info("application/json", b"{}") is None


class Sent:
    def __init__(self) -> None:
        self.packets: list[bytes] = []

    def sendto(self, data: bytes, _addr) -> None:
        self.packets.append(data)


def test_a_digit_for_the_phone_replaces_the_audio_with_rfc_4733_events_then_the_audio_resumes():
    media = CallMedia(40000, "127.0.0.1", lambda _digit: None)
    media._rtp = sent = Sent()
    assert not media.send_tone("5")  # no telephone-event yet: the gateway sends SIP INFO instead
    media.start(sdp.AudioDescription("127.0.0.1", 5004, {0: sdp.PCMU}, dtmf_pt=101), 0, sdp.PCMU)
    media.tick(0.0)
    assert media.send_tone("5") and media.send_tone("#")
    for i in range(2 * (TONE_TICKS + TONE_ENDS - 1) + 1):
        media.tick(0.02 * (i + 1))
    headers = [rtp.read_header(p) for p in sent.packets]
    payloads = [p[12:] for p in sent.packets]
    five, hash_, after = (slice(1, TONE_TICKS + TONE_ENDS), slice(TONE_TICKS + TONE_ENDS, -1), headers[-1])
    assert [h[0] for h in headers[five]] == [101] * (TONE_TICKS + TONE_ENDS - 1)
    assert {h[3] for h in headers[five]} == {headers[0][3] + 160}  # one timestamp: the event's start
    assert [h[1] for h in headers[five]] == [True] + [False] * (TONE_TICKS + TONE_ENDS - 2)
    assert payloads[five][0] == event("5", False, 160)
    assert payloads[five][TONE_TICKS - 1:] == [event("5", True, 160 * TONE_TICKS)] * TONE_ENDS
    assert payloads[hash_][0] == event("#", False, 160) and headers[hash_][0][3] > headers[five][0][3]
    assert after[0] == 0 and [h[2] for h in headers] == [(headers[0][2] + i) & 0xFFFF for i in range(len(headers))]


@pytest.mark.parametrize("events_clock", [8000, 48000])
def test_an_opus_calls_digits_last_100_ms_in_the_clock_its_telephone_events_took(events_clock):
    """RFC 4733: durations count in telephone-event's clock, which an Opus call may have taken at 8 kHz
    (the audio's clock is 48 kHz); the timestamps stay the stream's."""
    offer = sdp.parse(
        b"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        b"m=audio 10000 RTP/AVP 96 101 102\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n"
        + (b"a=rtpmap:102 telephone-event/48000\r\n" if events_clock == 48000 else b"") + b"a=sendrecv\r\n")
    assert (offer.dtmf_pt, offer.dtmf_clock) == ((102, 48000) if events_clock == 48000 else (101, 8000))
    answer = sdp.serialize(sdp.answer(offer, "127.0.0.1", 20000), 1)
    assert f"a=rtpmap:{offer.dtmf_pt} telephone-event/{events_clock}\r\n".encode() in answer
    assert sdp.parse(answer).dtmf_clock == events_clock
    media = CallMedia(40000, "127.0.0.1", lambda _digit: None)
    media._rtp = sent = Sent()
    media.start(offer, 96, sdp.OPUS)
    media.tick(0.0)
    assert media.send_tone("7")
    for i in range(TONE_TICKS + TONE_ENDS):
        media.tick(0.02 * (i + 1))
    headers = [rtp.read_header(p) for p in sent.packets]
    payloads = [p[12:] for p in sent.packets]
    tone = slice(1, TONE_TICKS + TONE_ENDS)
    step = events_clock // 50
    assert [h[0] for h in headers[tone]] == [offer.dtmf_pt] * (TONE_TICKS + TONE_ENDS - 1)
    assert {h[3] for h in headers[tone]} == {headers[0][3] + 960}  # the stream's 48 kHz clock
    assert payloads[tone][0] == event("7", False, step)
    assert payloads[tone][TONE_TICKS - 1:] == [event("7", True, step * TONE_TICKS)] * TONE_ENDS  # 100 ms
    assert headers[-1][0] == 96 and headers[-1][3] == headers[0][3] + 960 * (TONE_TICKS + TONE_ENDS)


def test_the_telephone_event_answered_is_the_one_at_the_answered_codecs_clock():
    """An offer with telephone-event at 48 kHz (for its Opus) and 8 kHz: a PCMU answer takes the 8 kHz
    one, and the digits sent to the phone count their durations in it."""
    offer = sdp.parse(
        b"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        b"m=audio 10000 RTP/AVP 96 0 101 102\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n"
        b"a=rtpmap:101 telephone-event/48000\r\na=rtpmap:102 telephone-event/8000\r\na=sendrecv\r\n")
    assert (offer.dtmf_pt, offer.dtmf_clock) == (101, 48000)  # the first codec's
    answer = sdp.answer(offer, "127.0.0.1", 20000, preference=(sdp.PCMU,))
    assert answer.first == (0, sdp.PCMU) and (answer.dtmf_pt, answer.dtmf_clock) == (102, 8000)
    assert b"m=audio 20000 RTP/AVP 0 102\r\n" in sdp.serialize(answer, 1)
    assert b"a=rtpmap:102 telephone-event/8000\r\n" in sdp.serialize(answer, 1)
    opus = sdp.answer(offer, "127.0.0.1", 20000)
    assert opus.first == (96, sdp.OPUS) and (opus.dtmf_pt, opus.dtmf_clock) == (101, 48000)
    media = CallMedia(40000, "127.0.0.1", lambda _digit: None)
    media._rtp = out = Sent()
    media.start(offer, *answer.first)
    media.tick(0.0)
    assert media.send_tone("3")
    media.tick(0.02)
    header, payload = rtp.read_header(out.packets[-1]), out.packets[-1][12:]
    assert header[0] == 102 and payload == event("3", False, 160)


@pytest.mark.parametrize("codec", sdp.CODECS, ids=lambda c: c.name)
def test_each_codec_carries_a_tone_and_conceals_a_loss(codec):
    t = np.arange(FRAME * 25) / 48000
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    sender, receiver = Transcoder(codec), Transcoder(codec)
    out = [receiver.decode(sender.encode(tone[i * FRAME:(i + 1) * FRAME])) for i in range(25)]
    assert {o.size for o in out} == {receiver.samples} and receiver.samples * 50 == receiver.rate == codec.clock \
        or codec == sdp.G722 and receiver.rate == 16000  # G.722's RTP clock is 8000 (RFC 3551)
    samples = np.concatenate(out[5:]).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / receiver.rate)
    assert spectrum[np.abs(freqs - 440) < 20].sum() / spectrum.sum() > 0.9
    assert 4000 < np.sqrt(np.mean(samples ** 2)) < 7000
    faded = [receiver.conceal() for _ in range(4)]
    assert np.abs(faded[0]).max() > np.abs(faded[2]).max() > 0 and not faded[3].any()


def _tone_share(samples: np.ndarray, hz: float = 440) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / 48000)
    return float(spectrum[np.abs(freqs - hz) < 20].sum() / spectrum.sum())


async def test_the_phone_track_hands_the_meeting_client_opus_packets_on_the_media_clock():
    """aiortc sends the packets as they are: their timestamps step 20 ms, they decode to what the phone
    said, and only the newest MAX_QUEUED wait when nobody reads."""
    t = np.arange(FRAME * 30) / 48000
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    track = PhoneTrack()
    for i in range(30):
        track.push(tone[i * FRAME:(i + 1) * FRAME])
    packets = [await track.recv() for _ in range(MAX_QUEUED)]
    assert track._packets.empty()
    assert [p.pts for p in packets] == [FRAME * i for i in range(30 - MAX_QUEUED, 30)]
    assert all(p.time_base == Fraction(1, 48000) for p in packets)
    for rate in (48000, 16000, 8000):  # an Opus phone's, G.722's, G.711's: encoded at the phone's rate
        receiver = Transcoder(sdp.OPUS)
        track = PhoneTrack()
        heard = []
        step = rate // 50
        at_rate = np.ascontiguousarray(tone[::48000 // rate])
        for i in range(30):
            track.push(at_rate[i * step:(i + 1) * step])
            packet = await track.recv()
            assert packet.pts == i * FRAME  # the RTP clock of Opus is 48 kHz whatever the input
            heard.append(receiver.decode(bytes(packet)))
        assert {h.size for h in heard} == {FRAME} and _tone_share(np.concatenate(heard[5:])) > 0.9, rate
        assert track.audio_level == -15  # the last packet's: a sine of 8000 is 15 dB under full scale
        track.muted = True
        for _ in range(3):  # Opus's look-ahead: the first muted packet still ends the tone
            track.push(at_rate[:step])
            muted = receiver.decode(bytes(await track.recv()))
        assert np.abs(muted).max() < 100


def test_a_meeting_sources_audio_is_queued_in_20_ms_frames_whatever_its_packets_length():
    queue: deque = deque(maxlen=MAX_QUEUED)
    take = _framer(queue)
    whole = np.arange(FRAME, dtype=np.int16)
    take(whole)
    assert queue.pop() is whole  # a 20 ms packet goes in as it is
    ramp = np.arange(4 * FRAME, dtype=np.int16)
    for piece in np.split(ramp, 8):  # 10 ms packets
        take(piece)
    take(ramp[:3 * FRAME])  # then 60 ms at once
    assert [q.size for q in queue] == [FRAME] * MAX_QUEUED  # the oldest dropped
    assert np.array_equal(np.concatenate(queue), np.concatenate([ramp[2 * FRAME:], ramp[:3 * FRAME]]))


def test_going_down_to_8_khz_filters_out_what_it_cannot_carry():
    t = np.arange(FRAME * 20) / 48000
    down = _Resampler(48000, 8000)
    for hz, kept in ((440, True), (6000, False)):  # 6 kHz is above 8 kHz's Nyquist: it must not alias
        wave = (8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)
        out = np.concatenate([down(wave[i * FRAME:(i + 1) * FRAME]) for i in range(20)])[160:]
        assert out.size == 19 * 160
        rms = np.sqrt(np.mean(out.astype(np.float64) ** 2))
        assert (rms > 5000) if kept else (rms < 50), (hz, rms)


async def test_the_phones_rtp_source_is_latched_and_only_its_ssrc_from_elsewhere_moves_it():
    """Real loopback sockets: the source learnt from LATCH_PACKETS packets in a row, a stranger's packets
    dropped and counted (whatever SSRC it sends, while the source goes on sending), a NAT rebinding (the
    source's SSRC from a new address, LATCH_PACKETS in a row) followed, a new SDP address learnt again."""
    phone, stranger, rebound, moved = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4))
    for sock in (phone, stranger, rebound, moved):
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
    media = CallMedia(free_rtp_port(), "127.0.0.1", lambda _digit: None)
    await media.open()
    seq = 0

    async def send(sock: socket.socket, ssrc: int, count: int = 1) -> None:
        nonlocal seq
        before = media.buffer.received + media.stray_packets
        for _ in range(count):
            sock.sendto(rtp.write(0, False, seq, seq * 160, ssrc, b"\xff" * 160), ("127.0.0.1", media.port))
            seq += 1
        for _ in range(100):
            if media.buffer.received + media.stray_packets == before + count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the packets never arrived")

    try:
        media.start(sdp.AudioDescription("127.0.0.1", phone.getsockname()[1], {0: sdp.PCMU}), 0, sdp.PCMU)
        assert media.remote == phone.getsockname() and media.source is None
        await send(stranger, 0xBAD)  # while learning, taken, but one packet latches nothing
        await send(phone, 0x5151, LATCH_PACKETS)
        assert media.source == media.remote == phone.getsockname() and media.buffer.received == LATCH_PACKETS + 1

        await send(stranger, 0xBAD, 2 * LATCH_PACKETS)
        for _ in range(LATCH_PACKETS):  # the source's SSRC guessed, while the source goes on sending
            await send(stranger, 0x5151)
            await send(phone, 0x5151)
        assert media.source == phone.getsockname() and media.stray_packets == 3 * LATCH_PACKETS
        assert media.buffer.received == 2 * LATCH_PACKETS + 1
        media.rtcp_received(("127.0.0.2", 9))
        assert media.remote_rtcp == ("127.0.0.1", phone.getsockname()[1] + 1)

        await send(rebound, 0x5151, LATCH_PACKETS - 1)  # the phone's NAT binding moved
        assert media.source == phone.getsockname() and media.stray_packets == 4 * LATCH_PACKETS - 1
        await send(rebound, 0x5151)
        assert media.source == media.remote == rebound.getsockname() and media.buffer.received == 2 * LATCH_PACKETS + 2
        media.tick(0.0)
        assert rtp.read_header(await asyncio.wait_for(asyncio.get_running_loop().sock_recv(rebound, 2048), 5))[0] == 0
        await send(phone, 0x5151)  # the old address is a stranger now
        assert media.stray_packets == 4 * LATCH_PACKETS

        media.start(sdp.AudioDescription("127.0.0.1", moved.getsockname()[1], {0: sdp.PCMU}), 0, sdp.PCMU)
        assert media.remote == moved.getsockname() and media.source is None
        await send(moved, 0x7777, LATCH_PACKETS)
        assert media.source == moved.getsockname()
    finally:
        media.close()
        for sock in (phone, stranger, rebound, moved):
            sock.close()
