"""The web service (the nginx ``web`` container's role): ports, TLS, proxy targets, config.js.

Every variable keeps docker-jitsi-meet's name and the default of its templates
(``web/rootfs/defaults/{default,meet.conf,ssl.conf,system-config.js,settings-config.js}``).
Feature variables are kept raw-but-validated here; ``jitsi_py.web.config_js`` maps them to keys.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .fields import boolean, csv, env, integer, json_list, nested, path, port_number, text, url
from .sip import sip_address


def json_array(raw: str) -> str:
    """A JSON array of objects (dial-in numbers as jitsi-meet reads them), kept as its text."""
    try:
        value = json.loads(raw)
    except ValueError:
        raise ValueError("expected a JSON array of objects") from None
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValueError("expected a JSON array of objects")
    return raw

def js_object(raw: str) -> str:
    """A JSON object (CHROME_EXTENSION_BANNER_JSON); kept as text once it parses."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"expected a JSON object: {exc.msg}") from None
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return raw


def digits_or_false(raw: str) -> int | bool:
    """ROOM_PASSWORD_DIGITS: ``false`` (any password) or the number of digits."""
    if raw.lower() == "false":
        return False
    value = integer(raw)
    if value < 1:
        raise ValueError("expected false or a positive number of digits")
    return value


def regex(raw: str) -> str:
    try:
        re.compile(raw)
    except re.error as exc:
        raise ValueError(f"expected a regular expression: {exc}") from None
    return raw


def header_value(raw: str) -> str:
    """An HTTP header's value (CSP_HEADER), as nginx's add_header sends it on every response."""
    if any(ord(c) < 0x20 and c != "\t" or ord(c) == 0x7F for c in raw):
        raise ValueError("expected one line of header text, without control characters")
    return raw


def bridge_map(raw: str) -> tuple[tuple[str, str, int], ...]:
    """``id=host:port`` comma list: the bridges whose colibri-ws this web service may reach."""
    out: list[tuple[str, str, int]] = []
    for item in csv(raw):
        bridge_id, sep, target = item.partition("=")
        host, colon, port = target.rpartition(":")
        if not sep or not bridge_id or not colon or not host:
            raise ValueError("expected id=host:port items, e.g. jvb=127.0.0.1:9090")
        out.append((bridge_id.strip(), host.strip("[] "), port_number(port.strip())))
    return tuple(out)


@dataclass(frozen=True)
class Tls:
    disable_https: bool = env("DISABLE_HTTPS", "0", boolean)
    http_redirect: bool = env("ENABLE_HTTP_REDIRECT", "0", boolean)
    hsts: bool = env("ENABLE_HSTS", "1", boolean)
    letsencrypt: bool = env("ENABLE_LETSENCRYPT", "0", boolean)
    letsencrypt_domain: str | None = env("LETSENCRYPT_DOMAIN", None)
    letsencrypt_email: str | None = env("LETSENCRYPT_EMAIL", None)
    letsencrypt_staging: bool = env("LETSENCRYPT_USE_STAGING", "0", boolean)
    # Upstream's acme.sh defaults to ZeroSSL, which needs external account binding credentials;
    # without them only Let's Encrypt (or an explicit directory URL) can work, so that is ours.
    acme_server: str = env("LETSENCRYPT_ACME_SERVER", "letsencrypt", text)
    # Extra trust for a private ACME directory (e.g. a test CA); unset verifies against the system CAs.
    acme_ca_bundle: Path | None = env("JITSI_PY_LETSENCRYPT_CA_BUNDLE", None, path)


@dataclass(frozen=True)
class Routes:
    """What nginx's meet.conf proxies, and the headers it adds."""

    bosh_url_base: str = env("XMPP_BOSH_URL_BASE", "http://xmpp.meet.jitsi:5280", url())
    xmpp_websocket: bool = env("ENABLE_XMPP_WEBSOCKET", "1", boolean)
    subdomains: bool = env("ENABLE_SUBDOMAINS", "true", boolean)
    etherpad_url_base: str | None = env("ETHERPAD_URL_BASE", None, url())
    cors_allow_origin: str = env("CORS_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN", "*", text)
    csp_header: str | None = env("CSP_HEADER", None, header_value)
    colibri_websocket: bool = env("ENABLE_COLIBRI_WEBSOCKET", "0", boolean)
    colibri_websocket_regex: str = env("COLIBRI_WEBSOCKET_REGEX", "jvb", regex)
    colibri_websocket_port: int = env("COLIBRI_WEBSOCKET_PORT", "9090", port_number)
    # The id -> address table stands in for nginx resolving the captured id as a host name: the
    # target is never taken from the URL, so the route cannot become an open proxy.
    colibri_websocket_bridges: tuple[tuple[str, str, int], ...] = env(
        "JITSI_PY_COLIBRI_WEBSOCKET_BRIDGES",
        lambda v: f"jvb=127.0.0.1:{v.get('COLIBRI_WEBSOCKET_PORT') or 9090}", bridge_map)
    proxy_timeout: float = env("JITSI_PY_WEB_PROXY_TIMEOUT", "90", float)


@dataclass(frozen=True)
class Features:
    """settings-config.js and system-config.js inputs, by upstream name and default."""

    config_prefix: str = env("WEB_CONFIG_PREFIX", "// Jitsi Meet configuration.\\n", text)
    bosh_relative: bool = env("BOSH_RELATIVE", "false", boolean)
    auth_domain: bool = env("ENABLE_AUTH_DOMAIN", "true", boolean)
    prefer_sctp: bool = env("JVB_PREFER_SCTP", "1", boolean)
    resolution: int = env("RESOLUTION", "720", integer)
    resolution_min: int = env("RESOLUTION_MIN", "180", integer)
    resolution_width: int = env("RESOLUTION_WIDTH", "1280", integer)
    resolution_width_min: int = env("RESOLUTION_WIDTH_MIN", "320", integer)
    simulcast: bool = env("ENABLE_SIMULCAST", "true", boolean)
    start_video_muted: int = env("START_VIDEO_MUTED", "10", integer)
    start_with_video_muted: bool = env("START_WITH_VIDEO_MUTED", "false", boolean)
    desktop_framerate_auto: bool = env("DESKTOP_SHARING_FRAMERATE_AUTO", "true", boolean)
    desktop_framerate_min: int = env("DESKTOP_SHARING_FRAMERATE_MIN", "5", integer)
    desktop_framerate_max: int = env("DESKTOP_SHARING_FRAMERATE_MAX", "5", integer)
    no_audio_detection: bool = env("ENABLE_NO_AUDIO_DETECTION", "true", boolean)
    talk_while_muted: bool = env("ENABLE_TALK_WHILE_MUTED", "false", boolean)
    audio_processing: bool = env("ENABLE_AUDIO_PROCESSING", "true", boolean)
    automatic_gain_control: bool = env("ENABLE_AUTOMATIC_GAIN_CONTROL", "true", boolean)
    stereo: bool = env("ENABLE_STEREO", "false", boolean)
    opus_bitrate: str | None = env("AUDIO_QUALITY_OPUS_BITRATE", None, text)
    start_audio_only: bool = env("START_AUDIO_ONLY", "false", boolean)
    start_audio_muted: int = env("START_AUDIO_MUTED", "10", integer)
    start_with_audio_muted: bool = env("START_WITH_AUDIO_MUTED", "false", boolean)
    start_silent: bool = env("START_SILENT", "false", boolean)
    opus_red: bool = env("ENABLE_OPUS_RED", "false", boolean)
    disable_audio_levels: bool = env("DISABLE_AUDIO_LEVELS", "false", boolean)
    noisy_mic_detection: bool = env("ENABLE_NOISY_MIC_DETECTION", "true", boolean)
    ice_restart: bool = env("ENABLE_ICE_RESTART", "false", boolean)
    ice_restart_on_network_change: bool = env("ENABLE_ICE_RESTART_ON_NETWORK_CHANGE", "false", boolean)
    p2p: bool = env("ENABLE_P2P", "true", boolean)
    codec_order_jvb: tuple[str, ...] = env("CODEC_ORDER_JVB", '["AV1", "VP9", "VP8", "H264"]', json_list)
    codec_order_jvb_mobile: tuple[str, ...] = env(
        "CODEC_ORDER_JVB_MOBILE", '["VP8", "VP9", "H264", "AV1"]', json_list)
    p2p_stun_servers: tuple[str, ...] = env("P2P_STUN_SERVERS", "", csv)
    p2p_preferred_codec: str | None = env("P2P_PREFERRED_CODEC", None, text)
    breakout_rooms: bool = env("ENABLE_BREAKOUT_ROOMS", "true", boolean)
    etherpad_public_url: str | None = env("ETHERPAD_PUBLIC_URL", None, url())
    recording: bool = env("ENABLE_RECORDING", "false", boolean)
    service_recording: bool = env("ENABLE_SERVICE_RECORDING",
                                  lambda v: v.get("ENABLE_RECORDING") or "false", boolean)
    file_recording_sharing: bool = env("ENABLE_FILE_RECORDING_SHARING", "false", boolean)
    livestreaming: bool = env("ENABLE_LIVESTREAMING", "false", boolean)
    livestreaming_privacy_link: str = env("ENABLE_LIVESTREAMING_DATA_PRIVACY_LINK",
                                          "https://policies.google.com/privacy", url())
    livestreaming_help_link: str = env("ENABLE_LIVESTREAMING_HELP_LINK", "https://jitsi.org/live", url())
    livestreaming_terms_link: str = env("ENABLE_LIVESTREAMING_TERMS_LINK",
                                        "https://www.youtube.com/t/terms", url())
    livestreaming_validator: str = env("ENABLE_LIVESTREAMING_VALIDATOR_REGEXP_STRING",
                                       "^(?:[a-zA-Z0-9]{4}(?:-(?!$)|$)){4}", text)
    dropbox_appkey: str | None = env("DROPBOX_APPKEY", None, text)
    dropbox_redirect_uri: str | None = env("DROPBOX_REDIRECT_URI", None, url())
    disable_local_recording: bool = env("DISABLE_LOCAL_RECORDING", "false", boolean)
    local_recording_notify_all: bool = env("ENABLE_LOCAL_RECORDING_NOTIFY_ALL_PARTICIPANT", "false", boolean)
    local_recording_self_start: bool = env("ENABLE_LOCAL_RECORDING_SELF_START", "false", boolean)
    rtcstats: bool = env("RTCSTATS_ENABLED", "false", boolean)
    rtcstats_store_logs: bool = env("RTCSTATS_STORE_LOGS", "false", boolean)
    rtcstats_poll_interval: int = env("RTCSTATS_POLL_INTERVAL", "10000", integer)
    rtcstats_send_sdp: bool = env("RTCSTATS_SEND_SDP", "false", boolean)
    amplitude_id: str | None = env("AMPLITUDE_ID", None, text)
    google_analytics_id: str | None = env("GOOGLE_ANALYTICS_ID", None, text)
    matomo_endpoint: str | None = env("MATOMO_ENDPOINT", None, url())
    matomo_site_id: str | None = env("MATOMO_SITE_ID", None, text)
    analytics_script_urls: tuple[str, ...] = env("ANALYTICS_SCRIPT_URLS", "", csv)
    analytics_whitelisted_events: tuple[str, ...] = env("ANALYTICS_WHITELISTED_EVENTS", "", csv)
    jaas_components: bool = env("ENABLE_JAAS_COMPONENTS", "0", boolean)
    jaas_app_id: str | None = env("JAAS_APP_ID", None, text)
    jaas_use_staging: bool = env("JAAS_USE_STAGING", "false", boolean)
    confcode_url: str | None = env("CONFCODE_URL", None, url())
    dialin_numbers_url: str | None = env("DIALIN_NUMBERS_URL", None, url())
    # With the SIP gateway on and no external service named above, the web service answers for them
    # (jitsi_py/web/dialin.py); the numbers it lists are this JSON array, else the gateway's SIP address.
    sip_uri: str | None = env("JIGASI_SIP_URI", None, sip_address)
    dialin_numbers: str | None = env("JITSI_PY_DIALIN_NUMBERS", None, json_array)
    dialout_auth_url: str | None = env("DIALOUT_AUTH_URL", None, url())
    dialout_codes_url: str | None = env("DIALOUT_CODES_URL", None, url())
    calendar: bool = env("ENABLE_CALENDAR", "false", boolean)
    google_api_app_client_id: str | None = env("GOOGLE_API_APP_CLIENT_ID", None, text)
    microsoft_api_app_client_id: str | None = env("MICROSOFT_API_APP_CLIENT_ID", None, text)
    invite_service_url: str | None = env("INVITE_SERVICE_URL", None, url())
    people_search_url: str | None = env("PEOPLE_SEARCH_URL", None, url())
    prejoin_page: bool = env("ENABLE_PREJOIN_PAGE", "true", boolean)
    hide_prejoin_display_name: bool = env("HIDE_PREJOIN_DISPLAY_NAME", "false", boolean)
    hide_prejoin_extra_buttons: tuple[str, ...] = env("HIDE_PREJOIN_EXTRA_BUTTONS", "", csv)
    welcome_page: bool = env("ENABLE_WELCOME_PAGE", "true", boolean)
    close_page: bool = env("ENABLE_CLOSE_PAGE", "false", boolean)
    default_language: str | None = env("DEFAULT_LANGUAGE", None, text)
    require_display_name: bool = env("ENABLE_REQUIRE_DISPLAY_NAME", "false", boolean)
    chrome_extension_banner: str | None = env("CHROME_EXTENSION_BANNER_JSON", None, js_object)
    disable_profile: bool = env("DISABLE_PROFILE", "false", boolean)
    room_password_digits: int | bool = env("ROOM_PASSWORD_DIGITS", "false", digits_or_false)
    remb: bool = env("ENABLE_REMB", "true", boolean)
    tcc: bool = env("ENABLE_TCC", "true", boolean)
    transcriptions: bool = env("ENABLE_TRANSCRIPTIONS", "false", boolean)
    translation_languages: tuple[str, ...] = env("TRANSLATION_LANGUAGES", "[]", json_list)
    translation_languages_head: tuple[str, ...] = env("TRANSLATION_LANGUAGES_HEAD", "['en']", json_list)
    use_app_language: bool = env("USE_APP_LANGUAGE", "true", boolean)
    preferred_language: str = env("PREFERRED_LANGUAGE", "en-US", text)
    disable_start_for_all: bool = env("DISABLE_START_FOR_ALL", "false", boolean)
    auto_caption_on_record: bool = env("AUTO_CAPTION_ON_RECORD", "false", boolean)
    audio_translation: bool = env("ENABLE_AUDIO_TRANSLATION", "false", boolean)
    dynamic_branding_url: str | None = env("DYNAMIC_BRANDING_URL", None, url())
    branding_data_url: str | None = env("BRANDING_DATA_URL", None, url())
    token_auth_url: str | None = env("TOKEN_AUTH_URL", None, url())
    deployment_environment: str | None = env("DEPLOYMENTINFO_ENVIRONMENT", None, text)
    deployment_shard: str | None = env("DEPLOYMENTINFO_SHARD", None, text)
    deployment_environment_type: str | None = env("DEPLOYMENTINFO_ENVIRONMENT_TYPE", None, text)
    deployment_region: str | None = env("DEPLOYMENTINFO_REGION", None, text)
    disable_deep_linking: bool = env("DISABLE_DEEP_LINKING", "false", boolean)
    adaptive_mode: bool = env("ENABLE_ADAPTIVE_MODE", "true", boolean)
    videoquality_preferred_codec: str | None = env("VIDEOQUALITY_PREFERRED_CODEC", None, text)
    disable_reactions: bool = env("DISABLE_REACTIONS", "false", boolean)
    disable_polls: bool = env("DISABLE_POLLS", "false", boolean)
    toolbar_buttons: tuple[str, ...] = env("TOOLBAR_BUTTONS", "", csv)
    hide_premeeting_buttons: tuple[str, ...] = env("HIDE_PREMEETING_BUTTONS", "", csv)
    disable_remote_video_menu: bool = env("DISABLE_REMOTE_VIDEO_MENU", "false", boolean)
    disable_kickout: bool = env("DISABLE_KICKOUT", "false", boolean)
    disable_grant_moderator: bool = env("DISABLE_GRANT_MODERATOR", "false", boolean)
    disable_private_chat: bool = env("DISABLE_PRIVATE_CHAT", "false", boolean)
    e2eping: bool = env("ENABLE_E2EPING", "false", boolean)
    e2eping_num_requests: int | None = env("E2EPING_NUM_REQUESTS", None, integer)
    e2eping_max_conference_size: int | None = env("E2EPING_MAX_CONFERENCE_SIZE", None, integer)
    e2eping_max_message_per_second: int | None = env("E2EPING_MAX_MESSAGE_PER_SECOND", None, integer)
    virtual_background_v2: bool = env("ENABLE_VIRTUAL_BACKGROUND_V2", "true", boolean)
    whiteboard_public_url: str | None = env("WHITEBOARD_COLLAB_SERVER_PUBLIC_URL", None, url())
    whiteboard_url_base: str | None = env("WHITEBOARD_COLLAB_SERVER_URL_BASE", None, url())


VIDEO_CODECS = ("AV1", "H264", "VP8", "VP9")
BITRATE_LEVELS = (("LOW", "low"), ("STANDARD", "standard"), ("HIGH", "high"),
                  ("FULL", "fullHd"), ("ULTRA", "ultraHd"), ("SS_HIGH", "ssHigh"))


def _bitrate_fields() -> type:
    """VIDEOQUALITY_BITRATE_<codec>_<level>: 24 optional numbers, one field each."""
    annotations: dict[str, object] = {}
    namespace: dict[str, object] = {"__annotations__": annotations, "__doc__": "Per-codec bitrates."}
    for codec in VIDEO_CODECS:
        for level, _key in BITRATE_LEVELS:
            name = f"{codec.lower()}_{level.lower()}"
            annotations[name] = "int | None"
            namespace[name] = env(f"VIDEOQUALITY_BITRATE_{codec}_{level}", None, integer)
    return dataclass(frozen=True)(type("VideoBitrates", (), namespace))


VideoBitrates = _bitrate_fields()


@dataclass(frozen=True)
class Web:
    http_port: int = env("HTTP_PORT", "8000", port_number)
    https_port: int = env("HTTPS_PORT", "8443", port_number)
    ipv6: bool = env("ENABLE_IPV6", "1", boolean)
    # Where to listen; empty means every address (the container's behaviour).
    interfaces: tuple[str, ...] = env("JITSI_PY_WEB_INTERFACES", "", csv)
    tls: Tls = nested(Tls)
    routes: Routes = nested(Routes)
    features: Features = nested(Features)
    bitrates: Any = nested(VideoBitrates)  # VideoBitrates, a class built at import: no static type

