"""The built-in dial-in information: a stable PIN per room both ways (also after a restart), the numbers,
and config.js pointing the client at them when the SIP gateway is on."""

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from jitsi_py.settings import Settings
from jitsi_py.web.config_js import build_config_js
from jitsi_py.web.dialin import ConferenceMapper, dialin_numbers, pin_of


async def client_for(mapper: ConferenceMapper) -> TestClient:
    app = web.Application()
    app.router.add_get("/conference-mapper", mapper.handle)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_a_room_gets_a_stable_pin_that_finds_it_again_after_a_restart(tmp_path):
    store = tmp_path / "mapper.json"
    client = await client_for(ConferenceMapper(store))
    try:
        forward = await (await client.get("/conference-mapper", params={"conference": "Standup@muc.meet.jitsi"})).json()
        assert forward["conference"] == "standup@muc.meet.jitsi" and forward["id"] == pin_of("standup@muc.meet.jitsi")
        assert 100_000_000 <= forward["id"] < 1_000_000_000
        unknown = await (await client.get("/conference-mapper", params={"id": "123"})).json()
        assert unknown["conference"] is False
        assert (await client.get("/conference-mapper", params={"conference": "no-domain"})).status == 400
        assert (await client.get("/conference-mapper")).status == 400
    finally:
        await client.close()
    restarted = await client_for(ConferenceMapper(store))
    try:
        back = await (await restarted.get("/conference-mapper", params={"id": str(forward["id"])})).json()
        assert back == {"conference": "standup@muc.meet.jitsi", "id": forward["id"],
                        "message": "Successfully retrieved conference mapping"}
    finally:
        await restarted.close()


def test_the_numbers_are_the_setting_else_the_gateways_sip_address():
    assert dialin_numbers(None, "sip:jigasi@sip.example.com") == [
        {"countryCode": "SIP", "tollFree": False, "formattedNumber": "jigasi@sip.example.com", "default": True}]
    assert dialin_numbers('[{"countryCode": "DE", "formattedNumber": "+49 30 1"}]', "sip:x@y")[0]["countryCode"] == "DE"


@pytest.mark.parametrize(("env", "expected"), [
    ({}, None),
    ({"JIGASI_SIP_URI": "jigasi@sip.example.com"}, "https://meet.example.com/conference-mapper"),
    ({"JIGASI_SIP_URI": "jigasi@sip.example.com", "CONFCODE_URL": "https://mapper.example.com/v1/access"},
     "https://mapper.example.com/v1/access"),
])
def test_config_js_names_the_built_in_mapper_only_when_the_gateway_is_on_and_none_is_set(env, expected):
    settings = Settings.from_values({"PUBLIC_URL": "https://meet.example.com", **env})
    text = build_config_js(settings).render("")
    lines = [line for line in text.splitlines() if "dialInConfCodeUrl" in line]
    if expected is None:
        assert lines == []
    else:
        assert lines and expected in lines[-1]
        assert any("dialInNumbersUrl" in line for line in text.splitlines())
