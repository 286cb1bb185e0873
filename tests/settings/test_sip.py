"""The SIP gateway's settings: upstream's JIGASI_* names and defaults, SIP addresses as docker writes them."""

import pytest

from jitsi_py.settings import Settings, SettingsError


def sip(**values):
    return Settings.from_values(values).sip


def test_upstream_defaults():
    s = sip()
    assert not s.enabled and s.sip_uri is None
    assert (s.sip_port, s.sip_transport, s.port_min, s.port_max) == (5060, "udp", 20000, 20050)
    assert (s.keep_alive_method, s.sdes_srtp, s.health_check_interval, s.jvb_timeout) == ("options", False, 300, 30)
    assert (s.user, s.http_port) == ("jigasi", 8788)
    assert (s.session_expires, s.min_se) == (1800, 90)  # RFC 4028's advice and floor


def test_sip_addresses_take_dockers_spelling_and_the_uri_form():
    assert sip(JIGASI_SIP_URI="test@sip2sip.info").sip_uri == "sip:test@sip2sip.info"
    assert sip(JIGASI_SIP_URI="sips:test@sip.example.com:5061").sip_uri == "sips:test@sip.example.com:5061"
    assert sip(JIGASI_SIP_URI="test@sip2sip.info").enabled
    assert sip(JIGASI_SIP_TRANSPORT="TLS").sip_transport == "tls"


@pytest.mark.parametrize(("name", "value"), [
    ("JIGASI_SIP_URI", "notanaddress"), ("JIGASI_SIP_URI", "https://x.example.com/"),
    ("JIGASI_HEALTH_CHECK_SIP_URI", "@host"), ("JIGASI_SIP_TRANSPORT", "sctp"),
    ("JIGASI_PORT_MIN", "0"), ("JIGASI_SIP_KEEP_ALIVE_METHOD", "PING"), ("JIGASI_HEALTH_CHECK_INTERVAL", "5m"),
    ("JITSI_PY_SIP_SESSION_EXPIRES", "0"), ("JITSI_PY_SIP_MIN_SE", "half an hour"),
])
def test_bad_values_are_refused_in_one_line(name, value):
    with pytest.raises(SettingsError, match=name):
        sip(**{name: value})
