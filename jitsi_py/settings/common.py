"""Settings every service shares: the CONFIG directory, logging, XMPP naming, auth mode."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from .fields import (
    EnvSpec,
    Network,
    boolean,
    choice,
    directory,
    duration,
    env,
    integer,
    nested,
    networks,
    port_number,
    read,
    text,
    url,
)

AUTH_TYPES = ("internal", "jwt", "ldap", "matrix", "hybrid_matrix_token")
LOG_LEVELS = ("debug", "info", "warn", "warning", "error", "critical")
SERVICE_PASSWORDS = (
    "JICOFO_AUTH_PASSWORD",
    "JVB_AUTH_PASSWORD",
    "JIGASI_XMPP_PASSWORD",
    "JIBRI_RECORDER_PASSWORD",
    "JIBRI_XMPP_PASSWORD",
    "JIGASI_TRANSCRIBER_PASSWORD",
)


@dataclass(frozen=True)
class Domains:
    """The XMPP naming of docker-jitsi-meet (docs/deployment.md §4.1)."""

    domain: str = env("XMPP_DOMAIN", "meet.jitsi")
    auth: str = env("XMPP_AUTH_DOMAIN", "auth.meet.jitsi")
    muc: str = env("XMPP_MUC_DOMAIN", "muc.meet.jitsi")
    internal_muc: str = env("XMPP_INTERNAL_MUC_DOMAIN", "internal-muc.meet.jitsi")
    guest: str = env("XMPP_GUEST_DOMAIN", "guest.meet.jitsi")
    hidden: str = env("XMPP_HIDDEN_DOMAIN", "hidden.meet.jitsi", aliases=("XMPP_RECORDER_DOMAIN",))
    lobby: str = env("XMPP_LOBBY_MUC_DOMAIN", lambda v: "lobby." + (v.get("XMPP_DOMAIN") or "meet.jitsi"))
    breakout: str = env("XMPP_BREAKOUT_MUC_DOMAIN", lambda v: "breakout." + (v.get("XMPP_DOMAIN") or "meet.jitsi"))
    jvb_brewery: str = env("JVB_BREWERY_MUC", "jvbbrewery")
    jibri_brewery: str = env("JIBRI_BREWERY_MUC", "jibribrewery")
    jigasi_brewery: str = env("JIGASI_BREWERY_MUC", "jigasibrewery")

    @property
    def focus_component(self) -> str:
        return "focus." + self.domain

    @property
    def jvb_brewery_jid(self) -> str:
        return f"{self.jvb_brewery}@{self.internal_muc}"

    @property
    def jibri_brewery_jid(self) -> str:
        return f"{self.jibri_brewery}@{self.internal_muc}"

    @property
    def jigasi_brewery_jid(self) -> str:
        return f"{self.jigasi_brewery}@{self.internal_muc}"


@dataclass(frozen=True)
class XmppClient:
    """Where a service account (focus, bridge) logs in: c2s on the XMPP server."""

    server: str = env("XMPP_SERVER", "xmpp.meet.jitsi")
    port: int = env("XMPP_PORT", "5222", port_number)


@dataclass(frozen=True)
class Auth:
    enabled: bool = env("ENABLE_AUTH", "0", boolean)
    guests: bool = env("ENABLE_GUESTS", "0", boolean)
    type: str = env("AUTH_TYPE", "internal", choice(*AUTH_TYPES))


def _local_url(values: Mapping[str, str]) -> str:
    """PUBLIC_URL's default, on the web service's HTTPS_PORT (a bad port is that variable's error)."""
    return f"https://localhost:{read(EnvSpec('HTTPS_PORT', '8443', port_number), values)}"


@dataclass(frozen=True)
class HttpLimits:
    """What every HTTP listener (web 8000/8443, XMPP 5280, the bridge's REST and colibri-ws) allows
    a client: nginx's client_header_timeout and keepalive_timeout, and connection caps so that idle
    or slow clients cannot take the file descriptors every service of the process shares."""

    header_timeout: float = env("JITSI_PY_HTTP_HEADER_TIMEOUT", "60", duration)
    keepalive_timeout: float = env("JITSI_PY_HTTP_KEEPALIVE_TIMEOUT", "75", duration)
    max_connections: int = env("JITSI_PY_HTTP_MAX_CONNECTIONS", "10000", integer)
    # A company behind one NAT address joins too: generous, but below the listener's cap.
    max_connections_per_ip: int = env("JITSI_PY_HTTP_MAX_CONNECTIONS_PER_IP", "1000", integer)
    # Our own proxies (the web service in front of 5280 and colibri-ws, a load balancer) carry many
    # clients on one address: only the listener's cap applies to them.
    trusted_proxies: tuple[Network, ...] = env("JITSI_PY_HTTP_TRUSTED_PROXIES", "127.0.0.1,::1", networks)


# --- Sentry (common/sentry.py) ------------------------------------------------------------------
def sentry_dsn(raw: str) -> str | None:
    """A Sentry DSN, or None for upstream's "off" (compose writes ``SENTRY_DSN="${X:-0}"``, quotes
    included, and the services test it with toBool)."""
    value = raw.strip().strip("'\"").strip()
    if value.lower() in ("", "0", "false"):
        return None
    checked = url()(value)
    if "@" not in checked.partition("://")[2].partition("/")[0]:
        raise ValueError("expected a Sentry DSN such as https://key@o1.ingest.sentry.io/1")
    return checked


@dataclass(frozen=True)
class Sentry:
    """Error reporting: each service's DSN as upstream's compose names it (its container gets it as
    ``SENTRY_DSN``), the environment and release every event carries."""

    dsn: str | None = env("SENTRY_DSN", None, sentry_dsn)
    jicofo_dsn: str | None = env("JICOFO_SENTRY_DSN", None, sentry_dsn)
    jvb_dsn: str | None = env("JVB_SENTRY_DSN", None, sentry_dsn)
    # jigasi's: jitsi-py runs no jigasi (the SIP gateway is not ours), so no process reports with it.
    jigasi_dsn: str | None = env("JIGASI_SENTRY_DSN", None, sentry_dsn)
    environment: str | None = env("SENTRY_ENVIRONMENT", None, text)
    release: str | None = env("SENTRY_RELEASE", None, text)
# --- end Sentry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Common:
    config_dir: Path = env("CONFIG", "~/.jitsi-meet-cfg", directory)
    log_level: str = env("LOG_LEVEL", "info", choice(*LOG_LEVELS))
    log_format: str = env("LOG_FORMAT", "text", choice("text", "json"))
    tz: str = env("TZ", "UTC", text)
    public_url: str = env("PUBLIC_URL", _local_url, url())
    domains: Domains = nested(Domains)
    auth: Auth = nested(Auth)
    http: HttpLimits = nested(HttpLimits)
    sentry: Sentry = nested(Sentry)
