"""Colibri2 server side: a ``conference-modify`` becomes conferences, endpoints and an answer.

:func:`handle` takes the parsed request (``common/stanzas/colibri2.py``) and the bridge, changes
state and returns the ``conference-modified`` answer, or raises :class:`Colibri2Failure` (a
``common.errors.StanzaError``) carrying the XMPP condition and Colibri2 reason JVB gives
(docs/colibri2.md §3, §5). No XMPP here: ``xmpp.py`` carries requests and answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..common.errors import StanzaError
from ..common.stanzas import colibri2 as c2
from ..common.stanzas.jingle import Fingerprint, IceTransport, Source as WireSource
from .conference import AUDIO_LEVEL_URI, TRANSPORT_CC_URI, Conference, Endpoint
from .forwarder import Source
from .relay import Relay

if TYPE_CHECKING:
    from .videobridge import Videobridge

SCTP_PORT = 5000


class Colibri2Failure(StanzaError):
    """A refused ``conference-modify``: the stanza error JVB answers with, its Colibri2 reason (and
    the endpoint it concerns) as the error's application element when JVB gives one."""

    def __init__(self, condition: str, text: str, reason: str | None = None, endpoint_id: str | None = None,
                 error_type: str = "cancel") -> None:
        super().__init__(error_type, condition, text,
                         () if reason is None else (c2.reason_element(reason, endpoint_id),))
        self.reason = reason
        self.endpoint_id = endpoint_id


def _is_bare_jid(name: str) -> bool:
    local, at, domain = name.partition("@")
    return bool(at and local and domain and "/" not in name and "@" not in domain and " " not in name)


def handle(bridge: Videobridge, request: c2.ConferenceModify, now: float) -> c2.ConferenceModified:
    if request.endpoints and request.relays:
        raise Colibri2Failure("feature-not-implemented", "Using both endpoints and relays is not supported",
                              c2.REASON_FEATURE_NOT_IMPLEMENTED)
    if request.relays and not bridge.relays_enabled:
        raise Colibri2Failure("feature-not-implemented", "Relays are not enabled on this bridge",
                              c2.REASON_FEATURE_NOT_IMPLEMENTED)
    if len(request.endpoints) > 1 and any(
            e.create or e.media or e.transport or e.sources is not None for e in request.endpoints):
        raise Colibri2Failure("feature-not-implemented",
                              "Only bulk expire or force-mute may name several endpoints",
                              c2.REASON_FEATURE_NOT_IMPLEMENTED)
    conference = bridge.conferences.get(request.meeting_id)
    created = False
    if request.create:
        if conference is not None:
            raise Colibri2Failure("conflict", "Conference already exists", c2.REASON_CONFERENCE_ALREADY_EXISTS)
        if bridge.graceful_shutdown:
            raise Colibri2Failure("service-unavailable", "In graceful shutdown", c2.REASON_GRACEFUL_SHUTDOWN)
        if request.name is not None and not _is_bare_jid(request.name):
            raise Colibri2Failure("bad-request", "Invalid conference name (not a JID)", error_type="modify")
        conference = bridge.create_conference(request.meeting_id, request.name, now)
        created = True
    elif conference is None:
        raise Colibri2Failure("item-not-found", "Conference not found", c2.REASON_CONFERENCE_NOT_FOUND)

    answer = c2.ConferenceModified()
    if request.expire:
        bridge.expire_conference(conference)
        return answer
    if request.connects is not None:
        try:
            conference.apply_connects(request.connects)
        except StanzaError:
            if created:
                bridge.expire_conference(conference)
            raise
    any_created = created
    try:
        bulk = len(request.endpoints) > 1
        for wire in request.endpoints:
            endpoint = conference.endpoints.get(wire.id)
            if wire.expire:
                if endpoint is not None:
                    conference.remove_endpoint(wire.id)
                answer.endpoints.append(c2.Endpoint(wire.id, expire=True))
                continue
            if wire.create:
                endpoint = _create_endpoint(bridge, conference, wire, now)
                any_created = True
            elif endpoint is None:
                if bulk:
                    continue
                raise Colibri2Failure("item-not-found", "Unknown endpoint", c2.REASON_UNKNOWN_ENDPOINT, wire.id)
            answer.endpoints.append(_update_endpoint(bridge, conference, endpoint, wire, now, wire.create))
        answer.relays = [_relay(bridge, conference, wire, now) for wire in request.relays]
    finally:
        if not created and not conference.endpoints and not conference.relays:
            bridge.expire_conference(conference)
    if any_created:
        answer.sources = [
            c2.MediaSource("audio", c2.FEEDBACK_AUDIO, [WireSource(conference.feedback_sources[0], "audio",
                                                                   c2.FEEDBACK_AUDIO)]),
            c2.MediaSource("video", c2.FEEDBACK_VIDEO, [WireSource(conference.feedback_sources[1], "video",
                                                                   c2.FEEDBACK_VIDEO)]),
        ]
    return answer


def _create_endpoint(bridge: Videobridge, conference: Conference, wire: c2.Endpoint, now: float) -> Endpoint:
    if wire.id in conference.endpoints:
        raise Colibri2Failure("conflict", f"Endpoint with ID {wire.id} already exists", error_type="cancel")
    if wire.transport is None:
        raise Colibri2Failure("bad-request", "Attempt to create endpoint without transport", error_type="modify")
    if c2.CAPABILITY_SOURCE_NAMES not in wire.capabilities:
        raise Colibri2Failure("bad-request", "Source name support is mandatory.", error_type="modify")
    sctp = wire.transport.sctp
    if sctp is not None:
        if not bridge.sctp_enabled:
            raise Colibri2Failure("feature-not-implemented", "SCTP support is not configured",
                                  c2.REASON_FEATURE_NOT_IMPLEMENTED)
        if sctp.role not in (None, "server"):
            raise Colibri2Failure("feature-not-implemented", f"Unsupported SCTP role: {sctp.role}",
                                  c2.REASON_FEATURE_NOT_IMPLEMENTED)
        if sctp.port not in (None, SCTP_PORT):
            raise Colibri2Failure("bad-request", f"Specific SCTP port requested, not supported: {sctp.port}",
                                  error_type="modify")
    if len(conference.endpoints) >= bridge.max_endpoints_per_conference:
        raise Colibri2Failure("resource-constraint", "Too many endpoints in this conference", error_type="wait")
    endpoint = Endpoint(conference, wire.id, stats_id=wire.stats_id, visitor=wire.muc_role == "visitor",
                        rewrite_ssrcs=c2.CAPABILITY_SSRC_REWRITING in wire.capabilities,
                        last_n=wire.initial_last_n if wire.initial_last_n is not None else bridge.default_last_n,
                        now=now)
    endpoint.sctp_requested = sctp is not None
    conference.add_endpoint(endpoint)
    bridge.counters.participants += 1
    return endpoint


def _update_endpoint(bridge: Videobridge, conference: Conference, endpoint: Endpoint, wire: c2.Endpoint, now: float,
                     created: bool) -> c2.Endpoint:
    _set_media(conference, endpoint, wire.media)
    if wire.initial_last_n is not None and not created:
        endpoint.receiver.last_n = wire.initial_last_n
    transport = wire.transport
    if transport is not None and transport.ice is not None:
        ice = transport.ice
        _set_remote_ice(bridge, endpoint, ice, now)
        if ice.fingerprints:
            endpoint.dtls.remote_fingerprints = [(f.hash, f.value) for f in ice.fingerprints]
            if any(f.setup == "passive" for f in ice.fingerprints):
                raise Colibri2Failure("feature-not-implemented", "The bridge is DTLS server only (setup=active)",
                                      c2.REASON_FEATURE_NOT_IMPLEMENTED)
            if endpoint.dtls.awaiting_fingerprint:
                endpoint.receive_dtls(b"", now)  # verify the finished handshake, then bring SRTP up
        endpoint.flush()
    if wire.sources is not None:
        if endpoint.visitor:
            raise Colibri2Failure("bad-request", "Sources are not allowed for visitors", error_type="modify")
        conference.set_sources(endpoint, [_source(wire.id, s) for s in wire.sources])
    if wire.force_mute is not None:
        conference.forwarder.set_muted(endpoint.id, wire.force_mute.audio, wire.force_mute.video)
        conference.flush_messages()
    answer = c2.Endpoint(endpoint.id)
    restart = transport is not None and transport.ice_restart
    if created or restart:
        answer.transport = c2.Transport(ice=_local_transport(bridge, conference, endpoint))
        if created and endpoint.sctp_requested:
            answer.transport.sctp = c2.Sctp(SCTP_PORT, "server")
    return answer


def _set_remote_ice(bridge: Videobridge, endpoint: Endpoint, ice: IceTransport, now: float) -> None:
    """The remote side's ICE credentials and candidates (an endpoint's, or a relay's)."""
    if ice.ufrag and ice.pwd:
        endpoint.ice.set_remote_credentials(ice.ufrag, ice.pwd, now)
    for candidate in ice.candidates:
        # Named as the media socket names its peers; families it cannot reach and names (mDNS)
        # are skipped: browsers reach us by peer-reflexive addresses anyway.
        address = bridge.port.peer_address(candidate.ip)
        if candidate.protocol == "udp" and candidate.component == 1 and address is not None:
            endpoint.ice.add_remote_candidate(address, candidate.port, now)


def _set_media(conference: Conference, endpoint: Endpoint, media_list: list[c2.Media]) -> None:
    """Payload types and header extension ids an endpoint (or a relay) uses; only ever added."""
    for media in media_list:
        for ext in media.header_extensions:
            if media.type == "audio" and ext.uri == AUDIO_LEVEL_URI:
                endpoint.audio_level_id = ext.id
            elif ext.uri == TRANSPORT_CC_URI:
                endpoint.transport_cc_id = endpoint.receiver.transport_cc_id = ext.id
        pts = {pt.id: pt.name for pt in media.payload_types}
        if media.type == "audio":
            endpoint.audio_pts.update(pts)
            endpoint.audio_names.update({pt: name.lower() for pt, name in pts.items()})
        else:
            rtx = {pt.id: int(pt.parameters["apt"]) for pt in media.payload_types
                   if pt.name.lower() == "rtx" and pt.parameters.get("apt", "").isdigit()}
            conference.forwarder.set_video_payload_types({k: v for k, v in pts.items() if v.lower() != "rtx"}, rtx)


def _relay(bridge: Videobridge, conference: Conference, wire: c2.Relay, now: float) -> c2.Relay:
    """One ``<relay>`` (docs/colibri2.md §3.3): the link to another bridge and the endpoints behind it."""
    if wire.expire:
        conference.remove_relay(wire.id)
        return c2.Relay(wire.id, expire=True)
    transport = wire.transport
    sctp = transport.sctp if transport is not None else None
    if sctp is not None:
        if not bridge.sctp_enabled:
            raise Colibri2Failure("feature-not-implemented", "SCTP support is not configured",
                                  c2.REASON_FEATURE_NOT_IMPLEMENTED)
        if sctp.port not in (None, SCTP_PORT):
            raise Colibri2Failure("bad-request", "Specific SCTP port requested, not supported.", error_type="modify")
    relay = conference.relays.get(wire.id)
    if wire.create:
        if relay is not None:
            raise Colibri2Failure("conflict", f"Relay with ID {wire.id} already exists")
        if transport is None:
            raise Colibri2Failure("bad-request", f"Attempt to create relay {wire.id} with no <transport>",
                                  error_type="modify")
        # mesh-id is not needed: the focus builds one full mesh and relayed media is never relayed on.
        relay = Relay(conference, wire.id, ice_controlling=bool(transport.ice_controlling),
                      unique_port=bridge.open_port() if transport.use_unique_port else None, now=now)
        conference.add_relay(relay)
    elif relay is None:
        raise Colibri2Failure("bad-request", f"Unknown relay {wire.id}", error_type="modify")
    if sctp is not None:
        relay.sctp_role = "client" if sctp.role == "client" else "server"
    if transport is not None and transport.ice is not None:
        _set_remote_ice(bridge, relay, transport.ice, now)
        if transport.ice.fingerprints:
            relay.set_fingerprints(transport.ice.fingerprints, now)
        relay.flush()
    _set_media(conference, relay, wire.media)
    for remote in wire.endpoints:
        if remote.expire:
            relay.remove_endpoint(remote.id)
            continue
        sources = None if remote.sources is None else [_source(remote.id, s) for s in remote.sources]
        try:
            relay.set_endpoint(remote.id, sources)
        except ValueError as exc:
            raise Colibri2Failure("bad-request", str(exc), error_type="modify") from None
    answer = c2.Relay(wire.id)
    if wire.create:
        # The focus turns our actpass into active or passive for the other side (jicofo's Relay).
        answer.transport = c2.Transport(ice=IceTransport(
            relay.ice.local_ufrag, relay.ice.local_pwd, relay.candidates(bridge.candidates),
            [Fingerprint("sha-256", bridge.certificate.fingerprint, "actpass")], rtcp_mux=True))
        if sctp is not None:  # the role the other side takes
            answer.transport.sctp = c2.Sctp(SCTP_PORT, "server" if relay.sctp_role == "client" else "client")
    return answer


def _local_transport(bridge: Videobridge, conference: Conference, endpoint: Endpoint) -> IceTransport:
    setup = "passive" if endpoint.dtls.remote_fingerprints else "actpass"
    transport = IceTransport(endpoint.ice.local_ufrag, endpoint.ice.local_pwd, list(bridge.candidates),
                             [Fingerprint("sha-256", bridge.certificate.fingerprint, setup)], rtcp_mux=True)
    url = bridge.websocket_url(conference, endpoint)
    if url:
        transport.web_sockets = [url]
    return transport


def _source(owner: str, wire: c2.MediaSource) -> Source:
    """A Colibri2 media-source as the forwarder keeps it: SIM order gives layers, FID the RTX."""
    ssrcs = [s.ssrc for s in wire.sources]
    if not ssrcs:
        raise Colibri2Failure("bad-request", f"media-source {wire.id} has no source", error_type="modify")
    rtx = {}
    layers: list[int] = []
    for group in wire.ssrc_groups:
        if group.semantics == "FID" and len(group.ssrcs) == 2:
            rtx[group.ssrcs[0]] = group.ssrcs[1]
        elif group.semantics == "SIM":
            layers = list(group.ssrcs)
    if not layers:
        rtx_ssrcs = set(rtx.values())
        layers = [s for s in ssrcs if s not in rtx_ssrcs][:1] or ssrcs[:1]
    video_type = next((s.video_type for s in wire.sources if s.video_type), "camera")
    return Source(wire.id, owner, wire.type, layers, rtx, video_type)
