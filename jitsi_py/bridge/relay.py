"""Octo relays (docs/bridge-media.md §7, docs/colibri2.md §3.3): one conference spread over several bridges.

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
says which side opens it): EndpointMessage (broadcast or to one endpoint; also the results of the
other bridge's export, from ``transcriber``), EndpointStats and SourceVideoTypeMessage, as JVB's
RelayMessageTransport; and AddReceiver, what the receivers of one
bridge ask of a sender behind the other, which that bridge folds into the sender's
SenderSourceConstraints (without it a sender whose only receivers are remote would be told to send
nothing). A colibri-ws relay channel is not offered. Also EndpointConnectivityStatusChangeEvent, as
JVB: a local endpoint's status goes to every relay, and one from a relay about an endpoint behind it
goes to the local endpoints.

A relay that hears nothing from the other bridge (no STUN, DTLS or SCTP: ICE keep-alives cross
every third of the limit) for ``Videobridge.relay_timeout`` has failed: the local endpoints are told
that every endpoint behind it is inactive, the bridge counts it and lists it in its stats
(``failed_relays``), from which our focus re-places participants (docs/focus.md §5.5). Any packet
later and it has recovered: those endpoints are active again, unless their bridge said otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from time import monotonic
from typing import ClassVar

from ..common.stanzas.jingle import Candidate, Fingerprint
from . import rtcp
from .channel import ChannelError, SctpChannel, connectivity_message, parse_message, required_string, string
from .conference import Endpoint
from .dtls import DtlsSession
from .export import TRANSCRIBER
from .forwarder import Source
from .rtp import audio_level, find_extension, read_header
from .udp import MediaPort
from .videobridge import OwnPort

log = logging.getLogger(__name__)


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
        self.inactive: set[str] = set()  # relayed endpoints their bridge says are inactive
        self.failed = False  # nothing from the other bridge for longer than the bridge's relay_timeout
        self._timeout = conference.bridge.relay_timeout
        self.ice.keepalive_interval = min(self.ice.keepalive_interval, self._timeout / 3)

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
            self.conference.announce(endpoint_id, self.endpoint_active(endpoint_id))
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
        self.inactive.discard(endpoint_id)
        self.owners = {ssrc: owner for ssrc, owner in self.owners.items() if owner != endpoint_id}
        self._forwarder.remove_endpoint(endpoint_id)
        self._speaker.remove(endpoint_id)
        self.conference.flush_messages()

    # --- connectivity -------------------------------------------------------------------------------

    def endpoint_active(self, endpoint_id: str) -> bool:
        return not self.failed and endpoint_id not in self.inactive

    def set_inactive(self, endpoint_id: str, inactive: bool) -> None:
        """What the other bridge says of an endpoint behind it."""
        if inactive:
            self.inactive.add(endpoint_id)
        else:
            self.inactive.discard(endpoint_id)
        self.conference.announce(endpoint_id, self.endpoint_active(endpoint_id))

    def check_activity(self, now: float) -> None:
        """Once a second (Conference.tick): fail or recover by the time of the last packet."""
        failed = now - self.last_activity > self._timeout
        if failed == self.failed:
            return
        self.failed = failed
        bridge = self.conference.bridge
        if failed:
            bridge.counters.relays_failed += 1
            log.warning("relay %s of %s: nothing received for %.0f s, failed", self.id, self.conference.id,
                        now - self.last_activity)
        else:
            log.info("relay %s of %s: recovered", self.id, self.conference.id)
        for endpoint_id in sorted(self.relayed):
            self.conference.announce(endpoint_id, self.endpoint_active(endpoint_id))
        bridge.relays_changed()

    def _ice_events(self) -> None:
        for event in self.ice.events:
            if event == "failed":
                self.conference.bridge.counters.relays_ice_failed += 1
                log.info("relay %s of %s: ICE consent expired", self.id, self.conference.id)
        self.ice.events.clear()

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
        """RTCP from the remote bridge about our senders: key-frame requests for the sender of the
        SSRC they name, NACKs for it when it is a local endpoint."""
        rtcp.dispatch(packet, self.FEEDBACK_HANDLERS, self)

    def _on_pli(self, pli: rtcp.Pli) -> None:
        self._forwarder.request_keyframe(pli.ssrc)

    def _on_fir(self, fir: rtcp.Fir) -> None:
        for ssrc in fir.ssrcs:
            self._forwarder.request_keyframe(ssrc)

    def _on_nack(self, nack: rtcp.Nack) -> None:
        source = self._forwarder.source_of(nack.ssrc)
        if source is not None and source.owner in self.conference.endpoints:
            self._forwarder.send_nack(source.owner, nack.ssrc, nack.lost)

    FEEDBACK_HANDLERS: ClassVar[dict[type, Callable]] = {rtcp.Pli: _on_pli, rtcp.Fir: _on_fir, rtcp.Nack: _on_nack}

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
        # Not JVB's: the local endpoints already inactive, which the other bridge has not heard of.
        for endpoint in conference.endpoints.values():
            if not endpoint.active and not endpoint.visitor:
                self.relay.send_message(connectivity_message(endpoint.id, False))
        for source in conference.forwarder.sources.values():
            if source.owner in conference.endpoints and source.media == "video" and source.video_type != "camera":
                self.relay.send_message({"colibriClass": "SourceVideoTypeMessage", "endpointId": source.owner,
                                         "sourceName": source.name, "videoType": source.video_type.upper()})

    def receive(self, text: str | bytes) -> None:
        """One message from the other bridge; other classes are ignored, as JVB ignores them."""
        message = parse_message(text)
        handler = self.HANDLERS.get(message["colibriClass"])
        if handler is not None:
            handler(self, message)

    def _endpoint_message(self, message: dict) -> None:
        """EndpointMessage and EndpointStats from an endpoint behind the relay, and the results of
        the other bridge's export (an EndpointMessage to everyone from ``transcriber``)."""
        kind = message["colibriClass"]
        sender = string(message, "from")
        to = string(message, "to") if kind == "EndpointMessage" else None
        exported = kind == "EndpointMessage" and sender == TRANSCRIBER and not to
        if sender not in self.relay.relayed and not exported:
            raise ChannelError(f"{kind} from {sender!r}, not an endpoint behind this relay")
        conference = self.relay.conference
        if to:
            target = conference.endpoints.get(to)
            if target is not None:
                target.send_message(message)
        else:
            conference.broadcast(message)

    def _connectivity_status(self, message: dict) -> None:
        endpoint_id, active = required_string(message, "endpoint"), message.get("active")
        if endpoint_id not in self.relay.relayed:
            raise ChannelError(f"connectivity status of {endpoint_id!r}, not an endpoint behind this relay")
        if active not in ("true", "false") and not isinstance(active, bool):
            raise ChannelError("active must be \"true\" or \"false\"")
        self.relay.set_inactive(endpoint_id, active in ("false", False))

    def _source_video_type(self, message: dict) -> None:
        conference = self.relay.conference
        owner, video_type = string(message, "endpointId"), message.get("videoType")
        source = conference.forwarder.sources.get(required_string(message, "sourceName"))
        if owner not in self.relay.relayed or source is None or source.owner != owner:
            raise ChannelError(f"{message.get('sourceName')!r} is not a source behind this relay")
        if not isinstance(video_type, str):
            raise ChannelError("videoType must be a string")
        source.video_type = video_type.lower()
        conference.forwarder.allocate()
        conference.flush_messages()

    def _add_receiver(self, message: dict) -> None:
        conference = self.relay.conference
        name, constraints = required_string(message, "sourceName"), message.get("videoConstraints")
        source = conference.forwarder.sources.get(name)
        if source is None or source.owner not in conference.endpoints:
            raise ChannelError(f"{name!r} is not a source of a local endpoint")
        height = constraints.get("maxHeight", -1) if isinstance(constraints, dict) else None
        if not isinstance(height, int):
            raise ChannelError("videoConstraints.maxHeight must be an integer")
        conference.forwarder.remote_receivers.setdefault(self.relay.id, {})[name] = height
        conference.forwarder.allocate()
        conference.flush_messages()

    def _remove_receiver(self, message: dict) -> None:
        conference = self.relay.conference
        sources = conference.forwarder.sources
        wanted = conference.forwarder.remote_receivers.get(self.relay.id, {})
        for name in [n for n in wanted if n in sources and sources[n].owner == message.get("endpointId")]:
            del wanted[name]
        conference.forwarder.allocate()
        conference.flush_messages()

    HANDLERS: ClassVar[dict[str, Callable[[RelayChannel, dict], None]]] = {
        "EndpointMessage": _endpoint_message,
        "EndpointStats": _endpoint_message,
        "SourceVideoTypeMessage": _source_video_type,
        "EndpointConnectivityStatusChangeEvent": _connectivity_status,
        "AddReceiver": _add_receiver,
        "RemoveReceiver": _remove_receiver,
    }
