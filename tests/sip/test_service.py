"""The gateway service's HTTP port: Jigasi's stats, health and graceful shutdown, and the metrics."""

import asyncio
import ssl

import pytest
from aiohttp.test_utils import TestClient, TestServer

from jitsi_py.settings import Settings
from jitsi_py.sip.service import SipService, gateway_of

from ..support.stack import free_port, free_rtp_port, free_udp_port


async def test_stats_health_metrics_and_a_graceful_shutdown():
    rtp = free_rtp_port()
    settings = Settings.from_values({
        "JIGASI_SIP_URI": "jigasi@127.0.0.1", "JIGASI_XMPP_PASSWORD": "x", "JIGASI_LOCAL_REGION": "eu",
        "JITSI_PY_SIP_HOST": "127.0.0.1", "JITSI_PY_SIP_PORT": str(free_udp_port()),
        "JIGASI_PORT_MIN": str(rtp), "JIGASI_PORT_MAX": str(rtp + 4), "JITSI_PY_SIP_HTTP_PORT": str(free_port())})
    service = SipService(settings)
    client = TestClient(TestServer(service.http_app()))
    await client.start_server()
    try:
        stats = await (await client.get("/about/stats")).json()
        assert stats == {"conferences": 0, "participants": 0, "graceful_shutdown": False, "stress_level": 0.0,
                         "supports_sip": True, "supports_transcription": False, "version": "jitsi-py",
                         "region": "eu"}
        assert (await client.get("/about/health")).status == 500  # not in the brewery
        metrics = await (await client.get("/metrics")).text()
        assert "jitsi_py_sip_calls 0.0" in metrics and "jitsi_py_sip_malformed_total" in metrics
        assert "jitsi_py_sip_rtp_stray_total 0.0" in metrics and "jitsi_py_sip_rtp_bad_total 0.0" in metrics
        assert (await client.post("/about/shutdown")).status == 200
        assert (await (await client.get("/about/stats")).json())["graceful_shutdown"] is True
        assert not service.gateway.accepting and service.drained.is_set()  # no call to wait for
        assert service.client.stats["graceful_shutdown"] is True  # what the brewery presence carries
    finally:
        await client.close()


async def test_health_follows_the_last_health_check_call_while_it_is_recent():
    rtp = free_rtp_port()
    settings = Settings.from_values({
        "JIGASI_SIP_URI": "jigasi@127.0.0.1", "JIGASI_XMPP_PASSWORD": "x", "JITSI_PY_SIP_HOST": "127.0.0.1",
        "JIGASI_PORT_MIN": str(rtp), "JIGASI_PORT_MAX": str(rtp + 4), "JIGASI_HEALTH_CHECK_SIP_URI": "sip:echo@pbx",
        "JIGASI_HEALTH_CHECK_INTERVAL": "60000"})
    service = SipService(settings)
    service.client.joined.set()  # in the brewery; no SIP server to register with
    now = asyncio.get_running_loop().time()
    assert not service.healthy  # no check yet
    service.sip_check = (now, None)
    assert service.healthy
    service.sip_check = (now, "no audio within 10 s")
    assert not service.healthy
    service.sip_check = (now - 121, None)  # good, but more than two intervals ago
    assert not service.healthy


async def test_over_tls_the_gateway_listens_with_a_certificate_made_once(tmp_path):
    rtp, port = free_rtp_port(), free_port()
    settings = Settings.from_values({
        "JIGASI_SIP_URI": "jigasi@127.0.0.1", "JIGASI_XMPP_PASSWORD": "x", "JITSI_PY_SIP_HOST": "127.0.0.1",
        "JITSI_PY_SIP_PORT": str(port), "JIGASI_SIP_TRANSPORT": "TLS", "CONFIG": str(tmp_path),
        "JIGASI_PORT_MIN": str(rtp), "JIGASI_PORT_MAX": str(rtp + 4)})
    gateway = SipService(settings).gateway
    keys = tmp_path / "jigasi" / "keys"
    assert (keys / "sip.crt").is_file() and (keys / "sip.key").is_file()
    await gateway.start(register=False)
    try:
        context = ssl.create_default_context(cafile=str(keys / "sip.crt"))
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        writer.write(b"OPTIONS sip:jigasi@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:9;branch=z9hG4bKt\r\n"
                     b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:jigasi@127.0.0.1>\r\nCall-ID: t\r\nCSeq: 1 OPTIONS\r\n"
                     b"Content-Length: 0\r\n\r\n")
        assert (await asyncio.wait_for(reader.readline(), 5)) == b"SIP/2.0 200 OK\r\n"
        writer.close()
    finally:
        await gateway.close()


def test_the_session_timer_settings_reach_the_user_agent_and_must_agree():
    values = {"JIGASI_SIP_URI": "jigasi@127.0.0.1", "JIGASI_XMPP_PASSWORD": "x", "JITSI_PY_SIP_HOST": "127.0.0.1",
              "JITSI_PY_SIP_SESSION_EXPIRES": "600", "JITSI_PY_SIP_MIN_SE": "120"}
    account = gateway_of(Settings.from_values(values)).ua.account
    assert (account.session_expires, account.min_se) == (600, 120)
    with pytest.raises(ValueError, match="JITSI_PY_SIP_SESSION_EXPIRES .60. is below JITSI_PY_SIP_MIN_SE .120."):
        gateway_of(Settings.from_values({**values, "JITSI_PY_SIP_SESSION_EXPIRES": "60"}))
