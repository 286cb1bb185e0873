"""The bridge (Jitsi Videobridge's role): its XMPP login, the media port, candidates, REST."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Mapping

from .common import XmppClient
from .fields import Network, boolean, bounded, csv, duration, env, nested, networks, port_number, secret, size

BWE_ENGINES = ("GoogleCc", "GoogleCc2")  # jitsi-media-transform's BandwidthEstimatorEngine


def bwe_engine_name(raw: str) -> str:
    for name in BWE_ENGINES:
        if raw.lower() == name.lower():
            return name
    raise ValueError("expected one of " + ", ".join(BWE_ENGINES))


def relay_timeout(raw: str) -> float:
    seconds = duration(raw)
    if seconds < 1:
        raise ValueError("expected at least 1 s (ICE keep-alives cross a relay every third of it)")
    return seconds


def usable_cores(_values: Mapping[str, str]) -> str:
    """The cores this process may run on (its CPU affinity, which a container's cpuset narrows)."""
    return str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


@dataclass(frozen=True)
class Bridge:
    xmpp: XmppClient = nested(XmppClient)
    user: str = env("JVB_AUTH_USER", "jvb")
    password: str | None = env("JVB_AUTH_PASSWORD", None, secret)
    nickname: str = env("JVB_MUC_NICKNAME", lambda v: v.get("HOSTNAME") or socket.gethostname())
    disable_xmpp: bool = env("JVB_DISABLE_XMPP", "0", boolean)
    port: int = env("JVB_PORT", "10000", port_number)
    advertise_ips: tuple[str, ...] = env("JVB_ADVERTISE_IPS", "", csv, aliases=("DOCKER_HOST_ADDRESS",))
    advertise_private_candidates: bool = env("JVB_ADVERTISE_PRIVATE_CANDIDATES", "1", boolean)
    stun_servers: tuple[str, ...] = env("JVB_STUN_SERVERS", "meet-jit-si-turnrelay.jitsi.net:443", csv)
    disable_stun: bool = env("JVB_DISABLE_STUN", "0", boolean)
    colibri_port: int = env("JVB_COLIBRI_PORT", "8080", port_number)
    colibri_rest: bool = env("COLIBRI_REST_ENABLED", "0", boolean)
    shutdown_rest: bool = env("SHUTDOWN_REST_ENABLED", "0", boolean)
    # Our own, as videobridge.http-servers.*.host: where the REST port and the colibri-ws port listen
    # ("*": every interface; the all-in-one says loopback, as for the XMPP server).
    http_interfaces: tuple[str, ...] = env("JITSI_PY_JVB_HTTP_INTERFACES", "*", csv)
    # Our own: who may drain the bridge or shut it down over REST. Upstream serves those on its private
    # interface only; here the REST port may face a network, so they answer loopback unless told more.
    rest_control_from: tuple[Network, ...] = env("JITSI_PY_JVB_REST_CONTROL_FROM", "127.0.0.1,::1", networks)
    # Octo relays (videobridge.relay.enabled): Colibri2 <relay> between this and other bridges.
    octo: bool = env("ENABLE_OCTO", "0", boolean)
    region: str | None = env("JVB_OCTO_REGION", None)
    # Our own: a relay that hears nothing from the other bridge for this long has failed (relay.py):
    # the endpoints behind it are announced inactive and our focus re-places (docs/focus.md §5.5).
    relay_timeout: float = env("JITSI_PY_BRIDGE_RELAY_TIMEOUT", "15", relay_timeout)
    # Our own: audio packets a media export (Colibri2 <connect>) holds while its peer falls behind;
    # beyond that the oldest are dropped (jitsi-videobridge's exporter queue is 1024 too).
    export_queue: int = env("JITSI_PY_BRIDGE_EXPORT_QUEUE", "1024", bounded(16, 100_000))
    # Our names for jitsi-videobridge's jmt.audio.level discard-silence and
    # forwarded-silence-packets-limit: audio packets marked silent (RFC 6464 level 127) are not
    # forwarded once this many in a row went through (docs/bridge-media.md §4.5).
    discard_silence: bool = env("JITSI_PY_BRIDGE_DISCARD_SILENCE", "1", boolean)
    forwarded_silence: int = env("JITSI_PY_BRIDGE_FORWARDED_SILENCE_PACKETS", "3", bounded(0, 1_000_000))
    relay_id: str | None = env("JVB_OCTO_RELAY_ID", None, aliases=("JVB_OCTO_BIND_ADDRESS",))
    instance_id: str | None = env("JVB_INSTANCE_ID", None)
    # colibri-ws: served on the bridge's public HTTP port, proxied by the web service at
    # /colibri-ws/<server id>/ (the web side reads ENABLE_COLIBRI_WEBSOCKET and the same port).
    # docker-jitsi-meet removed it (the SCTP data channel is the only bridge channel there); off by
    # default as there, kept on request for clients that cannot do SCTP, with a warning at start.
    websocket: bool = env("ENABLE_COLIBRI_WEBSOCKET", "0", boolean)
    websocket_domain: str | None = env("JVB_WS_DOMAIN", None)
    websocket_server_id: str = env("JVB_WS_SERVER_ID", "jvb")
    websocket_port: int = env("COLIBRI_WEBSOCKET_PORT", "9090", port_number)
    require_valid_address: bool = env("JVB_REQUIRE_VALID_ADDRESS", "0", boolean)
    # Our own, as ice4j's harvest.use-ipv6: the media port also on IPv6 (one dual-stack socket)
    # with IPv6 host candidates.
    use_ipv6: bool = env("JITSI_PY_JVB_USE_IPV6", "1", boolean)
    # Our own: the media socket's SO_RCVBUF/SO_SNDBUF (forced past net.core.rmem_max when root).
    socket_buffer: int = env("JITSI_PY_JVB_SOCKET_BUFFER", "4mb", size)
    # Let the send-side bandwidth estimate (transport-cc, else REMB) cap each receiver's layers.
    trust_bwe: bool = env("JVB_CC_TRUST_BWE", "true", boolean)
    # Our own: full bridges in one host's processes, one per core (bridge/workers.py, docs/bridge-media.md
    # §10); worker i takes JVB_PORT + i and joins the brewery as <JVB_MUC_NICKNAME>-<i>. 1: one process.
    workers: int = env("JITSI_PY_BRIDGE_WORKERS", usable_cores, bounded(1, 256))

    # --- upstream parity, 2026 ----------------------------------------------------------------------
    # jmt.bwe.estimator.engine: jitsi-py has one send-side estimator (bridge/bwe.py, GCC-style delay
    # and loss control), which serves either name; GoogleCc gets a warning that it is not that engine.
    bwe_engine: str = env("BWE_ESTIMATOR_ENGINE", "GoogleCc2", bwe_engine_name)
    # Read only for the warning; JVB_ADVERTISE_IPS takes its value (an alias) when unset itself.
    docker_host_address: tuple[str, ...] = env("DOCKER_HOST_ADDRESS", "", csv)

    def upstream_warnings(self) -> list[str]:
        """Warnings for the start log: what is set here that upstream no longer has."""
        warnings = []
        if self.docker_host_address and self.advertise_ips == self.docker_host_address:
            warnings.append("DOCKER_HOST_ADDRESS is deprecated, migrate to JVB_ADVERTISE_IPS")
        if self.bwe_engine != "GoogleCc2":
            warnings.append(f"BWE_ESTIMATOR_ENGINE={self.bwe_engine}: jitsi-py has one bandwidth estimator, "
                            "delay- and loss-based as GoogleCc2; it is used instead")
        if self.websocket:
            warnings.append("ENABLE_COLIBRI_WEBSOCKET=1 (with JVB_WS_DOMAIN, JVB_WS_SERVER_ID, "
                            "COLIBRI_WEBSOCKET_PORT): docker-jitsi-meet removed colibri-ws, clients use the SCTP "
                            "data channel; still served here for clients that cannot")
        return warnings
