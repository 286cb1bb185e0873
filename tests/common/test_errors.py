"""The one stanza error and its reply (RFC 6120 §8.3)."""

from xml.etree.ElementTree import Element

from jitsi_py.common.errors import StanzaError, error_reply
from jitsi_py.common.ns import CLIENT, STANZA_ERRORS


def iq(**attrs: str) -> Element:
    return Element(f"{{{CLIENT}}}iq", attrs)


def test_the_reply_swaps_the_addresses_keeps_the_id_and_carries_the_condition():
    reply = error_reply(iq(type="get", id="7", to="muc.meet.jitsi", **{"from": "a@meet.jitsi/r"}),
                        StanzaError("cancel", "item-not-found", "No such room"))
    assert reply.attrib == {"id": "7", "from": "muc.meet.jitsi", "to": "a@meet.jitsi/r", "type": "error"}
    [error] = reply
    assert error.attrib == {"type": "cancel", "code": "404"}
    assert [c.tag for c in error] == [f"{{{STANZA_ERRORS}}}item-not-found", f"{{{STANZA_ERRORS}}}text"]
    assert error[1].text == "No such room"


def test_an_error_is_never_answered_and_the_legacy_code_can_be_left_out():
    assert error_reply(iq(type="error", id="1"), StanzaError("cancel", "service-unavailable")) is None
    reply = error_reply(iq(type="set", to="meet.jitsi"), StanzaError("cancel", "service-unavailable"),
                        legacy_code=False)
    assert reply.attrib == {"from": "meet.jitsi", "type": "error"}
    assert reply[0].attrib == {"type": "cancel"}
