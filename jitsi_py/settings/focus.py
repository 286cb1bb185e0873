"""The focus (Jicofo's role): its XMPP login, bridge selection, conference rules, REST."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .common import XmppClient
from .fields import (
    boolean,
    bounded,
    choice,
    csv,
    duration,
    env,
    integer,
    nested,
    number,
    port_number,
    secret,
    unit_interval,
    url,
)


# --- the focus's authentication (jicofo.conf's authentication block) ----------------------------
def _or_shared(name: str, fallback: str):
    """jicofo.conf's ``JICOFO_X | default X``: the focus's own variable, else the shared one."""
    def default(values: Mapping[str, str]) -> str:
        return (values.get(name) or "").strip() or fallback
    return default


@dataclass(frozen=True)
class FocusAuth:
    """Whether the focus asks for authentication, and how: ``JICOFO_AUTH_TYPE=jwt`` is jicofo's
    JWT authority (the token was checked by the XMPP server), any other type its XMPP one."""

    enabled: bool = env("JICOFO_ENABLE_AUTH", _or_shared("ENABLE_AUTH", "0"), boolean)
    type: str = env("JICOFO_AUTH_TYPE", _or_shared("AUTH_TYPE", "internal"), str.lower)
    # Dropped upstream (the focus is "focus" to lib-jitsi-meet): read only to say so.
    user: str | None = env("JICOFO_AUTH_USER", None)
# --- end the focus's authentication ------------------------------------------------------------


# --- recording, dial-out and transcription (jicofo.conf's jibri, jigasi and trusted-domains) --------
def _trusted_domains(values: Mapping[str, str]) -> str:
    """docker's jicofo.conf: the hidden domain when recording or transcription is on, else none."""
    def on(name: str) -> bool:
        try:
            return boolean(values.get(name) or "0")
        except ValueError:  # that variable's own field reports it
            return False
    if on("ENABLE_RECORDING") or on("ENABLE_TRANSCRIPTIONS"):
        return (values.get("XMPP_HIDDEN_DOMAIN") or values.get("XMPP_RECORDER_DOMAIN") or "").strip() \
            or "hidden.meet.jitsi"
    return ""


@dataclass(frozen=True)
class FocusServices:
    """Which breweries the focus joins besides the bridges', and how it treats their members
    (docs/focus.md §8-§10)."""

    # jicofo.jibri: the recorder brewery is configured (and joined) only with recording on.
    recording: bool = env("ENABLE_RECORDING", "0", boolean)
    # num-retries: other recorders tried after a failure; -1 retries without end.
    jibri_retries: int = env("JIBRI_REQUEST_RETRIES", "5", bounded(-1, 1000))
    # pending-timeout: how long a recorder may stay "pending"; 0 waits forever.
    jibri_pending_timeout: float = env("JIBRI_PENDING_TIMEOUT", "90 seconds", duration)
    # jicofo.jigasi: the gateway brewery is joined with a SIP URI for dial-in or with transcription on.
    jigasi_sip_uri: str | None = env("JIGASI_SIP_URI", None)
    transcriptions: bool = env("ENABLE_TRANSCRIPTIONS", "0", boolean)
    # jicofo.transcription.url-template (docker-jitsi-meet has no variable for it): a room whose
    # metadata says recording.isTranscribingEnabled has one bridge export its audio to this URL
    # ({{MEETING_ID}}, {{REGION}} filled in). Unset: transcription is only the transcriber's dial.
    transcription_url_template: str | None = env("JITSI_PY_FOCUS_TRANSCRIPTION_URL_TEMPLATE", None, url("ws", "wss"))
    # jicofo.xmpp.trusted-domains: members from these domains may be recorders, gateways, transcribers.
    trusted_domains: tuple[str, ...] = env("JICOFO_TRUSTED_DOMAINS", _trusted_domains, csv)
    # conference.enable-moderator-checks: off, anyone in the room may record or dial out.
    moderator_checks: bool = env("ENABLE_MODERATOR_CHECKS", "1", boolean)
    # jicofo.xmpp's reply-timeout: how long a recorder or gateway may take to answer a request.
    reply_timeout: float = env("JITSI_PY_FOCUS_REPLY_TIMEOUT", "15", duration)

    @property
    def jigasi(self) -> bool:
        return bool(self.jigasi_sip_uri) or self.transcriptions
# --- end recording, dial-out and transcription -------------------------------------------------


@dataclass(frozen=True)
class Focus:
    xmpp: XmppClient = nested(XmppClient)
    password: str | None = env("JICOFO_AUTH_PASSWORD", None, secret)
    auth: FocusAuth = nested(FocusAuth)
    services: FocusServices = nested(FocusServices)
    rest_port: int = env("JICOFO_REST_PORT", "8888", port_number)
    health_checks: bool = env("JICOFO_ENABLE_HEALTH_CHECKS", "0", boolean)
    bridge_health_checks: bool = env("JICOFO_ENABLE_BRIDGE_HEALTH_CHECKS", "1", boolean)
    auto_login: bool = env("ENABLE_AUTO_LOGIN", "1", boolean)
    auth_lifetime: float = env("JICOFO_AUTH_LIFETIME", "24 hours", duration)
    max_bridge_participants: int = env("MAX_BRIDGE_PARTICIPANTS", "80", integer)
    participant_stress: float = env("BRIDGE_AVG_PARTICIPANT_STRESS", "0.01", number)
    stress_threshold: float = env("BRIDGE_STRESS_THRESHOLD", "0.8", number)
    region: str | None = env("JICOFO_OCTO_REGION", None)
    # octo.enabled: a conference may span bridges linked by Colibri2 relays.
    octo: bool = env("ENABLE_OCTO", "0", boolean)
    # Our own: after moving participants off a bridge whose relay failed (both bridges reporting it,
    # docs/focus.md §5.5), how long the conference keeps off that bridge.
    relay_failure_avoid: float = env("JITSI_PY_FOCUS_RELAY_FAILURE_AVOID", "10 minutes", duration)
    # Our own: how long a session-initiate may wait for the accept of a participant offered just
    # before, so that it carries that participant's sources (docs/focus.md §3.1); 0 never waits.
    initiate_wait: float = env("JITSI_PY_FOCUS_INITIATE_WAIT", "500ms", duration)
    selection_strategy: str | None = env("OCTO_BRIDGE_SELECTION_STRATEGY", None, choice(
        "singlebridgeselectionstrategy", "splitbridgeselectionstrategy", "regionbasedbridgeselectionstrategy"))
    initial_timeout: float = env("JICOFO_CONF_INITIAL_PARTICIPANT_WAIT_TIMEOUT", "15", duration)
    single_participant_timeout: float = env("JICOFO_CONF_SINGLE_PARTICIPANT_TIMEOUT", "20", duration)
    max_ssrcs_per_user: int = env("MAX_SSRCS_PER_USER", "20", integer)
    max_ssrc_groups_per_user: int = env("MAX_SSRC_GROUPS_PER_USER", "20", integer)
    auto_owner: bool = env("ENABLE_AUTO_OWNER", "1", boolean)
    codec_vp8: bool = env("ENABLE_CODEC_VP8", "1", boolean)
    codec_vp9: bool = env("ENABLE_CODEC_VP9", "1", boolean)
    codec_av1: bool = env("ENABLE_CODEC_AV1", "1", boolean)
    codec_h264: bool = env("ENABLE_CODEC_H264", "1", boolean)
    codec_opus_red: bool = env("ENABLE_CODEC_OPUS_RED", "0", boolean)
    enable_tcc: bool = env("ENABLE_TCC", "1", boolean)
    enable_remb: bool = env("ENABLE_REMB", "1", boolean)
    enable_mid: bool = env("JICOFO_ENABLE_MID", "0", boolean)
    enable_vla: bool = env("ENABLE_VLA", "0", boolean)
    strip_simulcast: bool = env("JICOFO_CONF_STRIP_SIMULCAST", "1", boolean)
    ssrc_rewriting: bool = env("JICOFO_CONF_SSRC_REWRITING", "1", boolean)
    rest_public: bool = env("JICOFO_ENABLE_REST", "0", boolean)
    bridge_health_interval: float = env("JICOFO_BRIDGE_HEALTH_CHECKS_INTERVAL", "10", duration)
    colibri_timeout: float = env("JICOFO_COLIBRI_REQUEST_TIMEOUT", "3", duration)
    # Verified XEP-0115 answers kept for reuse; one entry per client release seen.
    caps_cache_size: int = env("JITSI_PY_FOCUS_CAPS_CACHE_SIZE", "1000", bounded(1, 1000000))

    # --- upstream parity, 2026 (docker-jitsi-meet's jicofo.conf) -------------------------------------
    # bridge.ice-failure-detection: the interval, floor and threshold are docker's values (they apply
    # only once enabled); the 10-minute hold is jicofo's.
    ice_failure_detection: bool = env("JICOFO_ENABLE_ICE_FAILURE_DETECTION", "0", boolean)
    ice_failure_interval: float = env("JICOFO_ICE_FAILURE_INTERVAL", "60", duration)
    ice_failure_min_endpoints: int = env("JICOFO_ICE_FAILURE_MIN_ENDPOINTS", "40", bounded(0, 1_000_000))
    ice_failure_threshold: float = env("JICOFO_ICE_FAILURE_THRESHOLD", "0.1", unit_interval)
    # bridge.load-redistribution (docker sets only "enabled"; the rest are jicofo's defaults).
    load_redistribution: bool = env("JICOFO_ENABLE_LOAD_REDISTRIBUTION", "0", boolean)
    # conference.restart-request-rate-limits: per participant, full restarts and ICE restarts each.
    restart_request_max: int = env("JICOFO_RESTART_REQUEST_MAX", "5", bounded(0, 1_000_000))
    restart_request_interval: float = env("JICOFO_RESTART_REQUEST_INTERVAL", "60", duration)
