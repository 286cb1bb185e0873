"""The one stanza error and its reply (RFC 6120 §8.3)."""

from xml.etree.ElementTree import Element

from jitsi_py.common.errors import CONDITION_TYPES, StanzaError, error_reply, refusal
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


def test_a_refusal_takes_its_conditions_usual_type():
    assert (refusal("forbidden").type, refusal("resource-constraint").type, refusal("bad-request").type) == (
        "auth", "wait", "modify")
    refused = refusal("unexpected-request", "already recording")
    assert (refused.condition, refused.text) == ("unexpected-request", "already recording")
    assert set(CONDITION_TYPES.values()) == {"auth", "cancel", "modify", "wait"}
