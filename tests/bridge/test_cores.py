"""The sans-I/O cores paired in memory: ICE agents, DTLS sessions, RTP/RTCP codecs, speaker."""

import datetime
import struct

import pytest
from aioice import stun

from jitsi_py.bridge import rtcp
from jitsi_py.bridge.dtls import Certificate, DtlsSession
from jitsi_py.bridge.ice import IceAgent, stun_local_ufrag
from jitsi_py.bridge.rtp import audio_level, find_extension, h264_is_keyframe, header_length, vp8_is_keyframe
from jitsi_py.bridge.speaker import DominantSpeaker

ISSUED = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)  # certificates are dated by their caller
BRIDGE, BROWSER = ("10.0.0.1", 10000), ("192.0.2.7", 50000)


def exchange(a, b, now, addr_a=BRIDGE, addr_b=BROWSER, rounds=20):
    """Move datagrams between two agents until both are quiet."""
    for _ in range(rounds):
        moved = False
        for src, dst, src_addr in ((a, b, addr_a), (b, a, addr_b)):
            for data, _ in src.datagrams_to_send():
                dst.handle_stun(data, src_addr, now)
                moved = True
        if not moved:
            return


def test_ice_controlling_bridge_nominates_the_browser_address():
    bridge = IceAgent("brdg", "bridge-password-0123456789", controlling=True)
    browser = IceAgent("brws", "browser-password-0123456789", controlling=False)
    browser.set_remote_credentials("brdg", "bridge-password-0123456789", 0.0)
    browser.add_remote_candidate(*BRIDGE, 0.0)
    exchange(bridge, browser, 0.0)
    assert bridge.validated == {BROWSER} and bridge.selected is None  # no remote credentials yet
    bridge.set_remote_credentials("brws", "browser-password-0123456789", 0.1)
    exchange(bridge, browser, 0.1)
    assert bridge.selected == BROWSER and browser.selected == BRIDGE
    assert bridge.events == ["selected"]


def test_ice_drops_requests_without_valid_integrity():
    bridge = IceAgent("brdg", "bridge-password-0123456789")
    request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST, attributes={"USERNAME": "brdg:x"})
    request.add_message_integrity(b"not-the-password")
    bridge.handle_stun(bytes(request), BROWSER, 0.0)
    unsigned = stun.Message(stun.Method.BINDING, stun.Class.REQUEST, attributes={"USERNAME": "brdg:x"})
    bridge.handle_stun(bytes(unsigned), BROWSER, 0.0)
    bridge.handle_stun(b"\x00\x01\x00\x00garbage", BROWSER, 0.0)
    assert bridge.stun_rejected == 3 and not bridge.validated and bridge.datagrams_to_send() == []
    assert stun_local_ufrag(bytes(request)) == "brdg"


def test_ice_consent_expires():
    bridge = IceAgent("brdg", "bridge-password-0123456789", controlling=True)
    browser = IceAgent("brws", "browser-password-0123456789", controlling=False)
    browser.set_remote_credentials("brdg", "bridge-password-0123456789", 0.0)
    bridge.set_remote_credentials("brws", "browser-password-0123456789", 0.0)
    browser.add_remote_candidate(*BRIDGE, 0.0)
    exchange(bridge, browser, 0.0)
    bridge.handle_timer(31.0)
    assert bridge.events[-1] == "failed"


def handshake(server, client, now=0.0):
    client.start(now)
    for _ in range(20):
        for data in client.datagrams_to_send():
            server.receive(data, now)
        for data in server.datagrams_to_send():
            client.receive(data, now)
        if server.connected and client.connected or server.failed or client.failed:
            return


def test_dtls_srtp_keys_match():
    server_cert, client_cert = Certificate(ISSUED), Certificate(ISSUED)
    server, client = DtlsSession(server_cert), DtlsSession(client_cert, client=True)
    server.remote_fingerprints = [("sha-256", client_cert.fingerprint)]
    client.remote_fingerprints = [("sha-256", server_cert.fingerprint)]
    handshake(server, client)
    assert server.connected and client.connected
    profile, server_local, server_remote = server.srtp_keys()
    _, client_local, client_remote = client.srtp_keys()
    assert (server_local, server_remote) == (client_remote, client_local)
    assert profile.openssl_name == b"SRTP_AEAD_AES_128_GCM"


def test_dtls_fingerprint_mismatch_fails():
    server_cert, client_cert = Certificate(ISSUED), Certificate(ISSUED)
    server, client = DtlsSession(server_cert), DtlsSession(client_cert, client=True)
    server.remote_fingerprints = [("sha-256", Certificate(ISSUED).fingerprint)]
    client.remote_fingerprints = [("sha-256", server_cert.fingerprint)]
    handshake(server, client)
    assert not server.connected and "does not match" in server.failed


def test_dtls_garbage_fails_one_session_only():
    server = DtlsSession(Certificate(ISSUED))
    server.receive(b"\x16\xfe\xfd" + b"\x00" * 40, 0.0)
    assert not server.connected


def rtp_with_extensions(ext_id, level):
    ext = bytes([(ext_id << 4) | 0, 0x80 | level, 0, 0])
    return struct.pack("!BBHII", 0x90, 111, 1, 2, 3) + struct.pack("!HH", 0xBEDE, 1) + ext + b"payload"


def test_rtp_one_and_two_byte_extensions():
    packet = rtp_with_extensions(1, 33)
    assert header_length(packet) == 20 and audio_level(packet, 1) == 33 and audio_level(packet, 2) == 127
    two = struct.pack("!BBHII", 0x90, 111, 1, 2, 3) + struct.pack("!HH", 0x1000, 1) + bytes([5, 1, 0x85, 0])
    assert find_extension(two, 5) == 18 and audio_level(two, 5) == 5
    assert header_length(packet[:14]) == -1


def test_keyframe_detection():
    assert vp8_is_keyframe(bytes([0x10, 0x00]), 0) and not vp8_is_keyframe(bytes([0x10, 0x01]), 0)
    assert vp8_is_keyframe(bytes([0x90, 0x80, 0x81, 0x02, 0x00]), 0)  # with a 15-bit picture id
    assert h264_is_keyframe(bytes([0x65]), 0) and h264_is_keyframe(bytes([0x7C, 0x85]), 0)
    assert not h264_is_keyframe(bytes([0x41]), 0)


def test_rtcp_nack_round_trip_and_errors():
    packet = rtcp.build_nack(1, 2, [10, 12, 26, 27, 100])
    ((pt, fmt, offset, length),) = list(rtcp.packets(packet))
    assert (pt, fmt) == (rtcp.RTPFB, rtcp.FMT_NACK)
    assert sorted(rtcp.nack_sequence_numbers(packet, offset, length)) == [10, 12, 26, 27, 100]
    with pytest.raises(rtcp.RtcpError):
        list(rtcp.packets(packet[:-2]))
    with pytest.raises(rtcp.RtcpError):
        list(rtcp.packets(b"\x00" * 8))


def test_dominant_speaker_needs_to_lead_for_a_while():
    speaker = DominantSpeaker()
    for _ in range(10):
        speaker.level("a", 30)
    assert speaker.tick(0.0) == "a"
    for t in range(1, 6):
        for _ in range(10):
            speaker.level("b", 10)
        changed = speaker.tick(t * 0.3)
        if changed:
            break
    assert changed == "b" and speaker.recent == ["a"]
    assert speaker.message()["previousSpeakers"] == ["a"]


def test_transport_cc_feedback_layout():
    recorder = rtcp.TransportCcFeedback()
    for seq, when in ((65534, 10.0), (65535, 10.001), (1, 10.5), (0, 10.002)):  # wraps, reordered, one lost
        recorder.received(seq, when)
    packet = recorder.feedback(7, 9)
    ((pt, fmt, offset, length),) = list(rtcp.packets(packet))
    assert (pt, fmt, length) == (rtcp.RTPFB, rtcp.FMT_TCC, len(packet))
    base, count, ref_and_count, chunk = struct.unpack_from("!HHIH", packet, 12)
    assert (base, count, ref_and_count & 0xFF) == (65534, 4, 0)
    assert chunk >> 14 == 3  # a two-bit status vector chunk
    statuses = [(chunk >> (12 - 2 * i)) & 3 for i in range(4)]
    assert statuses == [1, 1, 1, 2]  # three small deltas, then 498 ms: a large one
    assert recorder.feedback(7, 9) is None


def test_ice_restart_by_the_browser_nominates_again():
    bridge = IceAgent("brdg", "bridge-password-0123456789", controlling=True)
    browser = IceAgent("brws", "browser-password-0123456789", controlling=False)
    for agent, (ufrag, pwd) in ((browser, ("brdg", "bridge-password-0123456789")),
                                (bridge, ("brws", "browser-password-0123456789"))):
        agent.set_remote_credentials(ufrag, pwd, 0.0)
    browser.add_remote_candidate(*BRIDGE, 0.0)
    exchange(bridge, browser, 0.0)
    assert bridge.selected == BROWSER
    restarted = IceAgent("brw2", "browser-password-second-one", controlling=False)
    restarted.set_remote_credentials("brdg", "bridge-password-0123456789", 1.0)
    bridge.set_remote_credentials("brw2", "browser-password-second-one", 1.0)
    restarted.add_remote_candidate(*BRIDGE, 1.0)
    exchange(bridge, restarted, 1.0)
    assert restarted.selected == BRIDGE and bridge.events == ["selected", "selected"]


def test_rtcp_dispatch_hands_each_handled_packet_its_typed_item_in_order():
    sr = struct.pack("!BBHIIIIII", 0x80, rtcp.SR, 6, 99, 0x11112222, 0x33334444, 0, 0, 0)
    remb = (rtcp.FEEDBACK.pack(0x80 | rtcp.FMT_REMB, rtcp.PSFB, 5, 1, 0) + b"REMB"
            + bytes((1, (3 << 2) | 0x01, 0x00, 0x02)) + struct.pack("!I", 5))
    other_afb = rtcp.FEEDBACK.pack(0x80 | rtcp.FMT_REMB, rtcp.PSFB, 4, 1, 0) + b"XXXX" + bytes(4)
    fir = (rtcp.FEEDBACK.pack(0x80 | rtcp.FMT_FIR, rtcp.PSFB, 6, 1, 0) + rtcp.FIR_ITEM.pack(7, 1)
           + rtcp.FIR_ITEM.pack(8, 1))
    recorder = rtcp.TransportCcFeedback()
    recorder.received(3, 1.0)
    compound = (rtcp.build_rr(1) + sr + rtcp.build_pli(1, 6) + fir + remb + other_afb
                + rtcp.build_nack(1, 9, [4, 6]) + recorder.feedback(1, 2))
    seen = []
    handlers = {kind: (lambda context, item: seen.append((context, item))) for kind in
                (rtcp.SenderReport, rtcp.Pli, rtcp.Fir, rtcp.Remb, rtcp.Nack, rtcp.TransportCc)}
    rtcp.dispatch(compound, handlers, "ctx")
    assert [item for context, item in seen if context == "ctx"] == [
        rtcp.SenderReport(99, 0x22223333), rtcp.Pli(6), rtcp.Fir((7, 8)), rtcp.Remb(0x10002 << 3),
        rtcp.Nack(9, (4, 6)), rtcp.TransportCc(3, [pytest.approx(1.0, abs=0.064)])]


def test_rtcp_dispatch_parses_only_what_a_handler_wants():
    bad_tcc = rtcp.FEEDBACK.pack(0x80 | rtcp.FMT_TCC, rtcp.RTPFB, 4, 1, 2) + struct.pack("!HHI", 0, 500, 0)
    plis = []
    rtcp.dispatch(rtcp.build_pli(1, 6) + bad_tcc + rtcp.build_pli(1, 7), {rtcp.Pli: lambda item: plis.append(item)})
    assert plis == [rtcp.Pli(6), rtcp.Pli(7)]  # the malformed transport-cc was never read
    with pytest.raises(rtcp.RtcpError):
        rtcp.dispatch(rtcp.build_pli(1, 6) + bad_tcc + rtcp.build_pli(1, 7),
                      {rtcp.Pli: plis.append, rtcp.TransportCc: plis.append})
    assert plis[2:] == [rtcp.Pli(6)]  # handled up to the malformed packet
