"""config.js and interface_config.js from the settings, as docker-jitsi-meet's templates map them.

Pure text generation, no I/O. Values are emitted as JSON literals, never pasted raw, so an odd
env value cannot inject script into every visitor's page. The tenant part that nginx fills in with
SSI (``subdir``, ``subdomain``) is rendered per request by :meth:`ConfigJs.render`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..settings import Settings
from ..settings.web import BITRATE_LEVELS, VIDEO_CODECS


def js(value: object) -> str:
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")


def public_host(public_url: str) -> str:
    """PUBLIC_URL without scheme and trailing slash, as the templates' ``trimPrefix`` does."""
    parts = urlsplit(public_url if "//" in public_url else "https://" + public_url)
    return (parts.netloc + parts.path).rstrip("/")


class Lines:
    def __init__(self) -> None:
        self.out: list[str] = []

    def set(self, key: str, value: object) -> None:
        self.out.append(f"config.{key} = {js(value)};")

    def raw(self, line: str) -> None:
        self.out.append(line)

    def text(self) -> str:
        return "\n".join(self.out) + "\n"


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


def build_config_js(settings: Settings, custom: str | None = None) -> ConfigJs:
    web, common = settings.web, settings.common
    f, domains = web.features, common.domains
    host = public_host(common.public_url)
    public_url = common.public_url.rstrip("/")

    head = Lines()
    for line in f.config_prefix.split("\\n"):
        head.raw(line)
    head.raw("var config = {};")
    head.raw("config.hosts = {};")
    head.set("hosts.domain", domains.domain)

    c = Lines()
    if web.routes.subdomains:
        muc_prefix = domains.muc.split(".")[0]
        c.raw(f"config.hosts.muc = {js(muc_prefix + '.')} + subdomain + {js(domains.domain)};")
    else:
        c.set("hosts.muc", domains.muc)
    if common.auth.enabled:
        if common.auth.guests:
            c.set("hosts.anonymousdomain", domains.guest)
        if f.auth_domain:
            c.set("hosts.authdomain", domains.domain)
    sub = " + subdir + " if web.routes.subdomains else " + "
    bosh_base = "/" if f.bosh_relative else f"https://{host}/"
    c.raw(f"config.bosh = {js(bosh_base)}{sub}'http-bind';")
    if web.routes.xmpp_websocket:
        c.raw(f"config.websocket = {js(f'wss://{host}/')}{sub}'xmpp-websocket';")
    c.set("bridgeChannel", {"preferSctp": f.prefer_sctp})

    c.set("resolution", f.resolution)
    c.set("constraints", {"video": {
        "height": {"ideal": f.resolution, "max": f.resolution, "min": f.resolution_min},
        "width": {"ideal": f.resolution_width, "max": f.resolution_width, "min": f.resolution_width_min},
    }})
    if not f.simulcast:
        c.set("disableSimulcast", True)
    c.set("startVideoMuted", f.start_video_muted)
    c.set("startWithVideoMuted", f.start_with_video_muted)
    c.set("flags", {"sourceNameSignaling": True, "sendMultipleVideoStreams": True,
                    "receiveMultipleVideoStreams": True})
    if not f.desktop_framerate_auto:
        c.set("desktopSharingFrameRate", {"min": f.desktop_framerate_min, "max": f.desktop_framerate_max})
    c.set("enableNoAudioDetection", f.no_audio_detection)
    c.set("enableTalkWhileMuted", f.talk_while_muted)
    c.set("disableAP", not f.audio_processing)
    c.set("disableAGC", not f.automatic_gain_control)
    c.set("audioQuality", {"stereo": f.stereo})
    if f.opus_bitrate:
        c.set("audioQuality.opusMaxAverageBitrate", f.opus_bitrate)
    c.set("startAudioOnly", f.start_audio_only)
    c.set("startAudioMuted", f.start_audio_muted)
    c.set("startWithAudioMuted", f.start_with_audio_muted)
    c.set("startSilent", f.start_silent)
    c.set("enableOpusRed", f.opus_red)
    c.set("disableAudioLevels", f.disable_audio_levels)
    c.set("enableNoisyMicDetection", f.noisy_mic_detection)
    c.set("enableIceRestart", f.ice_restart)
    c.set("enableIceRestartOnNetworkChange", f.ice_restart_on_network_change)
    c.set("p2p", {"enabled": f.p2p, "codecPreferenceOrder": list(f.codec_order_jvb),
                  "mobileCodecPreferenceOrder": list(f.codec_order_jvb_mobile)})
    if f.p2p_stun_servers:
        c.set("p2p.stunServers", [{"urls": "stun:" + url} for url in f.p2p_stun_servers])
    c.set("hideAddRoomButton", not f.breakout_rooms)
    if f.etherpad_public_url:
        c.set("etherpad_base", f.etherpad_public_url)
    elif web.routes.etherpad_url_base:
        c.set("etherpad_base", f"{public_url}/etherpad/p/")
    if f.recording or f.transcriptions:
        c.set("hiddenDomain", domains.hidden)
    if f.recording:
        c.set("recordingService", {"enabled": f.service_recording, "sharingEnabled": f.file_recording_sharing})
        c.set("liveStreaming", {
            "enabled": f.livestreaming, "dataPrivacyLink": f.livestreaming_privacy_link,
            "helpLink": f.livestreaming_help_link, "termsLink": f.livestreaming_terms_link,
            "validatorRegExpString": f.livestreaming_validator})
        if f.dropbox_appkey:
            c.set("dropbox", {"appKey": f.dropbox_appkey})
            if f.dropbox_redirect_uri:
                c.set("dropbox.redirectURI", f.dropbox_redirect_uri)
    c.set("localRecording", {"disable": f.disable_local_recording,
                             "notifyAllParticipants": f.local_recording_notify_all,
                             "disableSelfRecording": f.local_recording_self_start})
    c.set("analytics", {})
    if f.rtcstats:
        c.set("analytics.rtcstatsEnabled", True)
        c.set("analytics.rtcstatsStoreLogs", f.rtcstats_store_logs)
        c.set("analytics.rtcstatsEndpoint", f"wss://{host}/rtcstats-ws")
        c.set("analytics.rtcstatsPollInterval", f.rtcstats_poll_interval)
        c.set("analytics.rtcstatsSendSdp", f.rtcstats_send_sdp)
    for key, value in (("amplitudeAPPKey", f.amplitude_id), ("googleAnalyticsTrackingId", f.google_analytics_id),
                       ("matomoEndpoint", f.matomo_endpoint), ("matomoSiteID", f.matomo_site_id)):
        if value:
            c.set(f"analytics.{key}", value)
    if f.analytics_script_urls:
        c.set("analytics.scriptURLs", list(f.analytics_script_urls))
    if f.analytics_whitelisted_events:
        c.set("analytics.whiteListedEvents", list(f.analytics_whitelisted_events))
    if f.jaas_components:
        c.set("dialInConfCodeUrl", "https://conference-mapper.jitsi.net/v1/access")
        c.set("dialInNumbersUrl", "https://conference-mapper.jitsi.net/v1/access/dids")
    else:
        _optional(c, "dialInConfCodeUrl", f.confcode_url)
        _optional(c, "dialInNumbersUrl", f.dialin_numbers_url)
    _optional(c, "dialOutAuthUrl", f.dialout_auth_url)
    _optional(c, "dialOutCodesUrl", f.dialout_codes_url)
    c.set("enableCalendarIntegration", f.calendar)
    _optional(c, "googleApiApplicationClientID", f.google_api_app_client_id)
    _optional(c, "microsoftApiApplicationClientID", f.microsoft_api_app_client_id)
    _optional(c, "inviteServiceUrl", f.invite_service_url)
    if f.people_search_url:
        c.set("peopleSearchUrl", f.people_search_url)
        c.set("peopleSearchQueryTypes", ["user", "conferenceRooms"])
    c.set("prejoinConfig", {"enabled": f.prejoin_page, "hideDisplayName": f.hide_prejoin_display_name})
    if f.hide_prejoin_extra_buttons:
        c.set("prejoinConfig.hideExtraJoinButtons", list(f.hide_prejoin_extra_buttons))
    c.set("welcomePage", {"disabled": not f.welcome_page})
    c.set("enableClosePage", f.close_page)
    _optional(c, "defaultLanguage", f.default_language)
    c.set("requireDisplayName", f.require_display_name)
    if f.chrome_extension_banner:
        c.set("chromeExtensionBanner", json.loads(f.chrome_extension_banner))
    c.set("disableProfile", f.disable_profile)
    c.set("roomPasswordNumberOfDigits", 10 if f.jaas_components else f.room_password_digits)
    if not f.remb:
        c.set("enableRemb", False)
    if not f.tcc:
        c.set("enableTcc", False)
    c.set("transcription", {
        "enabled": f.transcriptions, "disableClosedCaptions": not f.transcriptions,
        "translationLanguages": list(f.translation_languages),
        "translationLanguagesHead": list(f.translation_languages_head),
        "useAppLanguage": f.use_app_language, "preferredLanguage": f.preferred_language,
        "disableStartForAll": f.disable_start_for_all, "autoCaptionOnRecord": f.auto_caption_on_record})
    c.set("audioTranslation", {"enabled": f.audio_translation})
    if f.dynamic_branding_url:
        c.set("dynamicBrandingUrl", f.dynamic_branding_url)
    elif f.branding_data_url:
        c.set("brandingDataUrl", f.branding_data_url)
    _optional(c, "tokenAuthUrl", f.token_auth_url)
    deployment = {key: value for key, value in (
        ("environment", f.deployment_environment), ("shard", f.deployment_shard),
        ("envType", f.deployment_environment_type), ("region", f.deployment_region)) if value}
    c.set("deploymentInfo", deployment)
    c.set("disableDeepLinking", f.disable_deep_linking)
    _optional(c, "p2p.preferredCodec", f.p2p_preferred_codec)
    c.set("videoQuality", {"codecPreferenceOrder": list(f.codec_order_jvb),
                           "mobileCodecPreferenceOrder": list(f.codec_order_jvb_mobile),
                           "enableAdaptiveMode": f.adaptive_mode})
    _optional(c, "videoQuality.preferredCodec", f.videoquality_preferred_codec)
    for codec in VIDEO_CODECS:
        levels = {key: getattr(web.bitrates, f"{codec.lower()}_{level.lower()}")
                  for level, key in BITRATE_LEVELS}
        c.set(f"videoQuality.{codec.lower()}", {k: v for k, v in levels.items() if v is not None})
    c.set("disableReactions", f.disable_reactions)
    c.set("disablePolls", f.disable_polls)
    if f.toolbar_buttons:
        c.set("toolbarButtons", list(f.toolbar_buttons))
    if f.hide_premeeting_buttons:
        c.set("hiddenPremeetingButtons", list(f.hide_premeeting_buttons))
    c.set("remoteVideoMenu", {"disabled": f.disable_remote_video_menu, "disableKick": f.disable_kickout,
                              "disableGrantModerator": f.disable_grant_moderator,
                              "disablePrivateChat": f.disable_private_chat})
    e2eping: dict[str, object] = {"enabled": f.e2eping}
    for key, value in (("numRequests", f.e2eping_num_requests),
                       ("maxConferenceSize", f.e2eping_max_conference_size),
                       ("maxMessagePerSecond", f.e2eping_max_message_per_second)):
        if value is not None:
            e2eping[key] = value
    c.set("e2eping", e2eping)
    c.set("virtualBackground", {"enableV2": f.virtual_background_v2})
    whiteboard: dict[str, object] = {"enabled": bool(f.whiteboard_public_url or f.whiteboard_url_base)}
    if f.whiteboard_public_url:
        whiteboard["collabServerBaseUrl"] = f.whiteboard_public_url
    elif f.whiteboard_url_base:
        whiteboard["collabServerBaseUrl"] = public_url
    c.set("whiteboard", whiteboard)
    if f.jaas_app_id:
        _jaas(c, f.jaas_app_id, f.jaas_use_staging)
    c.set("testing", {"enableCodecSelectionAPI": True})
    if custom:
        c.raw("// custom-config.js")
        c.raw(custom)
    return ConfigJs(head.text(), c.text(), web.routes.subdomains)


def _optional(lines: Lines, key: str, value: object) -> None:
    if value:
        lines.set(key, value)


def _jaas(c: Lines, app_id: str, staging: bool) -> None:
    """JaaS-hosted components: the connection and service URLs point at 8x8's deployment."""
    domain = "stage.8x8.vc" if staging else "8x8.vc"
    jaas = f"https://{domain}/v1/_jaas"
    c.set("hosts.domain", domain)
    c.set("hosts.muc", f"conference.{app_id}.{domain}")
    c.set("hosts.focus", f"focus.{domain}")
    c.set("analytics.rtcstatsEnabled", True)
    c.set("analytics.rtcstatsStoreLogs", True)
    c.set("analytics.rtcstatsUseLegacy", False)
    c.set("analytics.rtcstatsEndpoint", "wss://rtcstats-server-8x8.jitsi.net/")
    c.set("analytics.rtcstatsPollInterval", 10000)
    c.set("analytics.rtcstatsSendSdp", True)
    c.set("bosh", f"https://{domain}/{app_id}/http-bind")
    c.set("websocket", f"wss://{domain}/{app_id}/xmpp-websocket")
    c.set("websocketKeepAliveUrl", f"https://{domain}/{app_id}/_unlock")
    c.set("conferenceRequestUrl", f"https://{domain}/{app_id}/conference-request/v1")
    c.set("hiddenDomain", f"recorder.{domain}")
    c.set("hiddenFromRecorderFeatureEnabled", True)
    c.set("enableEmailInStats", True)
    for key, path in (
        ("jaasActuatorUrl", "jaas-actuator"), ("jaasTokenUrl", "token-mapping"),
        ("jaasConferenceCreatorUrl", "vmms-conference-mapper/v1/access/conference-creator"),
        ("webhookProxyUrl", "webhook-proxy"), ("billingCounterUrl", "billing-counter/v1/connection"),
        ("brandingDataUrl", "branding/public/v1/conferences"),
        ("dialInNumbersUrl", "vmms-conference-mapper/access/v1/dids"),
        ("dialInConfCodeUrl", "vmms-conference-mapper/v1/access"), ("dialOutAuthUrl", "phone-authorize"),
        ("dialOutRegionUrl", "customer-configs/v1/outbound-destination"),
        ("peopleSearchUrl", "v1/directory/search"), ("inviteServiceUrl", "v1/meeting/invite"),
        ("recordingSharingUrl", "jaas-recordings/link"), ("sipInviteUrl", "sip-jibri-gateway/jibris/invite"),
        ("jaasFeedbackMetadataURL", "webhook-proxy/feedback"),
    ):
        c.set(key, f"{jaas}/{path}")
    c.set("peopleSearchQueryTypes", ["user", "conferenceRooms"])
    pilot = "-pilot" if staging else ""
    c.set("whiteboard.collabServerBaseUrl", f"https://eght-excalidraw-backend{pilot}.cloudflare.jitsi.net")
    c.set("whiteboard.userLimit", 25)


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
