"""The room decisions: which room a conference request names, what a MUC presence says."""

from xml.etree.ElementTree import fromstring

import pytest

from jitsi_py.common import ns
from jitsi_py.common.errors import StanzaError
from jitsi_py.common.stanzas.jitsi import ParticipantPresence
from jitsi_py.focus.rooms import (
    answer_properties,
    conference_room,
    needs_authentication,
    read_presence,
    trusted_services,
)
from jitsi_py.settings import Settings

DOMAINS = Settings.from_values({}).common.domains  # muc.meet.jitsi, breakout.meet.jitsi


def presence(x: str = "", type_: str | None = None, extra: str = "") -> str:
    kind = f" type='{type_}'" if type_ else ""
    return fromstring(f"<presence xmlns='{ns.CLIENT}'{kind}><x xmlns='{ns.MUC_USER}'>{x}</x>{extra}</presence>")


def test_a_request_names_a_room_of_the_conference_or_breakout_muc():
    assert conference_room("Standup@muc.meet.jitsi", DOMAINS) == "standup@muc.meet.jitsi"
    assert conference_room("a@breakout.meet.jitsi", DOMAINS) == "a@breakout.meet.jitsi"
    for wrong in ("standup@meet.jitsi", "@muc.meet.jitsi", "muc.meet.jitsi", "x@lobby.meet.jitsi", ""):
        with pytest.raises(StanzaError) as refused:
            conference_room(wrong, DOMAINS)
        assert (refused.value.type, refused.value.condition) == ("modify", "bad-request")
        assert refused.value.text == f"not a conference room: {wrong}"


def test_breakout_rooms_skip_the_authority():
    assert needs_authentication("standup@muc.meet.jitsi", DOMAINS)
    assert not needs_authentication("a@breakout.meet.jitsi", DOMAINS)


def test_answer_properties_announce_authentication():
    assert answer_properties(False, "internal") == {"authentication": "false", "visitors-supported": "false"}
    assert answer_properties(True, "internal") == {"authentication": "true", "visitors-supported": "false"}
    assert answer_properties(True, "jwt")["externalAuth"] == "true"
    assert "externalAuth" not in answer_properties(False, "jwt")
    assert answer_properties(False, "internal", sip_gateway=True)["sipGatewayEnabled"] == "true"
    assert "sipGatewayEnabled" not in answer_properties(False, "internal")


def test_our_join_is_answered_by_nick_or_self_presence_and_says_if_it_created_the_room():
    created = read_presence("focus", presence("<status code='110'/><status code='201'/>"))
    assert created.ours and created.created and not created.gone
    renamed = read_presence("focus-1", presence("<status code='110'/>"))
    assert renamed.ours and not renamed.created
    refused = read_presence("focus", fromstring(
        f"<presence xmlns='{ns.CLIENT}' type='error'><error type='cancel'>"
        f"<not-allowed xmlns='{ns.STANZA_ERRORS}'/></error></presence>"))
    assert refused.ours and refused.type == "error" and refused.error == "not-allowed"


@pytest.mark.parametrize("code", ["301", "307", "321", "322", "332"])
def test_removal_codes_end_the_conference(code):
    exit_ = read_presence("focus", presence(f"<status code='110'/><status code='{code}'/>", "unavailable"))
    assert exit_.ours and exit_.gone and exit_.final


def test_a_destroyed_room_ends_the_conference_any_other_exit_is_rejoined():
    destroyed = read_presence("focus", presence("<destroy/><status code='110'/>", "unavailable"))
    assert destroyed.final
    replaced = read_presence("focus", presence("<status code='110'/>", "unavailable"))
    assert replaced.gone and not replaced.final
    assert not read_presence("focus", presence("<status code='303'/>", "unavailable")).final


def test_an_occupant_presence_carries_its_role_affiliation_and_real_jid():
    alice = read_presence("alice", presence(
        "<item role='moderator' affiliation='owner' jid='alice@meet.jitsi/web'/>"))
    assert not alice.ours and alice.type == "available"
    assert (alice.role, alice.affiliation, alice.real_jid) == ("moderator", "owner", "alice@meet.jitsi/web")
    bare = read_presence("bob", fromstring(f"<presence xmlns='{ns.CLIENT}'/>"))
    assert (bare.role, bare.affiliation, bare.real_jid, bare.codes) == ("participant", "none", None, frozenset())
    assert read_presence("bob", presence(type_="unavailable")).gone


def test_service_features_count_only_from_a_trusted_domain():
    stanza = fromstring(f"<presence xmlns='{ns.CLIENT}'><features><feature var='{ns.JIBRI}'/>"
                        "<feature var='http://jitsi.org/protocol/transcriber'/><feature var='urn:xmpp:jingle:dtmf:0'/>"
                        "<feature/></features></presence>")
    features = ParticipantPresence.from_element(stanza).features
    assert features == {ns.JIBRI, "http://jitsi.org/protocol/transcriber", "urn:xmpp:jingle:dtmf:0"}
    trusted = ("hidden.meet.jitsi",)
    assert trusted_services(features, "recorder@Hidden.meet.jitsi/r1", trusted) == {
        ns.JIBRI, "http://jitsi.org/protocol/transcriber"}
    assert trusted_services(features, "someone@meet.jitsi/r1", trusted) == frozenset()
    assert trusted_services(features, None, trusted) == frozenset()
    assert trusted_services(features, "recorder@hidden.meet.jitsi/r1", ()) == frozenset()
