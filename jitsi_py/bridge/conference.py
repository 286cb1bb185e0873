"""A conference and its endpoints: ICE, DTLS and SRTP glued to the forwarder.

An :class:`Endpoint` is fed demultiplexed datagrams by ``udp.py`` and writes through the shared
media port. The per-packet path (``receive_media``, ``deliver``) does one unprotect, one header
read, and per receiver one header rewrite and one protect, into the media port's batch: the
copies of one inbound packet leave in one ``sendmmsg`` (``sendmmsg.py``). Failures are counted,
never logged per packet.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from time import monotonic
from typing import TYPE_CHECKING

from . import rtcp
from .channel import connectivity_message
from .dtls import DtlsSession
from .exporter import ConferenceExport
from .forwarder import Forwarder, Receiver, Source
from .ice import IceAgent, random_credentials
from .rtp import find_extension, read_header
from .speaker import SILENCE_LEVEL, DominantSpeaker
from .srtp import MAX_RTP, SrtpContext, SrtpError, srtp_protect

if TYPE_CHECKING:
    from .channel import SctpChannel
    from .relay import Relay

log = logging.getLogger(__name__)

AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
KEYFRAME_RETRY_INTERVAL = 0.5
INACTIVITY_LIMIT = 8.0  # no media for this long: other endpoints are told it is inactive
FIRST_MEDIA_LIMIT = 15.0  # the same before its first packet
EXPIRE_AFTER = 60.0  # no STUN, DTLS or media for this long: the endpoint is expired
CONNECTION_STATS_INTERVAL = 10.0
RECEIVER_REPORT_INTERVAL = 1.0
TRANSPORT_CC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
_UNROUTED = object()  # Endpoint._addr before the way out is set up: differs from any address


@dataclass
class Counters:
    """Bridge-wide counters for stats, REST and /metrics."""

    packets_received: int = 0
    packets_sent: int = 0
    bytes_received: int = 0
    bytes_sent: int = 0
    send_errors: int = 0  # media datagrams the kernel refused (not for a full buffer): dropped
    srtp_rejected: int = 0
    srtcp_rejected: int = 0
    rtcp_malformed: int = 0
    rtp_malformed: int = 0
    rtp_unknown_ssrc: int = 0
    silence_discarded: int = 0  # silent audio packets not forwarded (Endpoint.receive_rtp)
    not_connected: int = 0
    unknown_address: int = 0
    stun_rejected: int = 0
    dtls_failed: int = 0
    ice_failed: int = 0
    ice_succeeded: int = 0
    data_channel_messages_received: int = 0
    data_channel_messages_sent: int = 0
    sctp_malformed: int = 0  # SCTP packets aiortc's parser or association raised on: dropped
    web_socket_messages_received: int = 0
    web_socket_messages_sent: int = 0
    conferences_created: int = 0
    conferences_completed: int = 0
    participants: int = 0
    relays: int = 0  # created (relay.py)
    relays_ice_failed: int = 0  # relays whose ICE consent expired (JVB's relays_ice_failed)
    relays_failed: int = 0  # times a relay went without any packet past the limit (ours)
    channel_messages_rejected: int = 0
    dominant_speaker_changes: int = 0
    extra: dict = field(default_factory=dict)


class Endpoint:
    def __init__(self, conference: "Conference", endpoint_id: str, *, stats_id: str | None = None,
                 visitor: bool = False, rewrite_ssrcs: bool = False, last_n: int = -1, now: float = 0.0) -> None:
        self.conference = conference
        self.id = endpoint_id
        self.stats_id = stats_id
        self.visitor = visitor
        bridge = conference.bridge
        ufrag, pwd = random_credentials()
        self.ice = IceAgent(ufrag, pwd, controlling=True)
        self.dtls = DtlsSession(bridge.certificate)
        self._srtp: SrtpContext | None = None
        self.ws_password = secrets.token_hex(12)
        self.sctp_requested = False
        self.channel = None  # the bridge channel sink: callable(dict) -> None, set when one connects
        self.websocket = None  # the colibri-ws connection carrying the channel, if any
        self.audio_level_id = 0
        self.audio_pts: set[int] = set()
        self.audio_names: dict[int, str] = {}  # audio payload type -> lower-case codec name
        self.transport_cc_id = 0
        self.transport_cc = rtcp.TransportCcFeedback()
        self._transport_cc_media = 0
        self.received_seqs: dict[int, int] = {}  # SSRC -> last sequence number, for our receiver reports
        self._forwarded_silence = bridge.forwarded_silence
        # By audio SSRC: silent packets in a row, and how many were discarded so far; the packets
        # after a discarded run go out that many numbers lower, so that nobody counts them lost.
        self._silent_run: dict[int, int] = {}
        self._discarded: dict[int, int] = {}
        self._extended: dict[int, int] = {}  # SSRC -> extended highest sequence number last reported
        self.created = now
        self.last_activity = now
        self.last_media: float | None = None
        # As announced with EndpointConnectivityStatusChangeEvent; an id announced inactive that
        # comes back (recreated) starts inactive, so that its media announce it active again.
        self.active = endpoint_id not in conference.inactive
        self.expired = False
        self._port = bridge.port
        self._counters = bridge.counters
        self._forwarder = conference.forwarder
        self._speaker = conference.speaker
        self._relays = conference.relays
        self._addresses: set[tuple[str, int]] = set()
        self.receiver = Receiver(endpoint_id, self.deliver, self.send_rtcp, rewrite_ssrcs=rewrite_ssrcs,
                                 last_n=last_n, visitor=visitor)
        self.receiver.ready = False  # until SRTP is up (the srtp setter)
        self.sctp: SctpChannel | None = None  # bridge channel over SCTP, made when the DTLS handshake completes
        # The way out deliver() uses, set up again whenever ICE selects or SRTP starts (_route):
        # the selected address, as the media port's batch names it and where that name is in
        # memory (None: not both ready yet), the batch, and the outbound SRTP sessions by SSRC.
        self._addr = _UNROUTED
        self._name = None
        self._name_address = None
        self._batch = None
        self._sessions: dict = {}

    @property
    def srtp(self) -> SrtpContext | None:
        return self._srtp

    @srtp.setter
    def srtp(self, context: SrtpContext | None) -> None:
        self._srtp = context
        self._addr = _UNROUTED
        if context is not None and not self.receiver.ready:
            self._start_receiving()

    def _start_receiving(self) -> None:
        """SRTP is up: what the forwarder held for this endpoint leaves now, in one batch."""
        batch = self._port.batch
        if batch is not None:
            batch.hold()
        try:
            self._forwarder.receiver_ready(self.id, monotonic())
        finally:
            if batch is not None:
                batch.release()

    def _route(self) -> None:
        self._addr = addr = self.ice.selected
        srtp = self._srtp
        self._batch = batch = self._port.batch
        if addr is not None and srtp is not None and batch is not None:
            self._name, self._sessions = batch.sockaddr(addr), srtp.tx_sessions
            self._name_address = batch.address(self._name)
        else:
            self._name, self._name_address, self._sessions = None, None, {}

    # --- datagrams from udp.py -------------------------------------------------------------------

    def receive_stun(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        self.last_activity = now
        before = self.ice.stun_rejected
        self.ice.handle_stun(data, addr, now)
        self._counters.stun_rejected += self.ice.stun_rejected - before
        for validated in self.ice.validated - self._addresses:
            self._addresses.add(validated)
            self._port.bind_address(validated, self)
        self._ice_events()
        self.flush()

    def receive_dtls(self, data: bytes, now: float) -> None:
        self.last_activity = now
        was_connected = self.dtls.connected
        try:
            app_data = self.dtls.receive(data, now)
        except Exception as exc:  # OpenSSL may raise anything on garbage; one endpoint's DTLS fails
            self.dtls.failed = f"DTLS error: {exc}"
            app_data = []
        self.flush()
        if self.dtls.failed:
            self._dtls_failed()
            return
        if self.dtls.connected and not was_connected:
            profile, local, remote = self.dtls.srtp_keys()
            self.srtp = SrtpContext(profile, local, remote)
            log.info("endpoint %s of %s: DTLS-SRTP up (%s)", self.id, self.conference.id,
                     profile.openssl_name.decode())
            if self.sctp_requested:
                self.conference.bridge.start_sctp(self)
        if app_data and self.sctp is not None:
            for packet in app_data:
                self.sctp.receive(packet, now)
            self.flush()

    def receive_media(self, data: bytes) -> None:
        """The hot path: one SRTP or SRTCP datagram from a validated address."""
        srtp = self._srtp
        counters = self._counters
        if srtp is None:
            counters.not_connected += 1
            return
        counters.packets_received += 1
        counters.bytes_received += len(data)
        if len(data) < 12:  # shorter than any RTP header: neither SRTP nor SRTCP
            counters.rtp_malformed += 1
            return
        if 192 <= data[1] <= 223:
            try:
                plain = srtp.unprotect_rtcp(data)
            except SrtpError:
                counters.srtcp_rejected += 1
                return
            try:
                self.receive_rtcp(plain)
            except rtcp.RtcpError:
                counters.rtcp_malformed += 1
            return
        try:
            plain = srtp.unprotect(data)
        except SrtpError:
            counters.srtp_rejected += 1
            return
        if len(plain) < 12:
            counters.rtp_malformed += 1
            return
        self.receive_rtp(plain)

    def receive_rtcp(self, plain: bytes) -> None:
        self._forwarder.feedback(self.id, plain)

    def receive_rtp(self, plain: bytes) -> None:
        """One plain RTP packet this endpoint sent."""
        counters = self._counters
        pt, seq, ts, ssrc = read_header(plain)
        self.received_seqs[ssrc] = seq
        tcc = -1
        now = 0.0
        if self.transport_cc_id:
            offset = find_extension(plain, self.transport_cc_id)
            if 0 < offset < len(plain) - 1:
                now = monotonic()
                self.transport_cc.received((plain[offset] << 8) | plain[offset + 1], now)
                self._transport_cc_media = ssrc
                tcc = offset
        if self.visitor:
            return
        audio = pt in self.audio_pts
        if audio and self.audio_level_id:
            offset = find_extension(plain, self.audio_level_id)
            # Only a packet that says it is silent is: one without the extension (from a sender
            # that does not measure) is not, nor a telephone-event (a DTMF digit has no level).
            level = plain[offset] & 0x7F if 0 < offset < len(plain) else -1
            if level == SILENCE_LEVEL and self._forwarded_silence is not None \
                    and self.audio_names.get(pt) != "telephone-event":
                run = self._silent_run[ssrc] = self._silent_run.get(ssrc, 0) + 1
                if run > self._forwarded_silence:
                    self._discarded[ssrc] = self._discarded.get(ssrc, 0) + 1
                    counters.silence_discarded += 1
                    return
            else:
                self._silent_run[ssrc] = 0
                if level >= 0:
                    self._speaker.level(self.id, level)
            shift = self._discarded.get(ssrc, 0)
            if shift:
                seq = (seq - shift) & 0xFFFF
                renumbered = bytearray(plain)
                renumbered[2], renumbered[3] = seq >> 8, seq & 0xFF
                plain = bytes(renumbered)
        if self._relays:
            self.conference.relay_media(self.id, plain, ssrc, audio)
        if self._forwarder.rtp(self.id, plain, pt, seq, ts, ssrc, tcc, now) < 0:
            counters.rtp_unknown_ssrc += 1

    def deliver(self, packet, ssrc: int) -> None:
        """Send one plain RTP packet (bytes-like, not kept: the forwarder reuses its buffer) whose
        SSRC is ``ssrc`` to this endpoint. The forwarder calls it per receiver, so it is written
        flat: the packet is copied into the next slot of the media port's batch, SRTP-protected
        there in place with the session of its SSRC, and queued to the selected address
        (sendmmsg.py: it leaves with the other copies of the inbound packet being handled)."""
        if self.ice.selected is not self._addr:
            self._route()
        name = self._name_address
        size = len(packet)
        if name is None or size > MAX_RTP:  # the forwarder's packets have an RTP header
            return
        session = self._sessions.get(ssrc)
        if session is None:
            session = self._srtp.tx_session(ssrc)
        batch = self._batch
        slot = batch.count
        view, length, buffer, _ = batch.slots[slot]
        view[:size] = packet
        batch.iov_len[slot] = size
        if srtp_protect(session, buffer, length):
            return  # libsrtp refuses only what a bug would make (a repeated index too old, no key)
        batch.msg_name[slot] = name
        batch.count = slot = slot + 1
        if slot == batch.limit:
            batch.flush()

    def send_rtcp(self, packet: bytes) -> None:
        addr = self.ice.selected
        if addr is None or self.srtp is None:
            return
        try:
            self._port.sendto(self.srtp.protect_rtcp(packet), addr)
        except SrtpError:
            return

    def send_receiver_report(self, now: float) -> None:
        """Every second: one RR for what this endpoint sent us (senders' estimators expect them)."""
        if not self.received_seqs:
            return
        self.last_media = self.last_activity = now
        blocks = []
        reports = self._forwarder.sender_reports
        for ssrc, seq in self.received_seqs.items():
            previous = self._extended.get(ssrc, seq)
            extended = previous + ((seq - previous + 0x8000) & 0xFFFF) - 0x8000
            self._extended[ssrc] = max(extended, previous)
            lsr, when = reports.get(ssrc, (0, now))
            blocks.append((ssrc, self._extended[ssrc] & 0xFFFFFFFF, lsr, int((now - when) * 65536) if lsr else 0))
        self.received_seqs.clear()
        self.send_rtcp(rtcp.build_receiver_report(self.conference.feedback_sources[1], blocks))

    def send_transport_cc(self) -> None:
        if self.transport_cc_id:
            # Chromium drops feedback whose media SSRC is not one of its own.
            packet = self.transport_cc.feedback(self.conference.feedback_sources[1], self._transport_cc_media)
            if packet is not None:
                self.send_rtcp(packet)

    # --- timers and control output ---------------------------------------------------------------

    def get_timer(self) -> float | None:
        deadlines = [t for t in (self.ice.get_timer(), self.dtls.get_timer(),
                                 self.sctp.get_timer() if self.sctp is not None else None) if t is not None]
        return min(deadlines) if deadlines else None

    def handle_timer(self, now: float) -> None:
        self.ice.handle_timer(now)
        self.dtls.handle_timer(now)
        if self.sctp is not None:
            self.sctp.handle_timer(now)
        self._ice_events()
        self.flush()

    def flush(self) -> None:
        for data, addr in self.ice.datagrams_to_send():
            self._port.sendto_stun(data, addr, self)
        target = self.ice.selected or (next(iter(self.ice.validated)) if self.ice.validated else None)
        for data in self.dtls.datagrams_to_send():
            if target is not None:
                self._port.sendto(data, target)

    def _ice_events(self) -> None:
        for event in self.ice.events:
            if event == "selected":
                self._counters.ice_succeeded += 1
                selected = self.ice.selected
                assert selected is not None  # the agent says so once it selected a pair
                log.info("endpoint %s of %s: ICE selected %s:%d", self.id, self.conference.id, *selected)
            elif event == "failed":
                self._counters.ice_failed += 1
                log.info("endpoint %s of %s: ICE consent expired", self.id, self.conference.id)
        self.ice.events.clear()

    def _dtls_failed(self) -> None:
        if self.srtp is None and not getattr(self, "_dtls_counted", False):
            self._dtls_counted = True
            self._counters.dtls_failed += 1
            log.warning("endpoint %s of %s: %s", self.id, self.conference.id, self.dtls.failed)

    # --- bridge channel --------------------------------------------------------------------------

    def send_message(self, message: dict) -> None:
        if self.channel is not None:
            self.channel(message)

    def close(self) -> None:
        self.expired = True
        for addr in self._addresses:
            self._port.unbind_address(addr, self)
        self._port.unbind_ufrag(self.ice.local_ufrag, self)
        if self.sctp is not None:
            self.sctp.close()


class Conference:
    def __init__(self, bridge, meeting_id: str, name: str | None, now: float) -> None:
        self.bridge = bridge
        self.meeting_id = meeting_id
        self.name = name
        self.id = secrets.token_hex(8)
        self.created = now
        self.endpoints: dict[str, Endpoint] = {}
        self.relays: dict[str, Relay] = {}  # Octo relays (relay.py) by the remote bridge's relay id
        self.feedback_sources = (secrets.randbits(32) or 1, secrets.randbits(32) or 1)  # jvb-a0, jvb-v0
        self.forwarder = Forwarder(self.feedback_sources[1], trust_bwe=bridge.trust_bwe)
        self.speaker = DominantSpeaker()
        # Endpoint ids last announced inactive to the local endpoints. Not pruned when an endpoint
        # expires (as JVB's monitor): one recreated under the same id, here or behind a relay,
        # must be announced active again, as the others still hold it inactive.
        self.inactive: set[str] = set()
        self.export: ConferenceExport | None = None  # made by the first <connects>
        self._next_keyframe_retry = 0.0
        self._next_report = 0.0
        self._next_connection_stats = now + CONNECTION_STATS_INTERVAL

    def add_endpoint(self, endpoint: Endpoint) -> None:
        self.endpoints[endpoint.id] = endpoint
        self.bridge.port.bind_ufrag(endpoint.ice.local_ufrag, endpoint)
        self.forwarder.add_receiver(endpoint.receiver, endpoint.send_rtcp)
        self.flush_messages()

    def remove_endpoint(self, endpoint_id: str) -> None:
        endpoint = self.endpoints.pop(endpoint_id, None)
        if endpoint is None:
            return
        endpoint.close()
        self.forwarder.remove_endpoint(endpoint_id)
        self.speaker.remove(endpoint_id)
        self.flush_messages()

    def set_sources(self, endpoint: Endpoint, sources: list[Source]) -> None:
        self.forwarder.set_sources(endpoint.id, sources)
        self.flush_messages()

    def tick(self, now: float) -> None:
        self.forwarder.now = now
        self.forwarder.probe(now)
        for endpoint in self.endpoints.values():
            endpoint.send_transport_cc()
        if now >= self._next_report:
            self._next_report = now + RECEIVER_REPORT_INTERVAL
            for endpoint in list(self.endpoints.values()):
                endpoint.send_receiver_report(now)
                self._check_activity(endpoint, now)
            for relay in self.relays.values():
                relay.check_activity(now)
        if now >= self._next_connection_stats:
            self._next_connection_stats = now + CONNECTION_STATS_INTERVAL
            for endpoint in self.endpoints.values():
                if endpoint.receiver.estimated_bandwidth >= 0:
                    endpoint.send_message({"colibriClass": "ConnectionStats",
                                           "estimatedDownlinkBandwidth": endpoint.receiver.estimated_bandwidth})
        if now >= self._next_keyframe_retry:
            self._next_keyframe_retry = now + KEYFRAME_RETRY_INTERVAL
            self.forwarder.check_layers()
            self.forwarder.request_pending_keyframes()
        leader = self.speaker.tick(now)
        if leader is not None:  # the new dominant speaker
            self.bridge.counters.dominant_speaker_changes += 1
            self.forwarder.set_speakers([leader] + self.speaker.recent)
            self.broadcast(self.speaker.message())
        self.flush_messages()

    def _check_activity(self, endpoint: Endpoint, now: float) -> None:
        if now - endpoint.last_activity > EXPIRE_AFTER:
            log.info("endpoint %s of %s expired after %.0f s without activity", endpoint.id, self.id, EXPIRE_AFTER)
            self.remove_endpoint(endpoint.id)
            if not self.endpoints:
                self.bridge.expire_conference(self)
            return
        if endpoint.visitor:
            return  # as JVB: visitors send nothing, so their status says nothing
        if endpoint.last_media is None:
            if now - endpoint.created <= FIRST_MEDIA_LIMIT:
                return  # not ready for activity checks yet
            active = False
        else:
            active = now - endpoint.last_media <= INACTIVITY_LIMIT
        if active != endpoint.active:
            endpoint.active = active
            self.announce(endpoint.id, active)
            # The bridges behind our relays tell their own endpoints (relay.py).
            self.relay_message(connectivity_message(endpoint.id, active))

    def announce(self, endpoint_id: str, active: bool) -> None:
        """Tell the local endpoints (the subject excepted) that ``endpoint_id``, local or behind a
        relay, is now active or inactive, when that differs from what they were last told."""
        if (endpoint_id not in self.inactive) == active:
            return
        if active:
            self.inactive.discard(endpoint_id)
        else:
            self.inactive.add(endpoint_id)
        self.broadcast(connectivity_message(endpoint_id, active), exclude=endpoint_id)

    def inactive_present(self, exclude: str) -> list[str]:
        """The endpoints now in the conference (local or behind a relay) last announced inactive:
        what an endpoint whose bridge channel just connected is told."""
        return sorted(e for e in self.inactive if e != exclude and (
            e in self.endpoints or any(e in relay.relayed for relay in self.relays.values())))

    def flush_messages(self) -> None:
        messages, self.forwarder.messages = self.forwarder.messages, []
        for endpoint_id, message in messages:
            endpoint = self.endpoints.get(endpoint_id)
            if endpoint is not None:
                endpoint.send_message(message)
            elif self.relays:  # a sender behind a relay: its bridge is told (relay.py)
                self.relay_message(message, endpoint_id)

    def broadcast(self, message: dict, exclude: str | None = None, *, to_relays: bool = False) -> None:
        """To the local endpoints; with ``to_relays`` also to every relay, whose bridge hands it to
        its own endpoints (what this bridge says itself, as the export's results: JVB's
        ``broadcastMessage(message, sendToRelays)``)."""
        for endpoint in self.endpoints.values():
            if endpoint.id != exclude:
                endpoint.send_message(message)
        if to_relays:
            self.relay_message(message)

    def add_relay(self, relay: Relay) -> None:
        self.relays[relay.id] = relay
        self.bridge.counters.relays += 1
        relay.port.bind_ufrag(relay.ice.local_ufrag, relay)

    def remove_relay(self, relay_id: str) -> None:
        relay = self.relays.pop(relay_id, None)
        if relay is not None:
            relay.close()

    def relay_message(self, message: dict, to: str | None = None) -> None:
        """A bridge-channel message for every relay, or for the one ``to`` is behind."""
        for relay in self.relays.values():
            if to is None or to in relay.relayed:
                relay.send_message(message)

    def relay_media(self, sender: str, packet: bytes, ssrc: int, audio: bool) -> None:
        """A local sender's RTP to every relay, unless the focus force-muted that media."""
        muted = self.forwarder.muted.get(sender)
        if muted is not None and muted[not audio]:
            return
        for relay in self.relays.values():
            relay.deliver(packet, ssrc)

    def apply_connects(self, connects: list) -> None:
        """A Colibri2 ``<connects>`` (docs/colibri2.md §3.5); raises the refusal, changing nothing."""
        if self.export is None:
            self.export = ConferenceExport(self, self.bridge.export_queue, self.bridge.version)
        self.export.apply(connects)

    def _holder(self, sender: str) -> Endpoint | None:
        """The endpoint, or the relay, ``sender``'s media comes in from."""
        return self.endpoints.get(sender) or next((r for r in self.relays.values() if sender in r.relayed), None)

    def audio_encoding(self, sender: str, pt: int) -> str:
        """The codec of ``sender``'s audio payload type, local or behind a relay ("" when unknown)."""
        holder = self._holder(sender)
        return holder.audio_names.get(pt, "") if holder is not None else ""

    def audio_level_id(self, sender: str) -> int:
        """The id of the ssrc-audio-level extension in ``sender``'s audio as it reaches us (0: none)."""
        holder = self._holder(sender)
        return holder.audio_level_id if holder is not None else 0

    def close(self) -> None:
        if self.export is not None:
            self.export.close()
        for relay_id in list(self.relays):
            self.remove_relay(relay_id)
        for endpoint_id in list(self.endpoints):
            self.remove_endpoint(endpoint_id)
