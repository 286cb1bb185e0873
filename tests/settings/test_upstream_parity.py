"""docker-jitsi-meet 2026: the variables upstream added or removed, read and defaulted as upstream."""

import pytest

from jitsi_py.settings import Settings


def test_bridge_channel_is_sctp_unless_colibri_ws_is_asked_for():
    s = Settings.from_values({})
    assert not s.bridge.websocket and not s.web.routes.colibri_websocket
    assert s.web.features.prefer_sctp
    assert s.bridge.upstream_warnings() == []


def test_colibri_ws_still_served_on_request_with_a_warning():
    s = Settings.from_values({"ENABLE_COLIBRI_WEBSOCKET": "1", "JVB_WS_SERVER_ID": "jvb2"})
    assert s.bridge.websocket and s.bridge.websocket_server_id == "jvb2" and s.web.routes.colibri_websocket
    [warning] = s.bridge.upstream_warnings()
    assert warning.startswith("ENABLE_COLIBRI_WEBSOCKET=1") and "SCTP" in warning


def test_docker_host_address_still_read_with_upstreams_warning():
    old = Settings.from_values({"DOCKER_HOST_ADDRESS": "203.0.113.7"}).bridge
    assert old.advertise_ips == ("203.0.113.7",)
    assert old.upstream_warnings() == ["DOCKER_HOST_ADDRESS is deprecated, migrate to JVB_ADVERTISE_IPS"]
    both = Settings.from_values({"DOCKER_HOST_ADDRESS": "203.0.113.7", "JVB_ADVERTISE_IPS": "198.51.100.1#12000"})
    assert both.bridge.advertise_ips == ("198.51.100.1#12000",) and both.bridge.upstream_warnings() == []


def test_allowner_issuers_read_and_reported_as_upstream_warnings():
    jwt = {"ENABLE_AUTH": "1", "AUTH_TYPE": "jwt", "JWT_APP_ID": "app", "JWT_APP_SECRET": "s",
           "JWT_ACCEPTED_ALLOWNER_ISSUERS": "portal, ,admin-portal"}
    s = Settings.from_values(jwt)
    assert s.xmpp.auth_backends.jwt.allowner_issuers == ("portal", "admin-portal")
    assert s.xmpp.allowner_issuers(True) == {"portal", "admin-portal"}
    [warning] = s.xmpp.upstream_warnings(s.common.auth.enabled)
    assert warning.startswith("JWT_ACCEPTED_ALLOWNER_ISSUERS is set but XMPP_MUC_MODULES does not name muc_allowners")
    loaded = Settings.from_values({**jwt, "XMPP_MUC_MODULES": "muc_allowners"})
    assert loaded.xmpp.upstream_warnings(True) == []
    # as upstream's template: only with authentication by token
    internal = Settings.from_values({**jwt, "AUTH_TYPE": "internal"})
    assert internal.xmpp.upstream_warnings(internal.common.auth.enabled) == []
    assert internal.xmpp.allowner_issuers(True) == frozenset()
    assert Settings.from_values({}).xmpp.upstream_warnings(False) == []


def test_bwe_engine_takes_upstreams_names_and_says_when_it_is_not_ours():
    assert Settings.from_values({}).bridge.bwe_engine == "GoogleCc2"
    assert Settings.from_values({}).bridge.upstream_warnings() == []
    legacy = Settings.from_values({"BWE_ESTIMATOR_ENGINE": "googlecc"}).bridge
    assert legacy.bwe_engine == "GoogleCc"
    [warning] = legacy.upstream_warnings()
    assert warning.startswith("BWE_ESTIMATOR_ENGINE=GoogleCc:")
    with pytest.raises(ValueError, match="BWE_ESTIMATOR_ENGINE='Reno': expected one of GoogleCc, GoogleCc2"):
        Settings.from_values({"BWE_ESTIMATOR_ENGINE": "Reno"})


def test_csp_header_is_one_header_line():
    policy = "default-src 'self'; img-src * data:"
    assert Settings.from_values({"CSP_HEADER": policy}).web.routes.csp_header == policy
    assert Settings.from_values({}).web.routes.csp_header is None
    with pytest.raises(ValueError, match="CSP_HEADER=.*without control characters"):
        Settings.from_values({"CSP_HEADER": "default-src 'self'\r\nSet-Cookie: x=1"})


def test_defaults_already_as_upstreams_templates():
    s = Settings.from_values({})
    assert s.focus.enable_mid is False  # jicofo.conf: JICOFO_ENABLE_MID | default "0"
    assert (s.web.features.ice_restart, s.web.features.ice_restart_on_network_change) == (False, False)
    assert s.web.tls.acme_server == "letsencrypt"  # env.example's value
    turned = Settings.from_values({"JICOFO_ENABLE_MID": "1", "ENABLE_ICE_RESTART": "true",
                                   "ENABLE_ICE_RESTART_ON_NETWORK_CHANGE": "1"})
    assert turned.focus.enable_mid and turned.web.features.ice_restart
    assert turned.web.features.ice_restart_on_network_change
