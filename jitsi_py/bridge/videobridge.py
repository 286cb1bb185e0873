"""The bridge's state: conferences by meeting id, the media port, certificate, candidates, stats."""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass

from ..common.stanzas.jingle import Candidate
from .channel import SctpChannel
from .conference import Conference, Counters, Endpoint
from .dtls import Certificate
from .udp import MediaPort, open_media_socket

log = logging.getLogger(__name__)

VERSION = "2.3.0-jitsi-py"
# stress_level = packet rate / this (docs/colibri2.md §2: JVB's packet-rate load threshold).
PACKET_RATE_CAPACITY = 50_000
RELAY_TIMEOUT = 15.0  # JITSI_PY_BRIDGE_RELAY_TIMEOUT's default
EXPORT_QUEUE = 1024  # JITSI_PY_BRIDGE_EXPORT_QUEUE's default, as jitsi-videobridge's exporter queue
FORWARDED_SILENCE = 3  # JITSI_PY_BRIDGE_FORWARDED_SILENCE_PACKETS's default, as jitsi-videobridge's
MAX_FAILED_RELAYS_LISTED = 100  # in the stats' failed_relays: a presence stays small


@dataclass
class OwnPort:
    """A media port with a socket of its own, and its port number."""

    port: MediaPort
    number: int
    opening: asyncio.Future

    def close(self) -> None:
        if self.port.transport is not None:
            self.port.transport.close()
        else:
            self.opening.cancel()


class Videobridge:
    version = VERSION
    def __init__(self, *, candidates: list[Candidate], websocket_base: str | None = None, sctp_enabled: bool = False,
                 default_last_n: int = -1, max_endpoints_per_conference: int = 500, region: str | None = None,
                 relay_id: str | None = None, trust_bwe: bool = True, relays_enabled: bool = False,
                 relay_timeout: float = RELAY_TIMEOUT, export_queue: int = EXPORT_QUEUE,
                 forwarded_silence: int | None = FORWARDED_SILENCE) -> None:
        self.counters = Counters()
        self.port = MediaPort(self.counters)
        self.certificate = Certificate(datetime.datetime.now(datetime.timezone.utc))
        self.candidates = candidates
        self.websocket_base = websocket_base
        self.sctp_enabled = sctp_enabled
        self.default_last_n = default_last_n
        self.max_endpoints_per_conference = max_endpoints_per_conference
        self.region = region
        self.relay_id = relay_id
        self.trust_bwe = trust_bwe
        self.relays_enabled = relays_enabled  # ENABLE_OCTO: Colibri2 <relay> is served (relay.py)
        self.relay_timeout = relay_timeout  # a relay that hears nothing for this long has failed
        self.export_queue = export_queue  # audio packets an exporter holds for a slow peer (exporter.py)
        # Silent audio packets in a row forwarded before the rest are discarded (None: all go).
        self.forwarded_silence = forwarded_silence
        # Called when a relay fails or recovers: the brewery presence (xmpp.py) goes out at once.
        self.on_relays_changed: Callable[[], None] | None = None
        self.conferences: dict[str, Conference] = {}
        self.drain = False
        self.graceful_shutdown = False
        self.shutting_down = False
        self.healthy = True
        self._rate_mark = (0.0, 0, 0, 0, 0)
        self.rates = (0.0, 0.0, 0.0, 0.0)  # packets/s down, up; kbit/s down, up

    def create_conference(self, meeting_id: str, name: str | None, now: float) -> Conference:
        conference = Conference(self, meeting_id, name, now)
        self.conferences[meeting_id] = conference
        self.counters.conferences_created += 1
        log.info("conference %s created (meeting %s, %s)", conference.id, meeting_id, name)
        return conference

    def expire_conference(self, conference: Conference) -> None:
        if self.conferences.get(conference.meeting_id) is conference:
            del self.conferences[conference.meeting_id]
            conference.close()
            self.counters.conferences_completed += 1
            log.info("conference %s expired", conference.id)

    def open_port(self) -> OwnPort:
        """A media port of its own beside the shared one (a relay's use-unique-port), on the same
        address; the event loop binds it on its next turn (its ``transport`` is None until then)."""
        host = self.port.socket.getsockname()[0]
        sock = open_media_socket(0, None if host == "::" else host)
        port = MediaPort(self.counters)
        opening = asyncio.ensure_future(asyncio.get_running_loop().create_datagram_endpoint(lambda: port, sock=sock))
        opening.add_done_callback(lambda done: sock.close() if done.cancelled() else None)
        return OwnPort(port, sock.getsockname()[1], opening)

    def relays_changed(self) -> None:
        if self.on_relays_changed is not None:
            self.on_relays_changed()

    def failed_relays(self) -> list[str]:
        """``<meeting id>/<relay id>`` of each failed relay, for our focus (docs/colibri2.md §2)."""
        return [f"{conference.meeting_id}/{relay.id}" for conference in self.conferences.values()
                for relay in conference.relays.values() if relay.failed][:MAX_FAILED_RELAYS_LISTED]

    def find_endpoint(self, conference_id: str, endpoint_id: str) -> Endpoint | None:
        for conference in self.conferences.values():
            if conference.id == conference_id:
                return conference.endpoints.get(endpoint_id)
        return None

    def websocket_url(self, conference: Conference, endpoint: Endpoint) -> str | None:
        if not self.websocket_base:
            return None
        return f"{self.websocket_base}/{conference.id}/{endpoint.id}?pwd={endpoint.ws_password}"

    def start_sctp(self, endpoint: Endpoint) -> None:
        endpoint.sctp = SctpChannel(endpoint)

    def tick(self, now: float) -> None:
        """Timers of every endpoint and conference; called a few dozen times a second."""
        for conference in list(self.conferences.values()):
            for endpoint in [*conference.endpoints.values(), *conference.relays.values()]:
                deadline = endpoint.get_timer()
                if deadline is not None and deadline <= now:
                    endpoint.handle_timer(now)
            conference.tick(now)
        mark_time, rx, tx, brx, btx = self._rate_mark
        elapsed = now - mark_time
        if elapsed >= 1.0:
            c = self.counters
            self.rates = ((c.packets_received - rx) / elapsed, (c.packets_sent - tx) / elapsed,
                          (c.bytes_received - brx) * 8 / 1000 / elapsed, (c.bytes_sent - btx) * 8 / 1000 / elapsed)
            self._rate_mark = (now, c.packets_received, c.packets_sent, c.bytes_received, c.bytes_sent)

    def stats(self) -> dict[str, object]:
        """JVB's stats names and meanings (docs/colibri2.md §2)."""
        c = self.counters
        endpoints = [e for conf in self.conferences.values() for e in conf.endpoints.values()]
        packet_rate = self.rates[0] + self.rates[1]
        stress = packet_rate / PACKET_RATE_CAPACITY
        largest = max((len(conf.endpoints) for conf in self.conferences.values()), default=0)
        return {
            "stress_level": round(stress, 4),
            "average_participant_stress": 0.01,
            "drain": self.drain,
            "graceful_shutdown": self.graceful_shutdown,
            "shutting_down": self.shutting_down,
            "healthy": self.healthy,
            "colibri2": True,  # in the stats filter's short list: this bridge speaks Colibri2
            "version": VERSION,
            "release": VERSION,
            **({"region": self.region} if self.region else {}),
            # As JVB: the relay id only with relays enabled (the focus mixes bridges by it).
            **({"relay_id": self.relay_id} if self.relay_id and self.relays_enabled else {}),
            "current_timestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
            "conferences": len(self.conferences),
            "participants": len(endpoints),
            "endpoints": len(endpoints),
            "local_endpoints": len(endpoints),
            "visitors": sum(1 for e in endpoints if e.visitor),
            "largest_conference": largest,
            "inactive_conferences": sum(1 for conf in self.conferences.values()
                                        if not any(e.last_media for e in conf.endpoints.values())),
            "p2p_conferences": 0,
            "octo_conferences": sum(1 for conf in self.conferences.values() if conf.relays),
            "octo_endpoints": sum(len(r.relayed) for conf in self.conferences.values() for r in conf.relays.values()),
            "total_relays": c.relays,
            "relays_ice_failed": c.relays_ice_failed,
            # Ours, not JVB's: relays that went without a packet past the limit, and those failed now.
            "relays_failed": c.relays_failed,
            **({"failed_relays": " ".join(failed)} if (failed := self.failed_relays()) else {}),
            "inactive_endpoints": sum(1 for e in endpoints if not e.active),
            "endpoints_sending_audio": len({s.owner for conf in self.conferences.values()
                                            for s in conf.forwarder.sources.values()
                                            if s.media == "audio" and any(s.active)}),
            "endpoints_sending_video": len({s.owner for conf in self.conferences.values()
                                            for s in conf.forwarder.sources.values()
                                            if s.media == "video" and any(s.active)}),
            "bit_rate_download": round(self.rates[2]),
            "bit_rate_upload": round(self.rates[3]),
            "packet_rate_download": round(self.rates[0]),
            "packet_rate_upload": round(self.rates[1]),
            "total_conferences_created": c.conferences_created,
            "total_conferences_completed": c.conferences_completed,
            "total_participants": c.participants,
            "total_packets_received": c.packets_received,
            "total_packets_sent": c.packets_sent,
            "total_bytes_received": c.bytes_received,
            "total_bytes_sent": c.bytes_sent,
            "total_ice_succeeded": c.ice_succeeded,
            "total_ice_failed": c.ice_failed,
            "dtls_failed_endpoints": c.dtls_failed,
            "total_keyframes_requested": sum(conf.forwarder.keyframe_requests for conf in self.conferences.values()),
            "total_dominant_speaker_changes": c.dominant_speaker_changes,
            "total_data_channel_messages_received": c.data_channel_messages_received,
            "total_data_channel_messages_sent": c.data_channel_messages_sent,
            "total_colibri_web_socket_messages_received": c.web_socket_messages_received,
            "total_colibri_web_socket_messages_sent": c.web_socket_messages_sent,
            "total_srtp_rejected": c.srtp_rejected,
            "total_silence_packets_discarded": c.silence_discarded,
            "total_srtcp_rejected": c.srtcp_rejected,
            "total_stun_rejected": c.stun_rejected,
            "total_unknown_address_dropped": c.unknown_address,
            # Ours, not JVB's: media datagrams the kernel refused to send (not for a full buffer),
            # and datagrams it dropped on arrival because the socket buffer was full.
            "total_send_errors": c.send_errors,
            **({"total_udp_kernel_drops": drops} if (drops := self.port.kernel_drops()) is not None else {}),
            "threads": 1,
        }
