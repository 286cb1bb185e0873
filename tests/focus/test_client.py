"""The focus's one refusal boundary, in memory: IQs in, the exact error answers out."""

from xml.etree.ElementTree import canonicalize, fromstring

import pytest
import slixmpp

from jitsi_py.common import ns
from jitsi_py.focus.client import Focus
from jitsi_py.settings import Settings

PARTICIPANT = "standup@muc.meet.jitsi/alice"


@pytest.fixture
async def focus():
    focus = Focus(Settings.from_values({"JICOFO_AUTH_PASSWORD": "secret"}))
    sent = []
    focus.xmpp.send = sent.append  # the stream is never connected: capture what would go out
    focus.sent = sent
    yield focus
    await focus.stop()


def ask(focus, payload: str, type_: str = "set", sender: str = PARTICIPANT) -> str:
    iq = slixmpp.Iq(focus.xmpp, xml=fromstring(
        f"<iq xmlns='{ns.CLIENT}' type='{type_}' id='q1' from='{sender}' to='{focus.jid}'>{payload}</iq>"))
    focus.iq_handlers[iq.xml[0].tag](iq)
    (reply,) = focus.sent
    return canonicalize(str(reply))


def error(type_: str, condition: str, text: str, extra: str = "") -> str:
    """The answer as the focus always wrote it: no XEP-0086 ``code``, slixmpp's addressing."""
    return canonicalize(f'<iq id="q1" type="error" to="{PARTICIPANT}"><error type="{type_}">'
                        f'<{condition} xmlns="{ns.STANZA_ERRORS}" /><text xmlns="{ns.STANZA_ERRORS}">{text}</text>'
                        f'{extra}</error></iq>')


async def test_jingle_for_no_conference_is_an_unknown_session(focus):
    answer = ask(focus, f"<jingle xmlns='{ns.JINGLE}' action='session-accept' sid='s1'/>")
    assert answer == error("cancel", "item-not-found", "no such conference",
                           f'<unknown-session xmlns="{ns.JINGLE_ERRORS}" />')
    assert focus.counters["jingle_errors"] == 1


@pytest.mark.parametrize("payload, type_, text", [
    (f"<conference xmlns='{ns.JITSI_FOCUS}' room='x@muc.meet.jitsi'/>", "get", "conference requests are IQ set"),
    (f"<conference xmlns='{ns.JITSI_FOCUS}' room='x@meet.jitsi'/>", "set", "not a conference room: x@meet.jitsi"),
    (f"<conference xmlns='{ns.JITSI_FOCUS}'/>", "set", "No 'room' specified."),  # refused by the codec
])
async def test_bad_conference_requests(focus, payload, type_, text):
    assert ask(focus, payload, type_) == error("modify", "bad-request", text)


async def test_logout_without_authentication(focus):
    assert ask(focus, f"<logout xmlns='{ns.JITSI_FOCUS}' session-id='s'/>") == error(
        "cancel", "service-unavailable", "authentication is not enabled")


async def test_mute_in_no_conference(focus):
    assert ask(focus, f"<mute xmlns='{ns.JITSI_MUTE_AUDIO}' jid='{PARTICIPANT}'>true</mute>") == error(
        "cancel", "item-not-found", "no such conference")
