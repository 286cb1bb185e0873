"""Colibri2, the focus's side (docs/colibri2.md §3-5): which requests to make, what answers mean.

The wire codec is ``common/stanzas/colibri2.py``; this module only decides the requests' content
(one endpoint per create, ``source-names`` always, ``ice-controlling``, SCTP) and turns answers into
an :class:`EndpointAllocation` or a :class:`BridgeError`. The client glue sends the elements as IQ
``set`` to the bridge's brewery occupant JID.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence
from xml.etree.ElementTree import Element

from ..common import ns
from ..common.stanzas.colibri2 import (
    CAPABILITY_SOURCE_NAMES,
    CAPABILITY_SSRC_REWRITING,
    REASON_CONFERENCE_ALREADY_EXISTS,
    REASON_CONFERENCE_NOT_FOUND,
    REASON_GRACEFUL_SHUTDOWN,
    Colibri2Error,
    ConferenceModify,
    Connect,
    Endpoint,
    ForceMute,
    Media,
    MediaSource,
    Relay,
    RelayEndpoint,
    Sctp,
    Transport,
    error_reason,
    parse_conference_modified,
)
from ..common.stanzas.jingle import IceTransport, Source, SsrcGroup, q

__all__ = ["Media", "EndpointAllocation", "BridgeError", "create_endpoint", "update_endpoint",
           "expire_endpoints", "expire_conference", "force_mute", "media_sources", "read_allocation",
           "read_restarted_transport", "read_error", "create_relay", "set_relay_transport", "relay_endpoints",
           "relay_endpoint", "expire_relay", "read_relay_transport", "TRANSCRIBER_CONNECT", "transcriber_connect",
           "connects"]

TRANSCRIBER_CONNECT = "transcriber"  # the id of the one transcriber connect, as jicofo's
# jicofo.transcription.ping's defaults (ms): the bridge pings the transcriber and reconnects when unanswered.
TRANSCRIBER_PING = (10_000, 3_000)


@dataclass
class EndpointAllocation:
    """What the bridge answered for one created endpoint."""

    endpoint_id: str
    transport: IceTransport
    sctp_port: int | None
    feedback_sources: list[Source] = field(default_factory=list)


class BridgeError(Exception):
    """The bridge refused or did not answer: an error the focus receives, read by :func:`read_error`
    (``condition`` and ``text`` as in :class:`StanzaError`, the error the focus sends), with the
    jitsi:colibri2 ``reason`` when given."""

    def __init__(self, condition: str, reason: str | None = None, text: str | None = None) -> None:
        self.condition = condition
        self.reason = reason
        self.text = text
        super().__init__(f"{condition}" + (f" ({reason})" if reason else "") + (f": {text}" if text else ""))

    @property
    def conference_lost(self) -> bool:
        return self.reason == REASON_CONFERENCE_NOT_FOUND

    @property
    def bridge_unusable(self) -> bool:
        return (self.reason in (REASON_GRACEFUL_SHUTDOWN, REASON_CONFERENCE_ALREADY_EXISTS)
                or self.condition == "remote-server-timeout")


def create_endpoint(meeting_id: str, endpoint_id: str, *, media: Sequence[Media], sctp: bool,
                    create_conference: bool, room: str | None = None, stats_id: str | None = None,
                    visitor: bool = False, ssrc_rewriting: bool = False,
                    force_mute: tuple[bool, bool] | None = None) -> Element:
    """The first request for a participant: its endpoint, and the conference on a new bridge."""
    if create_conference and not room:
        raise ValueError("creating a Colibri2 conference needs the room JID as its name")
    capabilities = [CAPABILITY_SOURCE_NAMES] + ([CAPABILITY_SSRC_REWRITING] if ssrc_rewriting else [])
    endpoint = Endpoint(
        endpoint_id, create=True, stats_id=stats_id, muc_role="visitor" if visitor else None,
        media=list(media), transport=Transport(ice_controlling=True, sctp=Sctp() if sctp else None),
        capabilities=capabilities,
        force_mute=ForceMute(*force_mute) if force_mute and any(force_mute) else None)
    return ConferenceModify(meeting_id, name=room if create_conference else None, create=create_conference,
                            rtcstats_enabled=False if create_conference else None,
                            endpoints=[endpoint]).to_element()


def update_endpoint(meeting_id: str, endpoint_id: str, *, transport: IceTransport | None = None,
                    sources: tuple[Iterable[Source], Iterable[SsrcGroup]] | None = None,
                    initial_last_n: int | None = None, stats_id: str | None = None,
                    ice_restart: bool = False) -> Element:
    endpoint = Endpoint(endpoint_id, stats_id=stats_id, initial_last_n=initial_last_n)
    if transport is not None or ice_restart:
        endpoint.transport = Transport(ice=transport, ice_restart=ice_restart)
    if sources is not None:
        endpoint.sources = media_sources(endpoint_id, *sources)
    return ConferenceModify(meeting_id, endpoints=[endpoint]).to_element()


def media_sources(endpoint_id: str, sources: Iterable[Source], groups: Iterable[SsrcGroup]) -> list[MediaSource]:
    """One ``<media-source>`` per source name (jicofo names unnamed ones ``<id>-a0``/``-v0``);
    each group goes with the source of its first SSRC."""
    by_name: dict[tuple[str, str], MediaSource] = {}
    where: dict[int, MediaSource] = {}
    for source in sources:
        name = source.name or f"{endpoint_id}-{source.media[0]}0"
        media_source = by_name.get((source.media, name))
        if media_source is None:
            media_source = by_name[(source.media, name)] = MediaSource(source.media, name)
        media_source.sources.append(Source(source.ssrc, source.media, name, video_type=source.video_type))
        where[source.ssrc] = media_source
    for group in groups:
        if group.ssrcs[0] in where:
            where[group.ssrcs[0]].ssrc_groups.append(group)
    return list(by_name.values())


def expire_endpoints(meeting_id: str, endpoint_ids: Iterable[str]) -> Element:
    return ConferenceModify(meeting_id, endpoints=[Endpoint(e, expire=True) for e in endpoint_ids]).to_element()


def expire_conference(meeting_id: str) -> Element:
    return ConferenceModify(meeting_id, expire=True).to_element()


def force_mute(meeting_id: str, endpoint_id: str, audio: bool, video: bool) -> Element:
    return ConferenceModify(meeting_id, endpoints=[
        Endpoint(endpoint_id, force_mute=ForceMute(audio, video))]).to_element()


def transcriber_connect(url_template: str, meeting_id: str, region: str | None) -> Connect:
    """The bridge's audio export to a transcriber (jicofo's ``transcription.url-template``, whose
    ``{{MEETING_ID}}`` and ``{{REGION}}`` are the meeting's id and the bridge's region)."""
    url = url_template.replace("{{MEETING_ID}}", meeting_id).replace("{{REGION}}", region or "")
    return Connect(url, TRANSCRIBER_CONNECT, type="transcriber", audio=True, ping=TRANSCRIBER_PING)


def connects(meeting_id: str, changes: Sequence[Connect]) -> Element:
    """Connects created, updated or expired (docs/colibri2.md §3.5)."""
    return ConferenceModify(meeting_id, connects=list(changes)).to_element()


# --- relays (Octo): jicofo's Colibri2Session.Relay -------------------------------------------------

def create_relay(meeting_id: str, relay_id: str, *, initiator: bool, media: Sequence[Media],
                 endpoints: Sequence[RelayEndpoint], mesh_id: str) -> Element:
    """A bridge's side of a relay to the bridge ``relay_id``, with the endpoints behind that one.
    The initiator side is ICE-controlling, asks for its own port and opens the SCTP bridge channel
    (as jicofo with ``octo.sctp-datachannels``, which docker-jitsi-meet sets)."""
    return ConferenceModify(meeting_id, relays=[Relay(
        relay_id, create=True, mesh_id=mesh_id, media=list(media), endpoints=list(endpoints),
        transport=Transport(ice_controlling=initiator, use_unique_port=initiator,
                            sctp=Sctp(role="client" if initiator else "server")))]).to_element()


def set_relay_transport(meeting_id: str, relay_id: str, transport: IceTransport, *, initiator: bool) -> Element:
    """The other bridge's transport for this side of a relay. Bridges answer ``actpass``; the
    initiator side is told the other is ``active`` (so it is the DTLS server), the other side
    that the initiator is ``passive``. Only the initiator side connects a colibri-ws bridge
    channel, so only it keeps the other's web-socket URL."""
    setup = "active" if initiator else "passive"
    ice = replace(transport, fingerprints=[replace(f, setup=setup) for f in transport.fingerprints],
                  web_sockets=list(transport.web_sockets) if initiator else [])
    return ConferenceModify(meeting_id, relays=[Relay(relay_id, transport=Transport(ice=ice))]).to_element()


def relay_endpoints(meeting_id: str, relay_id: str, endpoints: Sequence[RelayEndpoint]) -> Element:
    """Create, update or expire endpoints behind the bridge ``relay_id``."""
    return ConferenceModify(meeting_id, relays=[Relay(relay_id, endpoints=list(endpoints))]).to_element()


def expire_relay(meeting_id: str, relay_id: str) -> Element:
    return ConferenceModify(meeting_id, relays=[Relay(relay_id, expire=True)]).to_element()


def relay_endpoint(endpoint_id: str, *, stats_id: str | None = None,
                   sources: tuple[Iterable[Source], Iterable[SsrcGroup]] | None = None, create: bool = False,
                   expire: bool = False) -> RelayEndpoint:
    return RelayEndpoint(endpoint_id, create=create, expire=expire, stats_id=stats_id,
                         sources=media_sources(endpoint_id, *sources) if sources is not None else None)


# --- answers --------------------------------------------------------------------------------------

def read_allocation(modified: Element | None, endpoint_id: str) -> EndpointAllocation:
    """The transport and feedback sources of a created endpoint from ``conference-modified``."""
    try:
        answer = parse_conference_modified(modified)
    except Colibri2Error as exc:
        raise BridgeError("bad-request", text=str(exc)) from None
    endpoint = answer.endpoint(endpoint_id)
    if endpoint is None or endpoint.transport is None or endpoint.transport.ice is None:
        raise BridgeError("bad-request", text=f"answer lacks the ICE transport of endpoint {endpoint_id}")
    transport = endpoint.transport.ice
    transport.rtcp_mux = True
    sctp = endpoint.transport.sctp
    feedback = []
    for media_source in answer.sources or []:
        msid = f"mixedmslabel mixedlabel{media_source.type}0"
        for source in media_source.sources:
            feedback.append(Source(source.ssrc, media_source.type, source.name or media_source.id, msid,
                                   owner="jvb"))
    return EndpointAllocation(endpoint_id, transport, (sctp.port or 5000) if sctp is not None else None, feedback)


def read_restarted_transport(modified: Element | None, endpoint_id: str) -> IceTransport | None:
    """The bridge's transport after an ICE restart request; None when it could not restart."""
    try:
        endpoint = parse_conference_modified(modified).endpoint(endpoint_id)
    except Colibri2Error as exc:
        raise BridgeError("bad-request", text=str(exc)) from None
    if endpoint is None or endpoint.transport is None or endpoint.transport.ice is None:
        return None
    endpoint.transport.ice.rtcp_mux = True
    return endpoint.transport.ice


def read_relay_transport(modified: Element | None, relay_id: str) -> IceTransport:
    """The bridge's transport for a created relay."""
    try:
        answer = parse_conference_modified(modified)
    except Colibri2Error as exc:
        raise BridgeError("bad-request", text=str(exc)) from None
    relay = next((r for r in answer.relays if r.id == relay_id), None)
    if relay is None or relay.transport is None or relay.transport.ice is None:
        raise BridgeError("bad-request", text=f"answer lacks the ICE transport of relay {relay_id}")
    return relay.transport.ice


def read_error(error: Element | None) -> BridgeError:
    """The ``<error>`` child of an IQ error answer."""
    if error is None:
        return BridgeError("undefined-condition")
    condition, text = "undefined-condition", None
    for child in error:
        if child.tag == q(ns.STANZA_ERRORS, "text"):
            text = child.text
        elif child.tag.startswith(q(ns.STANZA_ERRORS, "")):
            condition = child.tag.split("}", 1)[1]
    return BridgeError(condition, error_reason(error), text)
