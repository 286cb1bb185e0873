"""The SIP gateway (Jigasi's role): its SIP account and transport, the RTP port range, its brewery login,
its HTTP port."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from .common import Common, XmppClient
from .fields import (
    EnvSpec,
    boolean,
    bounded,
    choice,
    csv,
    directory,
    env,
    integer,
    nested,
    port_number,
    read,
    secret,
    url,
)


def sip_address(raw: str) -> str:
    """``user@host`` as docker-jitsi-meet writes it, or a SIP URI (``sip:[user@]host[:port]``); always
    returned with its scheme."""
    value = raw.strip()
    scheme, colon, rest = value.partition(":")
    if colon and scheme.lower() in ("sip", "sips"):
        user, at, host = rest.rpartition("@")
        valid = bool(host) and (not at or bool(user))
    else:
        scheme, rest = "sip", value
        user, at, host = rest.partition("@")
        valid = bool(at and user and host)
    if not valid or "/" in host or ":" in user:
        raise ValueError("expected a SIP address such as jigasi@sip.example.com or sip:jigasi@sip.example.com")
    return f"{scheme.lower()}:{rest}"


def milliseconds(raw: str) -> float:
    """Upstream's millisecond counts (``300000``) as seconds."""
    return integer(raw) / 1000


def _web_mapper(values: Mapping[str, str]) -> str:
    """The web service's built-in conference mapper (web/dialin.py), under PUBLIC_URL."""
    public: str = read(Common.__dataclass_fields__["public_url"].metadata["env"], values)
    return public.rstrip("/") + "/conference-mapper"


def _keys_dir(values: Mapping[str, str]) -> str:
    """docker's jigasi.yml mounts ``${CONFIG}/jigasi``."""
    config: Path = read(EnvSpec("CONFIG", "~/.jitsi-meet-cfg", directory), values)
    return str(config / "jigasi" / "keys")


@dataclass(frozen=True)
class Sip:
    # The account: with a URI the gateway runs (and the all-in-one starts it).
    sip_uri: str | None = env("JIGASI_SIP_URI", None, sip_address)
    sip_password: str | None = env("JIGASI_SIP_PASSWORD", None, secret)
    # The registrar and outbound proxy; unset, the gateway neither registers nor uses a proxy.
    sip_server: str | None = env("JIGASI_SIP_SERVER", None)
    sip_port: int = env("JIGASI_SIP_PORT", "5060", port_number)
    sip_transport: str = env("JIGASI_SIP_TRANSPORT", "UDP", choice("udp", "tcp", "tls"))
    port_min: int = env("JIGASI_PORT_MIN", "20000", port_number)
    port_max: int = env("JIGASI_PORT_MAX", "20050", port_number)
    keep_alive_method: str = env("JIGASI_SIP_KEEP_ALIVE_METHOD", "OPTIONS",
                                 choice("options", "crlf", "register", "none"))
    sdes_srtp: bool = env("JIGASI_ENABLE_SDES_SRTP", "0", boolean)
    health_check_uri: str | None = env("JIGASI_HEALTH_CHECK_SIP_URI", None, sip_address)
    health_check_interval: float = env("JIGASI_HEALTH_CHECK_INTERVAL", "300000", milliseconds)
    default_room: str | None = env("JIGASI_SIP_DEFAULT_ROOM", None)
    jvb_timeout: float = env("JIGASI_JVB_TIMEOUT", "30000", milliseconds)
    local_region: str | None = env("JIGASI_LOCAL_REGION", None)
    xmpp: XmppClient = nested(XmppClient)
    user: str = env("JIGASI_XMPP_USER", "jigasi")
    password: str | None = env("JIGASI_XMPP_PASSWORD", None, secret)
    instance_id: str = env("JIGASI_INSTANCE_ID", lambda v: v.get("HOSTNAME") or socket.gethostname())
    # The conference mapper that turns a PIN typed by a caller without a room into the room: by
    # default the web service's own, which the web client also asks for the PIN it shows.
    confcode_url: str = env("CONFCODE_URL", _web_mapper, url())
    # --- our own ---------------------------------------------------------------------------------
    # JIGASI_SIP_TRANSPORT=TLS: whether the SIP server's certificate is checked (system CAs, its name).
    tls_verify: bool = env("JITSI_PY_SIP_TLS_VERIFY", "1", boolean)
    # JIGASI_SIP_TRANSPORT=TLS: where the certificate peers connecting to us see is (sip.crt, sip.key);
    # a self-signed pair is made there when there is none.
    tls_keys: Path = env("JITSI_PY_SIP_TLS_KEYS", _keys_dir, directory)
    # An internal mapper (the web service of the all-in-one) may have a self-signed certificate.
    confcode_verify_tls: bool = env("JITSI_PY_SIP_CONFCODE_VERIFY_TLS", "1", boolean)
    # Where the gateway listens for SIP, and the address it gives peers (Via, Contact, SDP) when the
    # listening one is a wildcard: by default the one that routes to the SIP server.
    local_host: str = env("JITSI_PY_SIP_HOST", "0.0.0.0")
    local_port: int = env("JITSI_PY_SIP_PORT", "5060", port_number)
    advertise_ip: str | None = env("JITSI_PY_SIP_ADVERTISE_IP", None)
    # The INVITE headers naming the room (Jigasi's default and docker-jitsi-meet's template).
    room_headers: tuple[str, ...] = env("JITSI_PY_SIP_ROOM_HEADERS", "Jitsi-Conference-Room,X-Room-Name", csv)
    max_calls: int = env("JITSI_PY_SIP_MAX_CALLS", "100", bounded(1, 10000))
    # Session timers (RFC 4028): the interval we ask for and the longest we grant, and the shortest we take
    # (a shorter one is refused 422). RFC 4028 puts Min-SE at 90 s or more; below that only for tests.
    session_expires: int = env("JITSI_PY_SIP_SESSION_EXPIRES", "1800", bounded(1, 86400))
    min_se: int = env("JITSI_PY_SIP_MIN_SE", "90", bounded(1, 86400))
    http_port: int = env("JITSI_PY_SIP_HTTP_PORT", "8788", port_number)
    http_interfaces: tuple[str, ...] = env("JITSI_PY_SIP_HTTP_INTERFACES", "*", csv)

    @property
    def enabled(self) -> bool:
        return bool(self.sip_uri)
