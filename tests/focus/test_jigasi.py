"""Gateway selection and dial-out checks, driven in memory (docs/focus.md §9)."""

import pytest

from jitsi_py.common.errors import StanzaError
from jitsi_py.common.stanzas.rayo import ROOM_NAME_HEADER, TRANSCRIBER_CALLEE, Dial
from jitsi_py.focus.jigasi import DialOut, GatewayPool, TranscriberInvite, check_dial

ROOM = "standup@muc.meet.jitsi"
BREWERY = "jigasibrewery@internal-muc.meet.jitsi"
G1, G2, G3, G4 = (f"{BREWERY}/g{n}" for n in range(1, 5))


def stats(participants=0, sip=True, transcription=False, shutdown=False, region=None):
    out = {"participants": str(participants), "supports_sip": str(sip).lower(),
           "supports_transcription": str(transcription).lower(), "graceful_shutdown": str(shutdown).lower()}
    if region is not None:
        out["region"] = region
    return out


def test_the_least_loaded_sip_gateway_not_shutting_down_is_picked():
    gateways = GatewayPool()
    gateways.presence(G1, stats(5))
    gateways.presence(G2, stats(1, shutdown=True))
    gateways.presence(G3, stats(3))
    gateways.presence(G4, stats(0, sip=False, transcription=True))
    assert gateways.select(transcriber=False) == G3
    assert gateways.select(transcriber=False, exclude=[G3]) == G1
    assert gateways.select(transcriber=True) == G4
    assert gateways.left(G4) and gateways.select(transcriber=True) is None


def test_regions_bridge_regions_first_then_our_own_then_any():
    gateways = GatewayPool(local_region="eu")
    gateways.presence(G1, stats(0, region="us"))
    gateways.presence(G2, stats(5, region="eu"))
    gateways.presence(G3, stats(9, region="ap"))
    assert gateways.select(transcriber=False, regions={"ap"}) == G3
    assert gateways.select(transcriber=False, regions={"sa"}) == G2
    assert gateways.select(transcriber=False, regions={"sa"}, exclude=[G2]) == G1


def dial(to="+4930123456", room=ROOM):
    return Dial(to, "fromnumber", {ROOM_NAME_HEADER: room} if room else {})


@pytest.mark.parametrize(("request_", "moderator", "transcriber", "condition"), [
    (dial(), False, False, "forbidden"),
    (dial(room="other@muc.meet.jitsi"), True, False, "forbidden"),
    (dial(room="standup"), True, False, "forbidden"),
    (dial(TRANSCRIBER_CALLEE), True, True, "conflict"),
])
def test_dial_refusals(request_, moderator, transcriber, condition):
    with pytest.raises(StanzaError) as refused:
        check_dial(request_, ROOM, moderator=moderator, transcriber_present=transcriber)
    assert refused.value.condition == condition


def test_accepted_dials():
    check_dial(dial(room="StandUp@MUC.meet.jitsi"), ROOM, moderator=True, transcriber_present=False)
    check_dial(dial(room=None), ROOM, moderator=True, transcriber_present=True)


def test_a_dial_tries_three_gateways_then_fails_by_the_last_outcome():
    gateways = GatewayPool()
    for jid in (G1, G2, G3, G4):
        gateways.presence(jid, stats())
    out = DialOut(dial())
    tried = []
    for _ in range(2):
        tried.append(out.target(gateways))
        out.failed(timed_out=True)
    tried.append(out.target(gateways))
    assert len(set(tried)) == 3
    with pytest.raises(StanzaError) as timeout:
        out.failed(timed_out=True)
    assert timeout.value.condition == "remote-server-timeout"
    out = DialOut(dial())
    for _ in range(2):
        out.target(gateways)
        out.failed(timed_out=False)
    out.target(gateways)
    with pytest.raises(StanzaError) as refused:
        out.failed(timed_out=False)
    assert refused.value.condition == "undefined-condition"


def test_no_gateway_left_is_service_unavailable_and_transcription_needs_a_transcriber():
    gateways = GatewayPool()
    gateways.presence(G1, stats())
    out = DialOut(dial())
    out.target(gateways)
    out.failed(timed_out=False)
    with pytest.raises(StanzaError) as none:
        out.target(gateways)
    assert none.value.condition == "service-unavailable"
    with pytest.raises(StanzaError):
        DialOut(dial(TRANSCRIBER_CALLEE)).target(gateways)


def test_without_moderator_checks_anyone_may_dial():
    check_dial(dial(), ROOM, moderator=False, transcriber_present=False, moderator_checks=False)
    with pytest.raises(StanzaError):
        check_dial(dial(room="other@muc.meet.jitsi"), ROOM, moderator=False, transcriber_present=False,
                   moderator_checks=False)


def test_the_room_metadata_invites_one_transcriber_until_one_is_in():
    invite = TranscriberInvite(window=60)
    assert not invite.should_dial(requested=False, present=False, now=0)
    assert invite.should_dial(requested=True, present=False, now=1)
    # on its way: another push of the metadata, or a member's dial (refused with conflict), waits
    assert invite.under_way(2) and not invite.should_dial(requested=True, present=False, now=2)
    invite.dialing(5)  # the gateway answered: now it joins
    assert invite.under_way(64) and not invite.under_way(65)
    invite.done()  # in the room
    assert not invite.should_dial(requested=True, present=True, now=10)
    # once it has left, the metadata asking again invites at once
    assert invite.should_dial(requested=True, present=False, now=20)


def test_an_invitation_that_fails_or_never_arrives_lets_the_next_request_invite():
    invite = TranscriberInvite(window=60)
    assert invite.should_dial(requested=True, present=False, now=0)
    invite.done()  # no gateway took it
    assert invite.should_dial(requested=True, present=False, now=1)
    assert not invite.should_dial(requested=True, present=False, now=60)
    assert invite.should_dial(requested=True, present=False, now=61)  # it never joined
