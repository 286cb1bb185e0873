"""JICOFO_ENABLE_AUTH, JICOFO_AUTH_TYPE (each defaulting to the shared variable, as jicofo.conf) and
the dropped JICOFO_AUTH_USER, as the focus acts on them."""

from __future__ import annotations

import logging
from xml.etree.ElementTree import fromstring

import pytest
import slixmpp

from jitsi_py.common import ns
from jitsi_py.common.errors import StanzaError
from jitsi_py.focus.client import Focus
from jitsi_py.settings import Settings

ROOM = "standup@muc.meet.jitsi"
ALICE = "alice@meet.jitsi/web"


@pytest.mark.parametrize("values, enabled, type_", [
    ({}, False, "internal"),
    ({"ENABLE_AUTH": "1"}, True, "internal"),
    ({"ENABLE_AUTH": "1", "AUTH_TYPE": "jwt"}, True, "jwt"),
    ({"ENABLE_AUTH": "1", "JICOFO_ENABLE_AUTH": "0"}, False, "internal"),  # Prosody checks, the focus does not
    ({"JICOFO_ENABLE_AUTH": "true"}, True, "internal"),
    ({"ENABLE_AUTH": "1", "AUTH_TYPE": "jwt", "JICOFO_AUTH_TYPE": "internal"}, True, "internal"),
    ({"ENABLE_AUTH": "1", "AUTH_TYPE": "ldap", "JICOFO_AUTH_TYPE": "JWT"}, True, "jwt"),
    ({"ENABLE_AUTH": "1", "JICOFO_ENABLE_AUTH": ""}, True, "internal"),  # compose's blank is unset
])
def test_the_focus_variables_default_to_the_shared_ones(values, enabled, type_):
    auth = Settings.from_values(values).focus.auth
    assert (auth.enabled, auth.type) == (enabled, type_)


@pytest.fixture
async def make_focus():
    made = []

    def make(**values: str) -> Focus:
        focus = Focus(Settings.from_values({"JICOFO_AUTH_PASSWORD": "secret", **values}))
        made.append(focus)
        return focus

    yield make
    for focus in made:
        await focus.stop()


def conference_iq(focus: Focus, machine_uid: str = "") -> slixmpp.Iq:
    uid = f" machine-uid='{machine_uid}'" if machine_uid else ""
    return slixmpp.Iq(focus.xmpp, xml=fromstring(
        f"<iq xmlns='{ns.CLIENT}' type='set' id='q1' from='{ALICE}' to='{focus.jid}'>"
        f"<conference xmlns='{ns.JITSI_FOCUS}' room='{ROOM}'{uid}/></iq>"))


async def test_jicofo_enable_auth_off_lets_the_focus_skip_authentication_prosody_does(make_focus):
    focus = make_focus(ENABLE_AUTH="1", JICOFO_ENABLE_AUTH="0")
    room, answer = focus._conference_request(conference_iq(focus))
    assert (room, answer.session_id) == (ROOM, None)  # no machine-uid asked, no session made
    with pytest.raises(StanzaError, match="authentication is not enabled"):
        focus._on_logout_iq(slixmpp.Iq(focus.xmpp, xml=fromstring(
            f"<iq xmlns='{ns.CLIENT}' type='set' id='q2' from='{ALICE}'><logout xmlns='{ns.JITSI_FOCUS}'/></iq>")))


async def test_jicofo_enable_auth_on_its_own_makes_the_focus_authenticate(make_focus):
    focus = make_focus(JICOFO_ENABLE_AUTH="1")
    with pytest.raises(StanzaError, match="machine-uid"):
        focus._conference_request(conference_iq(focus))
    _, answer = focus._conference_request(conference_iq(focus, "m1"))
    assert answer.session_id and answer.identity == "alice@meet.jitsi"


@pytest.mark.parametrize("values, lifetime, auto_login", [
    ({"ENABLE_AUTH": "1", "AUTH_TYPE": "jwt"}, 60.0, False),  # jicofo's JWT authority
    ({"ENABLE_AUTH": "1", "AUTH_TYPE": "jwt", "JICOFO_AUTH_TYPE": "internal"}, 86400.0, True),  # its XMPP one
    ({"ENABLE_AUTH": "1", "JICOFO_AUTH_TYPE": "jwt"}, 60.0, False),
])
async def test_jicofo_auth_type_picks_the_authority(make_focus, values, lifetime, auto_login):
    focus = make_focus(**values)
    assert (focus.authority.lifetime, focus.authority.auto_login) == (lifetime, auto_login)


async def test_jicofo_auth_user_is_no_longer_read_and_says_so(make_focus, caplog):
    with caplog.at_level(logging.WARNING, logger="jitsi_py.focus"):
        make_focus(JICOFO_AUTH_USER="focus")
        assert caplog.records == []
        focus = make_focus(JICOFO_AUTH_USER="moderator")
    assert [r.getMessage() for r in caplog.records] == [
        "focus: JICOFO_AUTH_USER=moderator is no longer read upstream: the focus logs in as focus"]
    assert focus.bare_jid == "focus@auth.meet.jitsi"
