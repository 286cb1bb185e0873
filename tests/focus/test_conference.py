"""The conference core driven in memory: MUC events and Jingle in, Colibri2 and Jingle out."""

from pathlib import Path
from xml.etree.ElementTree import fromstring, tostring

import pytest

from jitsi_py.common import ns
from jitsi_py.common.errors import StanzaError
from jitsi_py.common.stanzas.colibri2 import CAPABILITY_SSRC_REWRITING, parse_conference_modify
from jitsi_py.common.stanzas.jibri import FEATURE as FEATURE_JIBRI
from jitsi_py.common.stanzas.jingle import ACTIONS, Jingle, JingleError, parse_jingle, q
from jitsi_py.common.stanzas.jitsi import (
    FEATURE_AUDIO,
    FEATURE_JSON_SOURCES,
    FEATURE_RTX,
    FEATURE_SCTP,
    FEATURE_SSRC_REWRITING,
    FEATURE_TCC,
    FEATURE_VIDEO,
    MuteIq,
    decode_sources,
)
from jitsi_py.common.stanzas.rayo import FEATURE_JIGASI, FEATURE_TRANSCRIBER
from jitsi_py.focus.bridges import BridgeTable
from jitsi_py.focus.colibri2 import BridgeError
from jitsi_py.focus.conference import (
    JINGLE_ACTIONS,
    ColibriRequest,
    Conference,
    End,
    GrantOwner,
    Participant,
    SendJingle,
    SendMute,
    SetBridgeAvailable,
)
from jitsi_py.focus.jingle import Offer

DATA = Path(__file__).parent / "data"
ROOM = "standup@muc.meet.jitsi"
B1 = "jvbbrewery@internal-muc.meet.jitsi/jvb1"
B2 = "jvbbrewery@internal-muc.meet.jitsi/jvb2"
FEATURES = frozenset({FEATURE_AUDIO, FEATURE_VIDEO, FEATURE_SCTP, FEATURE_JSON_SOURCES, FEATURE_RTX, FEATURE_TCC})
STATS = {"stress_level": "0.1", "drain": "false"}


def conference(bridges=(B1,), **kwargs):
    # Offers go out as soon as the bridge answers, unless a test is about holding them.
    kwargs.setdefault("initiate_wait", 0.0)
    table = BridgeTable()
    for jid in bridges:
        table.presence(jid, STATS)
    return Conference(ROOM, "meeting-1", focus_jid="focus@auth.meet.jitsi/focus", bridges=table, offer=Offer(),
                      now=0.0, **kwargs)


def participant(nick, features=FEATURES):
    return Participant(nick, f"{ROOM}/{nick}", real_jid=f"{nick}@meet.jitsi/res", features=features)


def modified_for(nick):
    return fromstring((DATA / "conference-modified.xml").read_text().replace('id="3f2a9c1e"', f'id="{nick}"'))


def answer_creates(conf, commands, now=1.0):
    """Play the bridge: answer every endpoint creation as the real one does; return the rest."""
    rest = []
    pending = list(commands)
    while pending:
        command = pending.pop(0)
        if isinstance(command, ColibriRequest) and command.key[0] == "create":
            conf.colibri_result(command.key, modified_for(command.key[1]), None, now)
            pending.extend(conf.commands())
        else:
            rest.append(command)
    return rest


def accept_for(initiate: Jingle, nick, ssrc_base):
    xml = (DATA / "session-accept.xml").read_text().replace("3f2a9c1e", nick)
    for old in ("2001", "1001", "1002", "1003", "1011", "1012", "1013"):
        xml = xml.replace(f'"{old}"', f'"{int(old) + ssrc_base}"')
    jingle = parse_jingle(fromstring(xml))
    jingle.sid = initiate.sid
    return jingle


def two_in_a_call():
    conf = conference()
    conf.joined(participant("alice"), 1.0)
    first = conf.commands()
    assert first == [GrantOwner("alice@meet.jitsi/res")], "nobody is invited before two are present"
    conf.joined(participant("bob"), 1.0)
    commands = conf.commands()
    creates = [c for c in commands if isinstance(c, ColibriRequest)]
    assert [c.key[1] for c in creates] == ["alice"], "the second waits for the conference to exist"
    request = parse_conference_modify(creates[0].request)
    assert request.create and request.name == ROOM and request.endpoints[0].create
    assert "source-names" in request.endpoints[0].capabilities
    assert request.endpoints[0].transport.ice_controlling and request.endpoints[0].transport.sctp is not None
    offers = {c.nick: c.jingle for c in answer_creates(conf, commands) if isinstance(c, SendJingle)}
    assert set(offers) == {"alice", "bob"}
    return conf, offers


def test_offer_carries_the_bridge_transport_codecs_and_feedback_sources():
    conf, offers = two_in_a_call()
    offer = parse_jingle(fromstring(tostring(offers["alice"].to_element())))
    assert offer.action == "session-initiate" and offer.initiator == "focus@auth.meet.jitsi/focus"
    assert [c.name for c in offer.contents] == ["audio", "video", "data"] and offer.bundle == ["audio", "video", "data"]
    for content in offer.contents:
        assert content.transport.ufrag == "8c1ab" and content.transport.fingerprints[0].setup == "actpass"
        assert content.transport.candidates[0].port == 10000
    assert offer.content("data").transport.sctp_port == 5000
    assert offer.content("audio").transport.sctp_port is None
    assert [p.name for p in offer.content("audio").payload_types] == ["opus", "telephone-event"]
    assert {p.name for p in offer.content("video").payload_types} == {"AV1", "VP8", "VP9", "H264", "rtx"}
    assert offer.bridge_session.id
    sources = decode_sources(offer.json_sources)
    assert {s.name for s in sources["jvb"][0]} == {"jvb-a0", "jvb-v0"}


def test_accept_updates_the_bridge_and_tells_the_others():
    conf, offers = two_in_a_call()
    conf.jingle("alice", accept_for(offers["alice"], "alice", 0), 2.0)
    commands = conf.commands()
    update = parse_conference_modify(next(c for c in commands if isinstance(c, ColibriRequest)).request)
    endpoint = update.endpoint("alice")
    assert endpoint.transport.ice.ufrag == "Zq7k" and endpoint.initial_last_n == 25
    assert {m.id for m in endpoint.sources} == {"alice-a0", "alice-v0"}
    assert not [c for c in commands if isinstance(c, SendJingle)], "bob has not accepted yet: queued"
    conf.jingle("bob", accept_for(offers["bob"], "bob", 10000), 2.0)
    to_bob = [c.jingle for c in conf.commands() if isinstance(c, SendJingle) and c.nick == "bob"]
    assert [j.action for j in to_bob] == ["source-add"]
    alice_seen = decode_sources(to_bob[0].json_sources)["alice"]
    assert sorted(s.ssrc for s in alice_seen[0]) == [1001, 1011, 2001], "simulcast stripped"


def held_offer():
    """Alice and Bob start the conference together; the default wait holds Bob's offer."""
    conf = conference(initiate_wait=0.5)
    conf.joined(participant("alice"), 1.0)
    conf.joined(participant("bob"), 1.0)
    sent = [c for c in answer_creates(conf, conf.commands()) if isinstance(c, SendJingle)]
    assert [(c.nick, c.jingle.action) for c in sent] == [("alice", "session-initiate")]
    assert conf.next_deadline() == 1.5
    return conf, sent[0].jingle


def test_an_offer_waits_for_the_accept_that_brings_the_other_sources():
    conf, to_alice = held_offer()
    conf.jingle("alice", accept_for(to_alice, "alice", 0), 1.2)
    offer = next(c.jingle for c in conf.commands() if isinstance(c, SendJingle) and c.nick == "bob")
    assert offer.action == "session-initiate"
    assert sorted(s.ssrc for s in decode_sources(offer.json_sources)["alice"][0]) == [1001, 1011, 2001]
    assert conf.next_deadline() is None
    conf.handle_timer(1.5)
    conf.jingle("bob", accept_for(offer, "bob", 10000), 1.3)
    assert not [c for c in conf.commands() if isinstance(c, SendJingle) and c.nick == "bob"], \
        "the offer had alice's sources: nothing queued is sent again"


def test_an_offer_held_too_long_goes_out_without_the_sources():
    conf, to_alice = held_offer()
    conf.handle_timer(1.4)
    assert not conf.commands()
    conf.handle_timer(1.5)
    offer = next(c.jingle for c in conf.commands() if isinstance(c, SendJingle))
    assert offer.action == "session-initiate" and "alice" not in decode_sources(offer.json_sources)
    conf.jingle("alice", accept_for(to_alice, "alice", 0), 1.6)
    conf.jingle("bob", accept_for(offer, "bob", 10000), 1.7)
    to_bob = [c.jingle.action for c in conf.commands() if isinstance(c, SendJingle) and c.nick == "bob"]
    assert to_bob == ["source-add"]


def test_leaving_with_a_held_offer_ends_no_session_it_never_had():
    conf, _ = held_offer()
    conf.left("bob", 1.1)
    commands = conf.commands()
    assert not [c for c in commands if isinstance(c, SendJingle)]
    expire = next(c for c in commands if isinstance(c, ColibriRequest))
    assert parse_conference_modify(expire.request).endpoints[0].expire
    assert conf.next_deadline() != 1.5


def test_leave_expires_the_endpoint_and_removes_sources():
    conf, offers = two_in_a_call()
    conf.jingle("alice", accept_for(offers["alice"], "alice", 0), 2.0)
    conf.jingle("bob", accept_for(offers["bob"], "bob", 10000), 2.0)
    conf.commands()
    conf.left("bob", 3.0)
    commands = conf.commands()
    expire = parse_conference_modify(next(c for c in commands if isinstance(c, ColibriRequest)).request)
    assert expire.endpoints[0].id == "bob" and expire.endpoints[0].expire
    removal = next(c.jingle for c in commands if isinstance(c, SendJingle))
    assert removal.action == "source-remove" and "bob" in decode_sources(removal.json_sources)
    conf.handle_timer(3.0 + 20.0)
    commands = conf.commands()
    assert any(isinstance(c, SendJingle) and c.jingle.action == "session-terminate" for c in commands)
    assert parse_conference_modify(next(c for c in commands if isinstance(c, ColibriRequest)).request).expire
    conf.left("alice", 30.0)
    assert [type(c) for c in conf.commands()] == [End]


def test_a_dead_bridge_moves_everyone_to_another():
    conf, offers = two_in_a_call()
    conf.bridges.presence(B2, {"stress_level": "0.5", "drain": "false"})
    conf.jingle("alice", accept_for(offers["alice"], "alice", 0), 2.0)
    conf.commands()
    conf.bridges.left(B1)
    conf.bridge_down(B1, 3.0)
    commands = conf.commands()
    terminates = [c for c in commands if isinstance(c, SendJingle) and c.jingle.action == "session-terminate"]
    assert {c.nick for c in terminates} == {"alice", "bob"}
    creates = [c for c in commands if isinstance(c, ColibriRequest) and c.key[0] == "create"]
    assert {c.bridge for c in creates} == {B2}
    cleanup = [c for c in commands if isinstance(c, ColibriRequest) and c.key[0] == "expire"]
    assert [c.bridge for c in cleanup] == [B1] and parse_conference_modify(cleanup[0].request).expire
    reoffers = {c.nick: c.jingle for c in answer_creates(conf, commands, 3.5)
                if isinstance(c, SendJingle) and c.jingle.action == "session-initiate"}
    assert set(reoffers) == {"alice", "bob"}
    assert reoffers["alice"].sid != offers["alice"].sid
    assert reoffers["alice"].bridge_session.id != offers["alice"].bridge_session.id
    with pytest.raises(StanzaError) as rejected:
        conf.jingle("alice", accept_for(offers["alice"], "alice", 0), 4.0)
    assert rejected.value.condition == "gone"


def test_no_bridge_means_bridge_not_available_until_one_appears():
    conf = conference(bridges=())
    conf.joined(participant("alice"), 1.0)
    conf.joined(participant("bob"), 1.0)
    assert SetBridgeAvailable(False) in conf.commands()
    conf.bridges.presence(B1, STATS)
    conf.bridges_changed(2.0)
    commands = conf.commands()
    assert SetBridgeAvailable(True) in commands
    assert any(isinstance(c, ColibriRequest) for c in commands)


def test_malformed_or_unexpected_jingle_is_rejected_alone():
    conf, offers = two_in_a_call()
    with pytest.raises(StanzaError) as unknown:
        conf.jingle("alice", Jingle("session-accept", "not-the-sid"), 2.0)
    assert [e.tag for e in unknown.value.extra] == [q(ns.JINGLE_ERRORS, "unknown-session")]
    with pytest.raises(StanzaError) as early:
        conf.jingle("alice", Jingle("source-add", offers["alice"].sid), 2.0)
    assert early.value.condition == "unexpected-request"
    conf.jingle("alice", accept_for(offers["alice"], "alice", 0), 2.0)
    conf.commands()
    clash = accept_for(offers["bob"], "bob", 0)  # bob reuses alice's SSRCs
    with pytest.raises(StanzaError) as duplicate:
        conf.jingle("bob", clash, 2.0)
    assert duplicate.value.condition == "bad-request" and "already used" in duplicate.value.text
    assert conf.commands() == [] and conf.participants["bob"].state == "offered"


def test_failed_allocation_on_a_bridge_in_graceful_shutdown_moves_on():
    conf = conference(bridges=(B1, B2))
    conf.joined(participant("alice"), 1.0)
    conf.joined(participant("bob"), 1.0)
    create = next(c for c in conf.commands() if isinstance(c, ColibriRequest))
    conf.colibri_result(create.key, None, BridgeError("service-unavailable", "graceful_shutdown"), 1.5)
    retries = [c for c in conf.commands() if isinstance(c, ColibriRequest) and c.key[0] == "create"]
    assert retries and {c.bridge for c in retries} == {B1, B2} - {create.bridge}


def test_mute_rules():
    conf, offers = two_in_a_call()
    conf.participants["alice"].role = "moderator"
    conf.mute("alice", MuteIq("audio", f"{ROOM}/bob", True))
    commands = conf.commands()
    assert any(isinstance(c, SendMute) and c.nick == "bob" and c.mute.actor == f"{ROOM}/alice" for c in commands)
    force = parse_conference_modify(next(c for c in commands if isinstance(c, ColibriRequest)).request)
    assert force.endpoint("bob").force_mute.audio is True
    with pytest.raises(StanzaError) as refused:
        conf.mute("bob", MuteIq("audio", f"{ROOM}/alice", True))
    assert refused.value.condition == "not-allowed"
    with pytest.raises(StanzaError) as refused:
        conf.mute("alice", MuteIq("audio", f"{ROOM}/bob", False))
    assert refused.value.condition == "not-allowed"


def test_nobody_joining_ends_the_conference():
    conf = conference()
    assert conf.next_deadline() == 15.0
    conf.handle_timer(15.0)
    assert [type(c) for c in conf.commands()] == [End]


def test_owner_is_reelected_when_the_owner_leaves():
    conf, _ = two_in_a_call()
    conf.participants["alice"].affiliation = "owner"
    conf.left("alice", 2.0)
    assert GrantOwner("bob@meet.jitsi/res") in conf.commands()


def test_av_moderation_force_mutes_all_but_moderators_and_the_whitelisted():
    conf, offers = two_in_a_call()
    conf.participants["alice"].role = "moderator"
    conf.av_moderation("audio", enabled=True)
    commands = conf.commands()
    muted = {parse_conference_modify(c.request).endpoints[0].id: parse_conference_modify(c.request).endpoints[0]
             for c in commands if isinstance(c, ColibriRequest)}
    assert set(muted) == {"bob"} and muted["bob"].force_mute.audio is True
    with pytest.raises(StanzaError) as refused:
        conf.mute("bob", MuteIq("audio", f"{ROOM}/bob", False))
    assert refused.value.condition == "not-allowed"
    conf.av_moderation("audio", whitelist=[f"{ROOM}/bob"])
    request = parse_conference_modify(next(c for c in conf.commands() if isinstance(c, ColibriRequest)).request)
    assert request.endpoint("bob").force_mute.audio is False
    conf.mute("bob", MuteIq("audio", f"{ROOM}/bob", False))
    conf.av_moderation("audio", enabled=False)
    assert not [c for c in conf.commands() if isinstance(c, ColibriRequest)], "nothing changes for bob"


def test_terminate_with_restart_reinvites_within_the_rate_limit():
    from jitsi_py.common.stanzas.jingle import BridgeSession

    conf, offers = two_in_a_call()
    restart = Jingle("session-terminate", offers["alice"].sid, reason="connectivity-error",
                     bridge_session=BridgeSession(offers["alice"].bridge_session.id, restart=True))
    conf.jingle("alice", restart, 10.0)
    commands = conf.commands()
    reoffer = next(c.jingle for c in answer_creates(conf, commands, 10.5) if isinstance(c, SendJingle)
                   and c.nick == "alice" and c.jingle.action == "session-initiate")
    assert reoffer.sid != offers["alice"].sid
    again = Jingle("session-terminate", reoffer.sid, bridge_session=BridgeSession(reoffer.bridge_session.id,
                                                                                  restart=True))
    with pytest.raises(StanzaError) as limited:
        conf.jingle("alice", again, 12.0)
    assert limited.value.condition == "resource-constraint"


def test_a_restart_while_the_others_endpoint_is_being_made_keeps_the_bridge_conference():
    from jitsi_py.common.stanzas.jingle import BridgeSession

    conf = conference()
    conf.joined(participant("alice"), 1.0)
    conf.joined(participant("bob"), 1.0)
    create_alice = next(c for c in conf.commands() if isinstance(c, ColibriRequest))
    conf.colibri_result(create_alice.key, modified_for("alice"), None, 1.1)
    commands = conf.commands()
    offer = next(c.jingle for c in commands if isinstance(c, SendJingle) and c.nick == "alice")
    create_bob = next(c for c in commands if isinstance(c, ColibriRequest))
    assert create_bob.key[:2] == ("create", "bob")  # on its way: bob is on the bridge already
    conf.jingle("alice", Jingle("session-terminate", offer.sid, bridge_session=BridgeSession(
        offer.bridge_session.id, restart=True)), 1.2)
    expire = parse_conference_modify(next(c for c in conf.commands() if isinstance(c, ColibriRequest)).request)
    assert not expire.expire and [(e.id, e.expire) for e in expire.endpoints] == [("alice", True)]
    conf.colibri_result(create_bob.key, modified_for("bob"), None, 1.3)
    assert any(isinstance(c, SendJingle) and c.nick == "bob" and c.jingle.action == "session-initiate"
               for c in conf.commands())


def test_ending_from_outside_expires_the_bridge_conference():
    conf, _ = two_in_a_call()
    conf.end("room destroyed")
    commands = conf.commands()
    assert parse_conference_modify(next(c for c in commands if isinstance(c, ColibriRequest)).request).expire
    assert isinstance(commands[-1], End) and conf.ended


def test_session_states_move_only_along_the_table():
    person = participant("carol")
    for event, state in (("invite", "allocating"), ("allocated", "offered"), ("accept", "active"),
                         ("reset", "waiting")):
        person.advance(event)
        assert person.state == state
    with pytest.raises(ValueError, match="no transition from 'waiting' on 'accept'"):
        person.advance("accept")


def test_in_place_ice_restart_relays_the_bridges_new_transport():
    from jitsi_py.common.stanzas import colibri2 as c2
    from jitsi_py.common.stanzas.jingle import BridgeSession, IceTransport

    conf, offers = two_in_a_call()
    conf.jingle("alice", accept_for(offers["alice"], "alice", 0), 2.0)
    conf.commands()
    request = Jingle("session-info", offers["alice"].sid,
                     bridge_session=BridgeSession(offers["alice"].bridge_session.id, ice_restart=True))
    conf.jingle("alice", request, 10.0)
    (ask,) = conf.commands()
    assert parse_conference_modify(ask.request).endpoint("alice").transport.ice_restart
    fresh = IceTransport("newufrag", "newpwd", ice_generation=1)
    answer = c2.ConferenceModified([c2.Endpoint("alice", transport=c2.Transport(ice=fresh))]).to_element()
    conf.colibri_result(ask.key, answer, None, 10.2)
    (info,) = conf.commands()
    transport = info.jingle.content("audio").transport
    assert info.jingle.action == "transport-info" and (transport.ufrag, transport.ice_generation) == ("newufrag", 1)
    with pytest.raises(StanzaError) as refused:
        conf.jingle("alice", request, 11.0)  # rate limited
    assert refused.value.condition == "resource-constraint"
    conf.jingle("alice", request, 20.0)
    (ask,) = conf.commands()
    conf.colibri_result(ask.key, c2.ConferenceModified([c2.Endpoint("alice")]).to_element(), None, 20.1)
    assert [c.jingle.action for c in conf.commands() if isinstance(c, SendJingle)][0] == "session-terminate", \
        "a bridge that cannot restart in place makes the focus re-invite"


def test_a_rewriting_participant_gets_sources_from_the_bridge_not_from_jingle():
    conf = conference(ssrc_rewriting=True)
    conf.joined(participant("alice"), 1.0)
    conf.joined(participant("bob", FEATURES | {FEATURE_SSRC_REWRITING}), 1.0)
    capabilities, offers, pending = {}, {}, conf.commands()
    while pending:  # play the bridge, noting what each endpoint is created with
        command = pending.pop(0)
        if isinstance(command, ColibriRequest) and command.key[0] == "create":
            capabilities.update((e.id, e.capabilities) for e in parse_conference_modify(command.request).endpoints)
            conf.colibri_result(command.key, modified_for(command.key[1]), None, 1.0)
            pending.extend(conf.commands())
        elif isinstance(command, SendJingle):
            offers[command.nick] = command.jingle
    assert CAPABILITY_SSRC_REWRITING in capabilities["bob"]
    assert CAPABILITY_SSRC_REWRITING not in capabilities.get("alice", [CAPABILITY_SSRC_REWRITING])
    conf.jingle("bob", accept_for(offers["bob"], "bob", 10000), 2.0)
    conf.jingle("alice", accept_for(offers["alice"], "alice", 0), 2.0)
    sent = [c for c in conf.commands() if isinstance(c, SendJingle)]
    assert [c.jingle.action for c in sent if c.nick == "alice"] == ["source-add"], "alice still gets bob's sources"
    assert not [c for c in sent if c.nick == "bob"], "bob learns alice's sources from the bridge's maps"


def test_every_jingle_action_the_codec_reads_has_one_row():
    assert set(JINGLE_ACTIONS) == ACTIONS
    assert {a for a, rule in JINGLE_ACTIONS.items() if rule is None} == {
        "session-initiate", "transport-replace", "content-add", "content-modify", "content-remove"}
    assert JINGLE_ACTIONS["source-add"].handler is Conference._on_source_add


@pytest.mark.parametrize("action", sorted(a for a, rule in JINGLE_ACTIONS.items() if rule is None))
def test_jingle_actions_the_focus_never_takes_are_not_implemented(action):
    conf, offers = two_in_a_call()
    with pytest.raises(StanzaError) as refused:
        conf.jingle("alice", Jingle(action, offers["alice"].sid), 2.0)
    assert (refused.value.type, refused.value.condition) == ("cancel", "feature-not-implemented")
    assert conf.commands() == []


@pytest.mark.parametrize("action", sorted(a for a, rule in JINGLE_ACTIONS.items()
                                          if rule is not None and "offered" not in rule.states))
def test_jingle_actions_out_of_their_states_are_unexpected(action):
    conf, offers = two_in_a_call()  # both are offered, neither accepted yet
    with pytest.raises(StanzaError) as refused:
        conf.jingle("alice", Jingle(action, offers["alice"].sid), 2.0)
    assert (refused.value.condition, refused.value.text) == ("unexpected-request", f"{action} in state offered")
    assert conf.participants["alice"].state == "offered"


def test_an_unknown_jingle_action_is_malformed_at_the_codec():
    with pytest.raises(JingleError, match="unknown Jingle action 'source-shuffle'"):
        parse_jingle(fromstring(f"<jingle xmlns='{ns.JINGLE}' action='source-shuffle' sid='s1'/>"))


# --- trusted recorders, gateways and transcribers (docs/focus.md §10) --------------------------------

def service(nick, feature):
    return Participant(nick, f"{ROOM}/{nick}", real_jid=f"{nick}@hidden.meet.jitsi/res", features=FEATURES,
                       services=frozenset({feature}))


def test_a_recorder_alone_keeps_no_conference_alive():
    conf = conference()
    conf.joined(service("rec", FEATURE_JIBRI), 1.0)
    assert conf.next_deadline() == 15.0, "the initial wait goes on"
    conf.handle_timer(15.0)
    assert End in [type(c) for c in conf.commands()]


def test_the_last_person_leaving_ends_the_conference_despite_a_transcriber():
    conf = conference()
    conf.joined(participant("alice"), 1.0)
    conf.joined(service("tr", FEATURE_TRANSCRIBER), 2.0)
    conf.commands()
    conf.left("alice", 3.0)
    assert End in [type(c) for c in conf.commands()]


def test_a_phone_caller_keeps_the_conference_and_services_are_never_elected_owner():
    conf = conference()
    conf.joined(service("rec", FEATURE_JIBRI), 1.0)
    conf.joined(service("sip", FEATURE_JIGASI), 1.5)
    assert not [c for c in conf.commands() if isinstance(c, GrantOwner)]
    conf.joined(participant("alice"), 2.0)
    assert GrantOwner("alice@meet.jitsi/res") in conf.commands()
    conf.left("alice", 3.0)
    assert End not in [type(c) for c in conf.commands()], "the SIP caller is a person"
    assert conf.participants["sip"].affiliation != "owner"


def test_a_recorder_is_never_force_muted():
    conf = conference()
    conf.joined(participant("alice"), 1.0)
    conf.joined(service("rec", FEATURE_JIBRI), 2.0)
    conf.av_moderation("audio", enabled=True)
    assert conf.participants["rec"].forced == (False, False)


def connects_sent(commands):
    return [(c.bridge, parse_conference_modify(c.request).connects) for c in commands
            if isinstance(c, ColibriRequest) and c.key[0] == "connects"]


def test_transcription_by_the_bridge_export_adds_and_expires_one_connect():
    template = "ws://transcriber:9010/{{REGION}}/{{MEETING_ID}}"
    conf = conference(transcription_url=template)
    conf.set_transcribing(True)  # asked before any bridge: sent once the conference exists on one
    assert connects_sent(conf.commands()) == []
    conf.joined(participant("alice"), 1.0)
    conf.joined(participant("bob"), 1.0)
    [(bridge, [connect])] = connects_sent(answer_creates(conf, conf.commands()))
    assert bridge == B1 and connect.create and not connect.expire
    assert (connect.id, connect.url, connect.type, connect.protocol) == (
        "transcriber", "ws://transcriber:9010//meeting-1", "transcriber", "mediajson")
    assert connect.audio and connect.ping == (10_000, 3_000)
    conf.set_transcribing(True)  # no change: nothing said again
    assert connects_sent(conf.commands()) == []
    conf.set_transcribing(False)
    [(bridge, [stop])] = connects_sent(conf.commands())
    assert bridge == B1 and stop.id == "transcriber" and stop.expire and not stop.create


def test_without_a_transcription_url_the_room_asking_changes_nothing():
    conf, _ = two_in_a_call()
    conf.set_transcribing(True)
    assert connects_sent(conf.commands()) == []
