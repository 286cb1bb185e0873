"""The whole bridge service against Debian's prosody: brewery presence with stats, Colibri2 and
health IQs from a focus-like client, REST."""

import asyncio
import socket
from xml.etree.ElementTree import fromstring

import aiohttp
import pytest
import slixmpp
from slixmpp.exceptions import IqError

from jitsi_py.bridge import run
from jitsi_py.common.stanzas import colibri2 as c2
from jitsi_py.settings import Settings, SettingsError
from tests.support.prosody import Prosody

pytestmark = pytest.mark.system


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def prosody(tmp_path):
    with Prosody(tmp_path, users={"jvb": "jvb-secret", "focus": "focus-secret"}) as server:
        yield server


async def test_refuses_to_start_without_password():
    with pytest.raises(SettingsError, match="JVB_AUTH_PASSWORD"):
        await run(Settings.from_values({}))


async def _focus(prosody) -> slixmpp.ClientXMPP:
    focus = slixmpp.ClientXMPP("focus@auth.meet.jitsi/focus", "focus-secret")
    focus.enable_starttls = False
    focus.enable_direct_tls = False
    focus.enable_plaintext = True
    focus.plugin["feature_mechanisms"].unencrypted_scram = True
    started = asyncio.get_running_loop().create_future()
    focus.add_event_handler("session_start", lambda _e: started.done() or started.set_result(True))
    focus.connect("127.0.0.1", prosody.c2s_port)
    await asyncio.wait_for(started, 15)
    return focus


async def test_brewery_colibri2_health_and_rest(prosody):
    colibri_port = free_tcp_port()
    values = {**prosody.settings_environ(), "JVB_AUTH_PASSWORD": "jvb-secret", "JVB_MUC_NICKNAME": "jvb-test",
              "JVB_PORT": str(free_udp_port()), "JVB_COLIBRI_PORT": str(colibri_port),
              "COLIBRI_WEBSOCKET_PORT": str(free_tcp_port()), "JVB_DISABLE_STUN": "1", "JITSI_PY_BRIDGE_WORKERS": "1",
              "JVB_ADVERTISE_IPS": "203.0.113.9", "COLIBRI_REST_ENABLED": "1"}
    service = asyncio.create_task(run(Settings.from_values(values)))
    focus = await _focus(prosody)
    try:
        stats_seen = asyncio.get_running_loop().create_future()

        def on_presence(presence):
            stats = presence.xml.find("{http://jitsi.org/protocol/colibri}stats")
            if presence["from"].resource == "jvb-test" and stats is not None and not stats_seen.done():
                stats_seen.set_result({s.get("name"): s.get("value") for s in stats})
        focus.add_event_handler("presence", on_presence)
        brewery = "jvbbrewery@internal-muc.meet.jitsi"
        join = focus.make_presence(pto=f"{brewery}/focus")
        join.xml.append(fromstring("<x xmlns='http://jabber.org/protocol/muc'/>"))
        join.send()
        stats = await asyncio.wait_for(stats_seen, 20)
        assert stats["stress_level"] == "0.0" and stats["healthy"] == "true" and stats["drain"] == "false"
        assert stats["graceful_shutdown"] == "false" and "version" in stats and "current_timestamp" in stats

        bridge_jid = f"{brewery}/jvb-test"
        health = focus.make_iq_get(ito=bridge_jid)
        health.xml.append(fromstring("<healthcheck xmlns='http://jitsi.org/protocol/healthcheck'/>"))
        assert (await health.send(timeout=10))["type"] == "result"

        request = c2.ConferenceModify("m-1", name="room@muc.meet.jitsi", create=True, endpoints=[
            c2.Endpoint("e1", create=True, transport=c2.Transport(ice_controlling=True, sctp=c2.Sctp()),
                        capabilities=["source-names"])])
        iq = focus.make_iq_set(ito=bridge_jid)
        iq.xml.append(request.to_element())
        result = await iq.send(timeout=10)
        answer = c2.parse_conference_modified(result.xml.find(c2.CONFERENCE_MODIFIED))
        ice = answer.endpoint("e1").transport.ice
        assert ice.ufrag and ice.pwd and ice.rtcp_mux
        assert ice.fingerprints[0].hash == "sha-256" and ice.fingerprints[0].setup == "actpass"
        assert any(c.type == "srflx" and c.ip == "203.0.113.9" for c in ice.candidates)
        assert answer.endpoint("e1").transport.sctp == c2.Sctp(5000, "server")
        assert [s.id for s in answer.sources] == ["jvb-a0", "jvb-v0"]

        for req, condition, reason in (
            (c2.ConferenceModify("nope", endpoints=[c2.Endpoint("e1", expire=True)]), "item-not-found",
             "conference_not_found"),
            (c2.ConferenceModify("m-1", create=True), "conflict", "conference_already_exists"),
            (c2.ConferenceModify("m-1", endpoints=[c2.Endpoint("ghost", stats_id="x")]), "item-not-found",
             "unknown_endpoint"),
        ):
            iq = focus.make_iq_set(ito=bridge_jid)
            iq.xml.append(req.to_element())
            with pytest.raises(IqError) as caught:
                await iq.send(timeout=10)
            assert caught.value.condition == condition
            assert c2.error_reason(caught.value.iq.xml.find("{jabber:client}error")) == reason

        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{colibri_port}"
            async with http.get(f"{base}/about/health") as response:
                assert response.status == 200
            async with http.get(f"{base}/colibri/stats") as response:
                body = await response.json()
                assert body["conferences"] == 1 and body["participants"] == 1
            async with http.post(f"{base}/colibri/drain/enable") as response:
                assert response.status == 200
            async with http.get(f"{base}/colibri/drain") as response:
                assert (await response.json()) == {"drain": True}
            async with http.get(f"{base}/metrics") as response:
                text = await response.text()
                assert "jitsi_conferences 1" in text
                assert "jitsi_py_event_loop_lag_seconds " in text and "jitsi_py_asyncio_tasks " in text
            async with http.post(f"{base}/colibri/shutdown", json={"graceful-shutdown": True}) as response:
                assert response.status == 404  # SHUTDOWN_REST_ENABLED is off

        iq = focus.make_iq_set(ito=bridge_jid)
        iq.xml.append(c2.ConferenceModify("m-1", expire=True).to_element())
        await iq.send(timeout=10)
    finally:
        focus.disconnect()
        service.cancel()
        with pytest.raises(asyncio.CancelledError):
            await service


async def test_graceful_shutdown_over_rest_without_xmpp():
    colibri_port = free_tcp_port()
    service = asyncio.create_task(run(Settings.from_values({
        "JVB_DISABLE_XMPP": "1", "JVB_PORT": str(free_udp_port()), "JVB_COLIBRI_PORT": str(colibri_port),
        "JVB_DISABLE_STUN": "1",
        "JITSI_PY_BRIDGE_WORKERS": "1", "COLIBRI_REST_ENABLED": "1", "SHUTDOWN_REST_ENABLED": "1"})))
    base = f"http://127.0.0.1:{colibri_port}"
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            try:
                async with http.get(f"{base}/about/health") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
        async with http.get(f"{base}/about/version") as response:
            assert (await response.json())["name"] == "JVB"
        async with http.post(f"{base}/colibri/shutdown", data="not json") as response:
            assert response.status == 400
        async with http.post(f"{base}/colibri/shutdown", json={"graceful-shutdown": True}) as response:
            assert response.status == 200
    # No conference is running, so the graceful shutdown completes and run() returns.
    await asyncio.wait_for(service, 5)


async def test_upstream_warnings_are_logged_at_start(caplog):
    colibri_port = free_tcp_port()
    caplog.set_level("WARNING", logger="jitsi_py")
    service = asyncio.create_task(run(Settings.from_values({
        "JVB_DISABLE_XMPP": "1", "JVB_PORT": str(free_udp_port()), "JVB_COLIBRI_PORT": str(colibri_port),
        "JVB_DISABLE_STUN": "1",
        "JITSI_PY_BRIDGE_WORKERS": "1", "COLIBRI_REST_ENABLED": "1", "BWE_ESTIMATOR_ENGINE": "GoogleCc",
        "DOCKER_HOST_ADDRESS": "127.0.0.1"})))
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"http://127.0.0.1:{colibri_port}/about/health") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert any("BWE_ESTIMATOR_ENGINE=GoogleCc:" in w for w in warnings), warnings
        assert any("DOCKER_HOST_ADDRESS is deprecated" in w for w in warnings), warnings
    finally:
        service.cancel()
        await asyncio.gather(service, return_exceptions=True)
