"""The XMPP server (Prosody's role): listeners, limits, room modules, service accounts, TURN."""

from __future__ import annotations

from dataclasses import dataclass

from .auth import AuthBackends
from .fields import (
    Network,
    boolean,
    bounded,
    csv,
    duration,
    env,
    integer,
    nested,
    networks,
    number,
    port_number,
    rate,
    secret,
    size,
    text,
    url,
)


@dataclass(frozen=True)
class ServiceAccounts:
    """Accounts created at start on the auth and hidden domains; unset passwords create none."""

    focus_password: str | None = env("JICOFO_AUTH_PASSWORD", None, secret)
    jvb_user: str = env("JVB_AUTH_USER", "jvb")
    jvb_password: str | None = env("JVB_AUTH_PASSWORD", None, secret)
    jibri_user: str = env("JIBRI_XMPP_USER", "jibri")
    jibri_password: str | None = env("JIBRI_XMPP_PASSWORD", None, secret)
    recorder_user: str = env("JIBRI_RECORDER_USER", "recorder")
    recorder_password: str | None = env("JIBRI_RECORDER_PASSWORD", None, secret)
    jigasi_user: str = env("JIGASI_XMPP_USER", "jigasi")
    jigasi_password: str | None = env("JIGASI_XMPP_PASSWORD", None, secret)
    transcriber_user: str = env("JIGASI_TRANSCRIBER_USER", "transcriber")
    transcriber_password: str | None = env("JIGASI_TRANSCRIBER_PASSWORD", None, secret)


@dataclass(frozen=True)
class Turn:
    """XEP-0215 external services, as docker's prosody template renders them."""

    stun_host: str | None = env("STUN_HOST", None)
    stun_port: int = env("STUN_PORT", "443", port_number)
    turn_host: str | None = env("TURN_HOST", None)
    turns_host: str | None = env("TURNS_HOST", None)
    turn_port: int = env("TURN_PORT", "443", port_number)
    turns_port: int = env("TURNS_PORT", "443", port_number)
    turn_transport: str = env("TURN_TRANSPORT", "tcp")
    credentials: str | None = env("TURN_CREDENTIALS", None, secret)
    username: str | None = env("TURN_USERNAME", None)
    password: str | None = env("TURN_PASSWORD", None, secret)
    ttl: int = env("TURN_TTL", "86400", integer)


@dataclass(frozen=True)
class Limits:
    """Prosody's defaults; a violation closes that one stream."""

    stanza_size: int = env("PROSODY_C2S_STANZA_SIZE_LIMIT", "256kb", size)
    c2s_rate: int = env("PROSODY_C2S_LIMIT", "10kb/s", rate)
    c2s_rate_disabled: bool = env("PROSODY_DISABLE_C2S_LIMIT", "0", boolean)
    unauthenticated_timeout: float = env("PROSODY_C2S_TIMEOUT", "60", duration)
    max_connections: int = env("PROSODY_MAX_CONNECTIONS", "20000", integer)
    smacks_hibernation: float = env("PROSODY_SMACKS_HIBERNATION_TIME", "60", duration)
    # Prosody's values of the same limits, under our own names (docker has no variable for them).
    smacks_max_queue: int = env("JITSI_PY_XMPP_SMACKS_MAX_QUEUE", "500", integer)
    ping_interval: float = env("JITSI_PY_XMPP_PING_INTERVAL", "60", duration)
    ping_timeout: float = env("JITSI_PY_XMPP_PING_TIMEOUT", "30", duration)
    max_depth: int = env("JITSI_PY_XMPP_MAX_DEPTH", "48", integer)
    max_attributes: int = env("JITSI_PY_XMPP_MAX_ATTRIBUTES", "64", integer)
    websocket_frame_size: int = env("JITSI_PY_XMPP_WEBSOCKET_FRAME_LIMIT", "512kb", size)
    bosh_body_size: int = env("JITSI_PY_XMPP_BOSH_BODY_LIMIT", "512kb", size)
    bosh_max_requests: int = env("JITSI_PY_XMPP_BOSH_MAX_REQUESTS", "2", integer)
    bosh_max_wait: float = env("JITSI_PY_XMPP_BOSH_MAX_WAIT", "120", duration)
    bosh_max_inactivity: float = env("JITSI_PY_XMPP_BOSH_MAX_INACTIVITY", "60", duration)
    bosh_polling: float = env("JITSI_PY_XMPP_BOSH_POLLING", "5", duration)
    # Password guessing (xmpp/login_throttle.py): failed logins within the window, per client
    # address (then refused for a while; 0: no limit) and per account (then slowed, never refused).
    login_failures_per_address: int = env("JITSI_PY_XMPP_LOGIN_FAILURES_PER_ADDRESS", "10", bounded(0, 1_000_000))
    login_failures_per_account: int = env("JITSI_PY_XMPP_LOGIN_FAILURES_PER_ACCOUNT", "30", bounded(0, 1_000_000))
    login_failure_window: float = env("JITSI_PY_XMPP_LOGIN_FAILURE_WINDOW", "60", duration)
    login_max_delay: float = env("JITSI_PY_XMPP_LOGIN_MAX_DELAY", "5", duration)
    login_throttle_table_size: int = env("JITSI_PY_XMPP_LOGIN_THROTTLE_TABLE_SIZE", "10000", bounded(1, 10_000_000))


@dataclass(frozen=True)
class Rooms:
    """Which Jitsi room modules are on, as docker's prosody template switches them."""

    lobby: bool = env("ENABLE_LOBBY", "1", boolean)
    breakout_rooms: bool = env("ENABLE_BREAKOUT_ROOMS", "1", boolean)
    av_moderation: bool = env("ENABLE_AV_MODERATION", "1", boolean)
    end_conference: bool = env("ENABLE_END_CONFERENCE", "1", boolean)
    polls_disabled: bool = env("DISABLE_POLLS", "0", boolean)
    max_participants: int | None = env("MAX_PARTICIPANTS", None, integer)
    reservation_enabled: bool = env("PROSODY_RESERVATION_ENABLED", "0", boolean)
    reservation_url: str | None = env("PROSODY_RESERVATION_REST_BASE_URL", None, url())
    subdomains: bool = env("ENABLE_SUBDOMAINS", "1", boolean)
    # A plain MUC (no Jitsi wait-for-the-focus rule) lets bench/ compare us with a stock Prosody.
    wait_for_focus: bool = env("JITSI_PY_MUC_WAIT_FOR_FOCUS", "1", boolean)
    # Presence updates an occupant may send per second after a burst; the excess is refused.
    presence_rate: float = env("JITSI_PY_MUC_PRESENCE_RATE", "10", number)
    presence_burst: int = env("JITSI_PY_MUC_PRESENCE_BURST", "30", integer)
    # Joins one room may hold while it waits for the focus (or a guest for its host).
    max_held_joins: int = env("JITSI_PY_MUC_MAX_HELD_JOINS", "500", integer)


# --- custom plugins (docs/plugins.md) -----------------------------------------------------------
@dataclass(frozen=True)
class Plugins:
    """Extra modules by name, as docker's Prosody loads them from CONFIG/prosody/prosody-plugins-custom:
    ours are Python plugins there (``<name>.py``); each variable is the host the plugins attach to."""

    host_modules: tuple[str, ...] = env("XMPP_MODULES", "", csv)  # the main virtual host
    muc_modules: tuple[str, ...] = env("XMPP_MUC_MODULES", "", csv)  # the conference MUC
    internal_muc_modules: tuple[str, ...] = env("XMPP_INTERNAL_MUC_MODULES", "", csv)  # the internal MUC
    lobby_muc_modules: tuple[str, ...] = env("XMPP_LOBBY_MUC_MODULES", "", csv)  # the lobby MUC
    breakout_muc_modules: tuple[str, ...] = env("XMPP_BREAKOUT_MUC_MODULES", "", csv)  # the breakout MUC
    # Upstream's speakerstats component serves the conference MUC: its plugins attach to that MUC.
    speakerstats_modules: tuple[str, ...] = env("XMPP_SPEAKERSTATS_MODULES", "", csv)
    global_modules: tuple[str, ...] = env("GLOBAL_MODULES", "", csv)  # the whole server
    # Lua text Prosody appends to its config: read only to say it is ignored.
    global_config: str | None = env("GLOBAL_CONFIG", None, text)
# --- end custom plugins ------------------------------------------------------------------------


@dataclass(frozen=True)
class MucResourceValidate:
    """muc_resource_validate on the conference MUC, as docker's jitsi-meet.cfg.lua switches it: a
    nick (MUC resource) is a letter or digit then letters, digits or ``_``, and never changes; strict,
    users of an anonymous virtual host must take the first 8 characters of their JID's username."""

    enabled: bool = env("PROSODY_ENABLE_MUC_RESOURCE_VALIDATE", "true", boolean)
    anonymous_strict: bool = env("PROSODY_MUC_RESOURCE_VALIDATE_ANONYMOUS_STRICT", "false", boolean)
    # Prosody authentication provider names counted as anonymous (the module's default list).
    anonymous_methods: tuple[str, ...] = env("PROSODY_MUC_RESOURCE_VALIDATE_ANON_METHODS",
                                             "anonymous,jitsi-anonymous,token", csv)


@dataclass(frozen=True)
class XmppServer:
    c2s_port: int = env("XMPP_PORT", "5222", port_number)
    http_port: int = env("PROSODY_HTTP_PORT", "5280", port_number)
    component_port: int = env("PROSODY_COMPONENT_PORT", "5347", port_number)
    component_secret: str | None = env("JICOFO_COMPONENT_SECRET", None, secret)
    interfaces: tuple[str, ...] = env("PROSODY_INTERFACES", "*", csv)
    require_encryption: bool = env("PROSODY_C2S_REQUIRE_ENCRYPTION", "1", boolean)
    websocket: bool = env("ENABLE_XMPP_WEBSOCKET", "1", boolean)
    trusted_proxies: tuple[Network, ...] = env("PROSODY_TRUSTED_PROXIES", "127.0.0.1,::1", networks)
    admins: tuple[str, ...] = env("PROSODY_ADMINS", "", csv)
    guest_auth_type: str = env("PROSODY_GUEST_AUTH_TYPE", "jitsi-anonymous", text)
    accounts: ServiceAccounts = nested(ServiceAccounts)
    turn: Turn = nested(Turn)
    limits: Limits = nested(Limits)
    rooms: Rooms = nested(Rooms)
    auth_backends: AuthBackends = nested(AuthBackends)
    plugins: Plugins = nested(Plugins)
    resource_validate: MucResourceValidate = nested(MucResourceValidate)

    # --- upstream parity: what docker-jitsi-meet configures and this server does not do ------------
    def upstream_warnings(self, auth_enabled: bool) -> list[str]:
        """Warnings for the start log, so that no upstream setting is silently ignored."""
        if self.allowner_issuers(auth_enabled) and "muc_allowners" not in self.plugins.muc_modules:
            return ["JWT_ACCEPTED_ALLOWNER_ISSUERS is set but XMPP_MUC_MODULES does not name muc_allowners: "
                    "as upstream, it has no effect then"]
        return []

    def allowner_issuers(self, auth_enabled: bool) -> frozenset[str]:
        """What muc_allowners gets: upstream's template writes the issuers only for token logins."""
        backends = self.auth_backends
        if auth_enabled and backends.type in ("jwt", "hybrid_matrix_token"):
            return frozenset(backends.jwt.allowner_issuers)
        return frozenset()
