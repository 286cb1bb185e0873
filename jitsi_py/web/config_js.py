"""config.js and interface_config.js from the settings, as docker-jitsi-meet's templates map them.

Pure text generation, no I/O. Values are emitted as JSON literals, never pasted raw, so an odd
env value cannot inject script into every visitor's page. The tenant part that nginx fills in with
SSI (``subdir``, ``subdomain``) is rendered per request by :meth:`ConfigJs.render`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlsplit

from ..settings import Settings
from ..settings.common import Domains
from ..settings.web import BITRATE_LEVELS, VIDEO_CODECS, Features, Web


def js(value: object) -> str:
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")


def public_host(public_url: str) -> str:
    """PUBLIC_URL without scheme and trailing slash, as the templates' ``trimPrefix`` does."""
    parts = urlsplit(public_url if "//" in public_url else "https://" + public_url)
    return (parts.netloc + parts.path).rstrip("/")


@dataclass(frozen=True)
class ConfigJs:
    """Head (before the tenant lines) and body, rendered once per start."""

    head: str
    tail: str
    subdomains: bool

    def render(self, tenant: str = "") -> str:
        if not self.subdomains:
            return self.head + self.tail
        subdir = f"{tenant}/" if tenant else ""
        subdomain = tenant.replace(".", "_").lower() + "." if tenant else ""
        middle = f"var subdir = {js(subdir)};\nvar subdomain = {js(subdomain)};\n"
        return self.head + middle + self.tail


class Js(str):
    """A JavaScript expression emitted as it is: it reads the per-request ``subdir``/``subdomain``."""


@dataclass(frozen=True)
class Source:
    """What the rows read: the settings, and the host and URL the templates derive from PUBLIC_URL."""

    f: Features
    web: Web
    domains: Domains
    auth_enabled: bool
    guests: bool
    host: str
    public_url: str

    @property
    def tenant_join(self) -> str:
        """How a route is glued to the host: through the tenant's ``subdir`` when nginx fills one in."""
        return " + subdir + " if self.web.routes.subdomains else " + "

    @property
    def jaas_domain(self) -> str:
        return "stage.8x8.vc" if self.f.jaas_use_staging else "8x8.vc"

    @property
    def jaas(self) -> str:
        return f"https://{self.jaas_domain}/v1/_jaas"


Value = Callable[[Source], object]


def always(_: Source) -> bool:
    return True


class Row(NamedTuple):
    """``config.<key> = <value>;`` when ``when`` holds, in table order (later rows win in the browser)."""

    key: str
    value: Value
    when: Callable[[Source], bool] = always


def optional(key: str, value: Value) -> Row:
    """A row emitted only when its setting has a (truthy) value, as the templates' ``{{ if .Env.X }}``."""
    return Row(key, value, lambda s: bool(value(s)))


def _bitrates(s: Source, codec: str) -> dict[str, int]:
    levels = {key: getattr(s.web.bitrates, f"{codec.lower()}_{level.lower()}") for level, key in BITRATE_LEVELS}
    return {key: value for key, value in levels.items() if value is not None}


def _deployment(f: Features) -> dict[str, str]:
    return {key: value for key, value in (
        ("environment", f.deployment_environment), ("shard", f.deployment_shard),
        ("envType", f.deployment_environment_type), ("region", f.deployment_region)) if value}


def _e2eping(f: Features) -> dict[str, object]:
    limits = (("numRequests", f.e2eping_num_requests), ("maxConferenceSize", f.e2eping_max_conference_size),
              ("maxMessagePerSecond", f.e2eping_max_message_per_second))
    return {"enabled": f.e2eping, **{key: value for key, value in limits if value is not None}}


def _whiteboard(s: Source) -> dict[str, object]:
    base = s.f.whiteboard_public_url or (s.public_url if s.f.whiteboard_url_base else None)
    return {"enabled": bool(base), **({"collabServerBaseUrl": base} if base else {})}


CONFIG_ROWS: tuple[Row, ...] = (
    # --- connection (system-config.js) ---
    Row("hosts.muc", lambda s: Js(f"{js(s.domains.muc.split('.')[0] + '.')} + subdomain + {js(s.domains.domain)}"),
        lambda s: s.web.routes.subdomains),
    Row("hosts.muc", lambda s: s.domains.muc, lambda s: not s.web.routes.subdomains),
    Row("hosts.anonymousdomain", lambda s: s.domains.guest, lambda s: s.auth_enabled and s.guests),
    Row("hosts.authdomain", lambda s: s.domains.domain, lambda s: s.auth_enabled and s.f.auth_domain),
    Row("bosh", lambda s: Js(f"{js('/' if s.f.bosh_relative else f'https://{s.host}/')}{s.tenant_join}'http-bind'")),
    Row("websocket", lambda s: Js(f"{js(f'wss://{s.host}/')}{s.tenant_join}'xmpp-websocket'"),
        lambda s: s.web.routes.xmpp_websocket),
    Row("bridgeChannel", lambda s: {"preferSctp": s.f.prefer_sctp}),
    # --- video ---
    Row("resolution", lambda s: s.f.resolution),
    Row("constraints", lambda s: {"video": {
        "height": {"ideal": s.f.resolution, "max": s.f.resolution, "min": s.f.resolution_min},
        "width": {"ideal": s.f.resolution_width, "max": s.f.resolution_width, "min": s.f.resolution_width_min}}}),
    Row("disableSimulcast", lambda s: True, lambda s: not s.f.simulcast),
    Row("startVideoMuted", lambda s: s.f.start_video_muted),
    Row("startWithVideoMuted", lambda s: s.f.start_with_video_muted),
    Row("flags", lambda s: {"sourceNameSignaling": True, "sendMultipleVideoStreams": True,
                            "receiveMultipleVideoStreams": True}),
    Row("desktopSharingFrameRate", lambda s: {"min": s.f.desktop_framerate_min, "max": s.f.desktop_framerate_max},
        lambda s: not s.f.desktop_framerate_auto),
    # --- audio ---
    Row("enableNoAudioDetection", lambda s: s.f.no_audio_detection),
    Row("enableTalkWhileMuted", lambda s: s.f.talk_while_muted),
    Row("disableAP", lambda s: not s.f.audio_processing),
    Row("disableAGC", lambda s: not s.f.automatic_gain_control),
    Row("audioQuality", lambda s: {"stereo": s.f.stereo}),
    optional("audioQuality.opusMaxAverageBitrate", lambda s: s.f.opus_bitrate),
    Row("startAudioOnly", lambda s: s.f.start_audio_only),
    Row("startAudioMuted", lambda s: s.f.start_audio_muted),
    Row("startWithAudioMuted", lambda s: s.f.start_with_audio_muted),
    Row("startSilent", lambda s: s.f.start_silent),
    Row("enableOpusRed", lambda s: s.f.opus_red),
    Row("disableAudioLevels", lambda s: s.f.disable_audio_levels),
    Row("enableNoisyMicDetection", lambda s: s.f.noisy_mic_detection),
    # --- connectivity and p2p ---
    Row("enableIceRestart", lambda s: s.f.ice_restart),
    Row("enableIceRestartOnNetworkChange", lambda s: s.f.ice_restart_on_network_change),
    Row("p2p", lambda s: {"enabled": s.f.p2p, "codecPreferenceOrder": list(s.f.codec_order_jvb),
                          "mobileCodecPreferenceOrder": list(s.f.codec_order_jvb_mobile)}),
    optional("p2p.stunServers", lambda s: [{"urls": "stun:" + url} for url in s.f.p2p_stun_servers]),
    # --- etherpad, recording, live streaming ---
    Row("hideAddRoomButton", lambda s: not s.f.breakout_rooms),
    optional("etherpad_base", lambda s: s.f.etherpad_public_url),
    Row("etherpad_base", lambda s: f"{s.public_url}/etherpad/p/",
        lambda s: not s.f.etherpad_public_url and bool(s.web.routes.etherpad_url_base)),
    Row("hiddenDomain", lambda s: s.domains.hidden, lambda s: s.f.recording or s.f.transcriptions),
    Row("recordingService", lambda s: {"enabled": s.f.service_recording,
                                       "sharingEnabled": s.f.file_recording_sharing}, lambda s: s.f.recording),
    Row("liveStreaming", lambda s: {
        "enabled": s.f.livestreaming, "dataPrivacyLink": s.f.livestreaming_privacy_link,
        "helpLink": s.f.livestreaming_help_link, "termsLink": s.f.livestreaming_terms_link,
        "validatorRegExpString": s.f.livestreaming_validator}, lambda s: s.f.recording),
    Row("dropbox", lambda s: {"appKey": s.f.dropbox_appkey}, lambda s: s.f.recording and bool(s.f.dropbox_appkey)),
    Row("dropbox.redirectURI", lambda s: s.f.dropbox_redirect_uri,
        lambda s: s.f.recording and bool(s.f.dropbox_appkey and s.f.dropbox_redirect_uri)),
    Row("localRecording", lambda s: {"disable": s.f.disable_local_recording,
                                     "notifyAllParticipants": s.f.local_recording_notify_all,
                                     "disableSelfRecording": s.f.local_recording_self_start}),
    # --- analytics ---
    Row("analytics", lambda s: {}),
    Row("analytics.rtcstatsEnabled", lambda s: True, lambda s: s.f.rtcstats),
    Row("analytics.rtcstatsStoreLogs", lambda s: s.f.rtcstats_store_logs, lambda s: s.f.rtcstats),
    Row("analytics.rtcstatsEndpoint", lambda s: f"wss://{s.host}/rtcstats-ws", lambda s: s.f.rtcstats),
    Row("analytics.rtcstatsPollInterval", lambda s: s.f.rtcstats_poll_interval, lambda s: s.f.rtcstats),
    Row("analytics.rtcstatsSendSdp", lambda s: s.f.rtcstats_send_sdp, lambda s: s.f.rtcstats),
    optional("analytics.amplitudeAPPKey", lambda s: s.f.amplitude_id),
    optional("analytics.googleAnalyticsTrackingId", lambda s: s.f.google_analytics_id),
    optional("analytics.matomoEndpoint", lambda s: s.f.matomo_endpoint),
    optional("analytics.matomoSiteID", lambda s: s.f.matomo_site_id),
    optional("analytics.scriptURLs", lambda s: list(s.f.analytics_script_urls)),
    optional("analytics.whiteListedEvents", lambda s: list(s.f.analytics_whitelisted_events)),
    # --- dial-in/out, calendar, invites (JaaS components bring their own dial-in) ---
    Row("dialInConfCodeUrl", lambda s: "https://conference-mapper.jitsi.net/v1/access",
        lambda s: s.f.jaas_components),
    Row("dialInNumbersUrl", lambda s: "https://conference-mapper.jitsi.net/v1/access/dids",
        lambda s: s.f.jaas_components),
    Row("dialInConfCodeUrl", lambda s: s.f.confcode_url,
        lambda s: not s.f.jaas_components and bool(s.f.confcode_url)),
    Row("dialInNumbersUrl", lambda s: s.f.dialin_numbers_url,
        lambda s: not s.f.jaas_components and bool(s.f.dialin_numbers_url)),
    # The built-in ones (web/dialin.py) with the SIP gateway on.
    Row("dialInConfCodeUrl", lambda s: f"{s.public_url.rstrip('/')}/conference-mapper",
        lambda s: not s.f.jaas_components and not s.f.confcode_url and bool(s.f.sip_uri)),
    Row("dialInNumbersUrl", lambda s: f"{s.public_url.rstrip('/')}/dialin-numbers",
        lambda s: not s.f.jaas_components and not s.f.dialin_numbers_url and bool(s.f.sip_uri)),
    optional("dialOutAuthUrl", lambda s: s.f.dialout_auth_url),
    optional("dialOutCodesUrl", lambda s: s.f.dialout_codes_url),
    Row("enableCalendarIntegration", lambda s: s.f.calendar),
    optional("googleApiApplicationClientID", lambda s: s.f.google_api_app_client_id),
    optional("microsoftApiApplicationClientID", lambda s: s.f.microsoft_api_app_client_id),
    optional("inviteServiceUrl", lambda s: s.f.invite_service_url),
    optional("peopleSearchUrl", lambda s: s.f.people_search_url),
    Row("peopleSearchQueryTypes", lambda s: ["user", "conferenceRooms"], lambda s: bool(s.f.people_search_url)),
    # --- pages and the user interface ---
    Row("prejoinConfig", lambda s: {"enabled": s.f.prejoin_page, "hideDisplayName": s.f.hide_prejoin_display_name}),
    optional("prejoinConfig.hideExtraJoinButtons", lambda s: list(s.f.hide_prejoin_extra_buttons)),
    Row("welcomePage", lambda s: {"disabled": not s.f.welcome_page}),
    Row("enableClosePage", lambda s: s.f.close_page),
    optional("defaultLanguage", lambda s: s.f.default_language),
    Row("requireDisplayName", lambda s: s.f.require_display_name),
    Row("chromeExtensionBanner", lambda s: json.loads(str(s.f.chrome_extension_banner)),
        lambda s: bool(s.f.chrome_extension_banner)),
    Row("disableProfile", lambda s: s.f.disable_profile),
    Row("roomPasswordNumberOfDigits", lambda s: 10 if s.f.jaas_components else s.f.room_password_digits),
    Row("enableRemb", lambda s: False, lambda s: not s.f.remb),
    Row("enableTcc", lambda s: False, lambda s: not s.f.tcc),
    Row("transcription", lambda s: {
        "enabled": s.f.transcriptions, "disableClosedCaptions": not s.f.transcriptions,
        "translationLanguages": list(s.f.translation_languages),
        "translationLanguagesHead": list(s.f.translation_languages_head),
        "useAppLanguage": s.f.use_app_language, "preferredLanguage": s.f.preferred_language,
        "disableStartForAll": s.f.disable_start_for_all, "autoCaptionOnRecord": s.f.auto_caption_on_record}),
    Row("audioTranslation", lambda s: {"enabled": s.f.audio_translation}),
    optional("dynamicBrandingUrl", lambda s: s.f.dynamic_branding_url),
    Row("brandingDataUrl", lambda s: s.f.branding_data_url,
        lambda s: not s.f.dynamic_branding_url and bool(s.f.branding_data_url)),
    optional("tokenAuthUrl", lambda s: s.f.token_auth_url),
    Row("deploymentInfo", lambda s: _deployment(s.f)),
    Row("disableDeepLinking", lambda s: s.f.disable_deep_linking),
    # --- codecs and bitrates ---
    optional("p2p.preferredCodec", lambda s: s.f.p2p_preferred_codec),
    Row("videoQuality", lambda s: {"codecPreferenceOrder": list(s.f.codec_order_jvb),
                                   "mobileCodecPreferenceOrder": list(s.f.codec_order_jvb_mobile),
                                   "enableAdaptiveMode": s.f.adaptive_mode}),
    optional("videoQuality.preferredCodec", lambda s: s.f.videoquality_preferred_codec),
    *(Row(f"videoQuality.{codec.lower()}", lambda s, codec=codec: _bitrates(s, codec)) for codec in VIDEO_CODECS),
    # --- toolbar, menus and in-meeting features ---
    Row("disableReactions", lambda s: s.f.disable_reactions),
    Row("disablePolls", lambda s: s.f.disable_polls),
    optional("toolbarButtons", lambda s: list(s.f.toolbar_buttons)),
    optional("hiddenPremeetingButtons", lambda s: list(s.f.hide_premeeting_buttons)),
    Row("remoteVideoMenu", lambda s: {"disabled": s.f.disable_remote_video_menu, "disableKick": s.f.disable_kickout,
                                      "disableGrantModerator": s.f.disable_grant_moderator,
                                      "disablePrivateChat": s.f.disable_private_chat}),
    Row("e2eping", lambda s: _e2eping(s.f)),
    Row("virtualBackground", lambda s: {"enableV2": s.f.virtual_background_v2}),
    Row("whiteboard", _whiteboard),
)


def _jaas_url(key: str, path: str) -> Row:
    return Row(key, lambda s: f"{s.jaas}/{path}")


# JAAS_APP_ID: the connection and service URLs point at 8x8's hosted deployment instead.
JAAS_ROWS: tuple[Row, ...] = (
    Row("hosts.domain", lambda s: s.jaas_domain),
    Row("hosts.muc", lambda s: f"conference.{s.f.jaas_app_id}.{s.jaas_domain}"),
    Row("hosts.focus", lambda s: f"focus.{s.jaas_domain}"),
    Row("analytics.rtcstatsEnabled", lambda s: True),
    Row("analytics.rtcstatsStoreLogs", lambda s: True),
    Row("analytics.rtcstatsUseLegacy", lambda s: False),
    Row("analytics.rtcstatsEndpoint", lambda s: "wss://rtcstats-server-8x8.jitsi.net/"),
    Row("analytics.rtcstatsPollInterval", lambda s: 10000),
    Row("analytics.rtcstatsSendSdp", lambda s: True),
    Row("bosh", lambda s: f"https://{s.jaas_domain}/{s.f.jaas_app_id}/http-bind"),
    Row("websocket", lambda s: f"wss://{s.jaas_domain}/{s.f.jaas_app_id}/xmpp-websocket"),
    Row("websocketKeepAliveUrl", lambda s: f"https://{s.jaas_domain}/{s.f.jaas_app_id}/_unlock"),
    Row("conferenceRequestUrl", lambda s: f"https://{s.jaas_domain}/{s.f.jaas_app_id}/conference-request/v1"),
    Row("hiddenDomain", lambda s: f"recorder.{s.jaas_domain}"),
    Row("hiddenFromRecorderFeatureEnabled", lambda s: True),
    Row("enableEmailInStats", lambda s: True),
    _jaas_url("jaasActuatorUrl", "jaas-actuator"),
    _jaas_url("jaasTokenUrl", "token-mapping"),
    _jaas_url("jaasConferenceCreatorUrl", "vmms-conference-mapper/v1/access/conference-creator"),
    _jaas_url("webhookProxyUrl", "webhook-proxy"),
    _jaas_url("billingCounterUrl", "billing-counter/v1/connection"),
    _jaas_url("brandingDataUrl", "branding/public/v1/conferences"),
    _jaas_url("dialInNumbersUrl", "vmms-conference-mapper/access/v1/dids"),
    _jaas_url("dialInConfCodeUrl", "vmms-conference-mapper/v1/access"),
    _jaas_url("dialOutAuthUrl", "phone-authorize"),
    _jaas_url("dialOutRegionUrl", "customer-configs/v1/outbound-destination"),
    _jaas_url("peopleSearchUrl", "v1/directory/search"),
    _jaas_url("inviteServiceUrl", "v1/meeting/invite"),
    _jaas_url("recordingSharingUrl", "jaas-recordings/link"),
    _jaas_url("sipInviteUrl", "sip-jibri-gateway/jibris/invite"),
    _jaas_url("jaasFeedbackMetadataURL", "webhook-proxy/feedback"),
    Row("peopleSearchQueryTypes", lambda s: ["user", "conferenceRooms"]),
    Row("whiteboard.collabServerBaseUrl", lambda s: "https://eght-excalidraw-backend"
        f"{'-pilot' if s.f.jaas_use_staging else ''}.cloudflare.jitsi.net"),
    Row("whiteboard.userLimit", lambda s: 25),
)

# After the JaaS rows, where the templates put it.
LAST_ROWS: tuple[Row, ...] = (Row("testing", lambda s: {"enableCodecSelectionAPI": True}),)


def _lines(rows: tuple[Row, ...], source: Source) -> list[str]:
    out = []
    for key, value, when in rows:
        if when(source):
            v = value(source)
            out.append(f"config.{key} = {v if isinstance(v, Js) else js(v)};")
    return out


def build_config_js(settings: Settings, custom: str | None = None) -> ConfigJs:
    web, common = settings.web, settings.common
    source = Source(web.features, web, common.domains, common.auth.enabled, common.auth.guests,
                    public_host(common.public_url), common.public_url.rstrip("/"))
    head = [*web.features.config_prefix.split("\\n"), "var config = {};", "config.hosts = {};",
            f"config.hosts.domain = {js(common.domains.domain)};"]
    rows = CONFIG_ROWS + (JAAS_ROWS if web.features.jaas_app_id else ()) + LAST_ROWS
    tail = _lines(rows, source) + (["// custom-config.js", custom] if custom else [])
    return ConfigJs("\n".join(head) + "\n", "\n".join(tail) + "\n", web.routes.subdomains)


# The subset of jitsi-meet's interface_config.js defaults that our client reads; an operator's
# custom-interface_config.js is appended and wins, as upstream.
INTERFACE_DEFAULTS: dict[str, object] = {
    "APP_NAME": "Jitsi Meet",
    "DEFAULT_BACKGROUND": "#040404",
    "DEFAULT_LOCAL_DISPLAY_NAME": "me",
    "DEFAULT_REMOTE_DISPLAY_NAME": "Fellow Jitster",
    "DISABLE_DOMINANT_SPEAKER_INDICATOR": False,
    "DISABLE_FOCUS_INDICATOR": False,
    "FILM_STRIP_MAX_HEIGHT": 120,
    "SHOW_JITSI_WATERMARK": False,
    "TILE_VIEW_MAX_COLUMNS": 5,
}


def build_interface_config_js(custom: str | None = None) -> str:
    text = f"var interfaceConfig = {json.dumps(INTERFACE_DEFAULTS, indent=4)};\n"
    if custom:
        text += "// custom-interface_config.js\n" + custom + "\n"
    return text
