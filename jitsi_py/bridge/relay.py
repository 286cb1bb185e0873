"""Octo relays (bridge-media.md §7, colibri2.md §3.3): one conference spread over several bridges.

A :class:`Relay` is this bridge's link to one other bridge of the conference. Its transport is an
endpoint's (ICE, DTLS, SRTP: :class:`~.conference.Endpoint` does it), with the roles the focus
hands out: the initiator side is ICE-controlling, DTLS server and (``use-unique-port``) on a UDP
port of its own; the other side ICE-controlled, DTLS client (the remote fingerprint's ``setup``
says which) and on the shared media port.

Through a relay come the media of the remote bridge's endpoints ("relayed endpoints"): each is a
sender in the local forwarder, known by the SSRCs of its signalled sources, so local receivers get
its media as a local sender's; its key-frame requests and NACKs go back through the relay.

What goes the other way: every RTP packet a local endpoint sends crosses every relay unchanged
(``Conference.relay_media``), and the remote bridge's forwarder picks layers for its receivers as it
does for its own senders. JVB instead sends only what the remote side subscribed to with
AddReceiver; forwarding everything costs bridge-to-bridge bandwidth (all simulcast layers) but no
subscription state. Relayed media is never relayed again: the focus builds a full mesh. Key-frame
requests and NACKs from the remote bridge reach the local sender they name.

Bridge-channel messages cross on the relay's own SCTP data channel (jicofo's
``octo.sctp-datachannels``, which docker-jitsi-meet turns on; the ``<sctp role>`` of the request
says which side opens it): EndpointMessage (broadcast or to one endpoint), EndpointStats and
SourceVideoTypeMessage, as JVB's RelayMessageTransport; and AddReceiver, what the receivers of one
bridge ask of a sender behind the other, which that bridge folds into the sender's
SenderSourceConstraints (without it a sender whose only receivers are remote would be told to send
nothing). A colibri-ws relay channel is not offered.
"""

from __future__ import annotations

from dataclasses import replace
from time import monotonic

from ..common.stanzas.jingle import Candidate, Fingerprint
from . import rtcp
from .channel import ChannelError, SctpChannel, parse_message, string
from .conference import Endpoint
from .dtls import DtlsSession
from .forwarder import Source
from .rtp import audio_level, find_extension, read_header
from .udp import MediaPort
from .videobridge import OwnPort


class Relay(Endpoint):
    def __init__(self, conference, relay_id: str, *, ice_controlling: bool, unique_port: OwnPort | None = None,
                 now: float) -> None:
        super().__init__(conference, relay_id, now=now)
        # With use-unique-port (the initiator side) the relay has a UDP port of its own: two
        # conferences linking the same two bridges then differ by address, which the media
        # port demultiplexes by.
        self.unique_port = unique_port
        if unique_port is not None:
            self._port = unique_port.port
        self.ice.controlling = ice_controlling
        self.owners: dict[int, str] = {}  # SSRC (media and RTX) -> relayed endpoint id
        self.relayed: set[str] = set()  # ids of the endpoints behind this relay
        self.sctp_role: str | None = None  # "client" opens the bridge channel, "server" accepts it
        self._dtls_started = False

    @property
    def port(self) -> MediaPort:
        return self._port

    def candidates(self, shared: list[Candidate]) -> list[Candidate]:
        """Our candidates for the other bridge: the shared port's, or on our own port."""
        if self.unique_port is None:
            return list(shared)
        return [replace(c, port=self.unique_port.number) for c in shared]

    # --- signalling (colibri2.py) -----------------------------------------------------------------

    def set_fingerprints(self, fingerprints: list[Fingerprint], now: float) -> None:
        """The remote bridge's certificate fingerprints, with its DTLS role as the focus rewrote
        it: ``passive`` makes us the client."""
        if fingerprints[0].setup == "passive" and not self.dtls.client:
            self.dtls = DtlsSession(self.conference.bridge.certificate, client=True)
        self.dtls.remote_fingerprints = [(f.hash, f.value) for f in fingerprints]
        if self.dtls.awaiting_fingerprint:
            self.receive_dtls(b"", now)

    def set_endpoint(self, endpoint_id: str, sources: list[Source] | None) -> None:
        """Create or update a relayed endpoint; ``sources`` None keeps the ones it has."""
        if endpoint_id in self.conference.endpoints:
            raise ValueError(f"{endpoint_id} is a local endpoint of this conference")
        if endpoint_id not in self.relayed:
            self.relayed.add(endpoint_id)
            self._forwarder.senders_rtcp[endpoint_id] = self.send_rtcp
        if sources is None:
            return
        self.owners = {ssrc: owner for ssrc, owner in self.owners.items() if owner != endpoint_id}
        for source in sources:
            for ssrc in (*source.layers, *source.rtx.values()):
                self.owners[ssrc] = endpoint_id
        self._forwarder.set_sources(endpoint_id, sources)
        self.conference.flush_messages()

    def remove_endpoint(self, endpoint_id: str) -> None:
        if endpoint_id not in self.relayed:
            return
        self.relayed.discard(endpoint_id)
        self.owners = {ssrc: owner for ssrc, owner in self.owners.items() if owner != endpoint_id}
        self._forwarder.remove_endpoint(endpoint_id)
        self._speaker.remove(endpoint_id)
        self.conference.flush_messages()

    # --- datagrams from udp.py --------------------------------------------------------------------

    def receive_dtls(self, data: bytes, now: float) -> None:
        super().receive_dtls(data, now)
        if self.sctp_role is not None and self.sctp is None and self.srtp is not None:
            self.sctp = SctpChannel(self, RelayChannel(self), client=self.sctp_role == "client")

    def receive_stun(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        super().receive_stun(data, addr, now)
        if self.dtls.client and not self._dtls_started and self.ice.selected is not None:
            # The client speaks first, once ICE has a pair to speak on.
            self._dtls_started = True
            self.dtls.start(now)
            self.flush()

    def receive_rtp(self, plain: bytes) -> None:
        """The relay's hot path: a relayed endpoint's packet goes to the forwarder as its sender's."""
        pt, seq, ts, ssrc = read_header(plain)
        owner = self.owners.get(ssrc)
        if owner is None:
            self._counters.rtp_unknown_ssrc += 1
            return
        tcc = -1
        now = 0.0
        if self.transport_cc_id:
            offset = find_extension(plain, self.transport_cc_id)
            if 0 < offset < len(plain) - 1:
                tcc = offset
                now = monotonic()
        if pt in self.audio_pts and self.audio_level_id:
            self._speaker.level(owner, audio_level(plain, self.audio_level_id))
        self._forwarder.rtp(owner, plain, pt, seq, ts, ssrc, tcc, now)

    def receive_rtcp(self, packet: bytes) -> None:
        """RTCP from the remote bridge about our senders: key-frame requests and NACKs."""
        forwarder = self._forwarder
        for pt, fmt, offset, length in rtcp.packets(packet):
            if pt == rtcp.PSFB and fmt == rtcp.FMT_PLI and length >= 12:
                forwarder.request_keyframe(rtcp.media_ssrc(packet, offset))
            elif pt == rtcp.PSFB and fmt == rtcp.FMT_FIR and length >= 12:
                for ssrc in rtcp.fir_ssrcs(packet, offset, length):
                    forwarder.request_keyframe(ssrc)
            elif pt == rtcp.RTPFB and fmt == rtcp.FMT_NACK and length >= 16:
                ssrc = rtcp.media_ssrc(packet, offset)
                owner = next((s.owner for s in forwarder.sources.values() if ssrc in s.layers), None)
                send = forwarder.senders_rtcp.get(owner) if owner in self.conference.endpoints else None
                if send is not None:
                    lost = list(rtcp.nack_sequence_numbers(packet, offset, length))
                    send(rtcp.build_rr(forwarder.feedback_ssrc) + rtcp.build_nack(forwarder.feedback_ssrc, ssrc, lost))

    def send_message(self, message: dict) -> None:
        if message["colibriClass"] == "SenderSourceConstraints":
            # What our receivers ask of a sender behind this relay: for its bridge, as JVB says it.
            message = {"colibriClass": "AddReceiver", "bridgeId": self.conference.bridge.relay_id,
                       "sourceName": message["sourceName"], "videoConstraints": {"maxHeight": message["maxHeight"]}}
        super().send_message(message)

    def flush(self) -> None:
        if self._port.transport is not None:  # else queued until our own port is bound
            super().flush()

    def close(self) -> None:
        for endpoint_id in list(self.relayed):
            self.remove_endpoint(endpoint_id)
        if self._forwarder.remote_receivers.pop(self.id, None):
            self._forwarder.allocate()
            self.conference.flush_messages()
        super().close()
        if self.unique_port is not None:
            self.unique_port.close()


class RelayChannel:
    """Bridge-channel messages from the other bridge. It speaks for its own endpoints, so the
    ``from`` it gives is trusted (as JVB does); what it sends is for local endpoints only."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    def connected(self, *, hello: bool) -> None:
        """As JVB: what our receivers ask of the senders behind the relay, and the video types of
        our senders' sources that are not cameras (camera is assumed)."""
        conference = self.relay.conference
        for endpoint_id in self.relay.relayed:
            for message in conference.forwarder.initial_messages(endpoint_id):
                self.relay.send_message(message)
        for source in conference.forwarder.sources.values():
            if source.owner in conference.endpoints and source.media == "video" and source.video_type != "camera":
                self.relay.send_message({"colibriClass": "SourceVideoTypeMessage", "endpointId": source.owner,
                                         "sourceName": source.name, "videoType": source.video_type.upper()})

    def receive(self, text: str | bytes) -> None:
        message = parse_message(text)
        kind = message["colibriClass"]
        conference = self.relay.conference
        sender = string(message, "from")
        if kind in ("EndpointMessage", "EndpointStats"):
            if sender not in self.relay.relayed:
                raise ChannelError(f"{kind} from {sender!r}, not an endpoint behind this relay")
            to = string(message, "to") if kind == "EndpointMessage" else None
            if to:
                target = conference.endpoints.get(to)
                if target is not None:
                    target.send_message(message)
            else:
                conference.broadcast(message)
        elif kind == "SourceVideoTypeMessage":
            owner, video_type = string(message, "endpointId"), message.get("videoType")
            source = conference.forwarder.sources.get(string(message, "sourceName"))
            if owner not in self.relay.relayed or source is None or source.owner != owner:
                raise ChannelError(f"{message.get('sourceName')!r} is not a source behind this relay")
            if not isinstance(video_type, str):
                raise ChannelError("videoType must be a string")
            source.video_type = video_type.lower()
            conference.forwarder.allocate()
            conference.flush_messages()
        elif kind == "AddReceiver":
            name, constraints = string(message, "sourceName"), message.get("videoConstraints")
            source = conference.forwarder.sources.get(name)
            if source is None or source.owner not in conference.endpoints:
                raise ChannelError(f"{name!r} is not a source of a local endpoint")
            height = constraints.get("maxHeight", -1) if isinstance(constraints, dict) else None
            if not isinstance(height, int):
                raise ChannelError("videoConstraints.maxHeight must be an integer")
            conference.forwarder.remote_receivers.setdefault(self.relay.id, {})[name] = height
            conference.forwarder.allocate()
            conference.flush_messages()
        elif kind == "RemoveReceiver":
            sources = conference.forwarder.sources
            wanted = conference.forwarder.remote_receivers.get(self.relay.id, {})
            for name in [n for n in wanted if n in sources and sources[n].owner == message.get("endpointId")]:
                del wanted[name]
            conference.forwarder.allocate()
            conference.flush_messages()
