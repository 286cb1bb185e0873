"""config.js keys follow the env exactly as docker-jitsi-meet's templates map them."""

from __future__ import annotations

from jitsi_py.web.config_js import build_config_js, build_interface_config_js

from .conftest import evaluate_config, settings_for


def config(tmp_path, tenant: str = "", custom: str | None = None, **env: str) -> dict:
    return evaluate_config(build_config_js(settings_for(tmp_path, **env), custom).render(tenant))


def test_defaults(tmp_path):
    c = config(tmp_path)
    assert c["hosts"] == {"domain": "meet.jitsi", "muc": "muc.meet.jitsi"}
    assert c["bosh"] == "https://localhost:8443/http-bind"
    assert c["websocket"] == "wss://localhost:8443/xmpp-websocket"
    assert c["bridgeChannel"] == {"preferSctp": True}
    assert c["prejoinConfig"] == {"enabled": True, "hideDisplayName": False}
    assert c["welcomePage"] == {"disabled": False}
    assert c["enableClosePage"] is False
    assert c["disableAudioLevels"] is False
    assert c["enableNoisyMicDetection"] is True
    assert c["hideAddRoomButton"] is False
    assert c["videoQuality"]["codecPreferenceOrder"] == ["AV1", "VP9", "VP8", "H264"]
    assert c["p2p"]["mobileCodecPreferenceOrder"] == ["VP8", "VP9", "H264", "AV1"]
    assert c["flags"] == {"sourceNameSignaling": True, "sendMultipleVideoStreams": True,
                          "receiveMultipleVideoStreams": True}
    assert c["testing"] == {"enableCodecSelectionAPI": True}
    assert c["transcription"]["translationLanguagesHead"] == ["en"]
    assert c["roomPasswordNumberOfDigits"] is False
    for absent in ("toolbarButtons", "dialInNumbersUrl", "tokenAuthUrl", "etherpad_base", "disableSimulcast",
                   "enableRemb", "hiddenDomain"):
        assert absent not in c


def test_env_maps_to_keys(tmp_path):
    c = config(
        tmp_path,
        PUBLIC_URL="https://meet.example.com/",
        TOOLBAR_BUTTONS="microphone, camera,,hangup",
        HIDE_PREMEETING_BUTTONS="invite",
        ENABLE_PREJOIN_PAGE="0", ENABLE_WELCOME_PAGE="false", ENABLE_CLOSE_PAGE="1",
        DISABLE_AUDIO_LEVELS="1", ENABLE_NOISY_MIC_DETECTION="0", ENABLE_BREAKOUT_ROOMS="0",
        DIALIN_NUMBERS_URL="https://dial.example/numbers", CONFCODE_URL="https://dial.example/code",
        TOKEN_AUTH_URL="https://auth.example/{room}", ETHERPAD_URL_BASE="http://etherpad.meet.jitsi:9001",
        ENABLE_SIMULCAST="false", ENABLE_REMB="0", ROOM_PASSWORD_DIGITS="6",
        CODEC_ORDER_JVB="VP8,H264", VIDEOQUALITY_BITRATE_VP8_LOW="200000",
        ENABLE_AUTH="1", ENABLE_GUESTS="1", DEPLOYMENTINFO_SHARD="shard-a",
        ENABLE_RECORDING="1", P2P_STUN_SERVERS="stun.example:3478",
    )
    assert c["toolbarButtons"] == ["microphone", "camera", "hangup"]
    assert c["hiddenPremeetingButtons"] == ["invite"]
    assert c["prejoinConfig"]["enabled"] is False
    assert c["welcomePage"] == {"disabled": True}
    assert c["enableClosePage"] is True
    assert c["disableAudioLevels"] is True
    assert c["enableNoisyMicDetection"] is False
    assert c["hideAddRoomButton"] is True
    assert c["dialInNumbersUrl"] == "https://dial.example/numbers"
    assert c["dialInConfCodeUrl"] == "https://dial.example/code"
    assert c["tokenAuthUrl"] == "https://auth.example/{room}"
    assert c["etherpad_base"] == "https://meet.example.com/etherpad/p/"
    assert c["disableSimulcast"] is True
    assert c["enableRemb"] is False
    assert c["roomPasswordNumberOfDigits"] == 6
    assert c["videoQuality"]["codecPreferenceOrder"] == ["VP8", "H264"]
    assert c["videoQuality"]["vp8"] == {"low": 200000}
    assert c["hosts"]["anonymousdomain"] == "guest.meet.jitsi"
    assert c["hosts"]["authdomain"] == "meet.jitsi"
    assert c["deploymentInfo"] == {"shard": "shard-a"}
    assert c["hiddenDomain"] == "hidden.meet.jitsi"
    assert c["recordingService"] == {"enabled": True, "sharingEnabled": False}
    assert c["p2p"]["stunServers"] == [{"urls": "stun:stun.example:3478"}]
    assert c["bosh"] == "https://meet.example.com/http-bind"


def test_tenant_and_subdomains(tmp_path):
    c = config(tmp_path, tenant="Team.One")
    assert c["hosts"]["muc"] == "muc.team_one.meet.jitsi"
    assert c["bosh"] == "https://localhost:8443/Team.One/http-bind"
    assert c["websocket"] == "wss://localhost:8443/Team.One/xmpp-websocket"
    flat = config(tmp_path, tenant="ignored", ENABLE_SUBDOMAINS="false", BOSH_RELATIVE="true",
                  ENABLE_XMPP_WEBSOCKET="0")
    assert flat["hosts"]["muc"] == "muc.meet.jitsi"
    assert flat["bosh"] == "/http-bind"
    assert "websocket" not in flat


def test_values_cannot_inject_script(tmp_path):
    c = config(tmp_path, TOKEN_AUTH_URL="https://x/';alert(1);'</script>")
    assert c["tokenAuthUrl"] == "https://x/';alert(1);'</script>"


def test_custom_config_is_appended_and_wins(tmp_path):
    c = config(tmp_path, custom="config.prejoinConfig.enabled = false;\nconfig.extra = 42;")
    assert c["prejoinConfig"]["enabled"] is False
    assert c["extra"] == 42


def test_interface_config(tmp_path):
    ic = evaluate_config(build_interface_config_js("interfaceConfig.APP_NAME = 'Ours';"))
    assert ic["APP_NAME"] == "Ours"
    assert ic["TILE_VIEW_MAX_COLUMNS"] == 5


def test_web_variables_keep_upstream_names():
    from jitsi_py.settings.fields import env_names
    from jitsi_py.settings.web import Web
    names = set(env_names(Web))
    for name in ("HTTP_PORT", "HTTPS_PORT", "DISABLE_HTTPS", "ENABLE_HTTP_REDIRECT", "ENABLE_HSTS",
                 "ENABLE_LETSENCRYPT", "LETSENCRYPT_DOMAIN", "LETSENCRYPT_EMAIL", "LETSENCRYPT_USE_STAGING",
                 "XMPP_BOSH_URL_BASE", "ETHERPAD_URL_BASE", "TOOLBAR_BUTTONS", "COLIBRI_WEBSOCKET_REGEX",
                 "VIDEOQUALITY_BITRATE_AV1_SS_HIGH", "CORS_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN"):
        assert name in names


# --- upstream parity: tenant names with "_" -----------------------------------------------------------

def test_a_tenant_with_underscores_keeps_them(tmp_path):
    c = config(tmp_path, tenant="team_one")
    assert c["hosts"]["muc"] == "muc.team_one.meet.jitsi"
    assert c["bosh"] == "https://localhost:8443/team_one/http-bind"
