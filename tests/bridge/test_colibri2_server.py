"""Colibri2 server rules of the real bridge (docs/colibri2.md §3, §5), without XMPP."""

import pytest

from jitsi_py.bridge.colibri2 import Colibri2Failure, handle
from jitsi_py.common.stanzas import colibri2 as c2

TRANSPORT = c2.Transport(ice_controlling=True)


def create(bridge, meeting="m", *endpoints, conference=True):
    return handle(bridge, c2.ConferenceModify(meeting, name="r@muc.meet.jitsi" if conference else None,
                                              create=conference, endpoints=list(endpoints)), 0.0)


def new(endpoint_id, **kw):
    kw.setdefault("transport", TRANSPORT)
    kw.setdefault("capabilities", ["source-names"])
    return c2.Endpoint(endpoint_id, create=True, **kw)


def failure(bridge, request):
    with pytest.raises(Colibri2Failure) as caught:
        handle(bridge, request, 0.0)
    return caught.value.condition, caught.value.reason, caught.value.text


async def test_endpoint_creation_rules(bridge):
    create(bridge, "m", new("a"))
    assert failure(bridge, c2.ConferenceModify("m", endpoints=[new("a")]))[:2] == ("conflict", None)
    assert failure(bridge, c2.ConferenceModify("m", endpoints=[new("b", transport=None)]))[0] == "bad-request"
    assert failure(bridge, c2.ConferenceModify("m", endpoints=[new("b", capabilities=[])]))[2] == \
        "Source name support is mandatory."
    assert failure(bridge, c2.ConferenceModify("m", endpoints=[new("b", transport=c2.Transport(
        sctp=c2.Sctp(5001)))]))[0] == "bad-request"
    assert failure(bridge, c2.ConferenceModify("m", endpoints=[new("b", transport=c2.Transport(
        sctp=c2.Sctp(role="client")))]))[:2] == ("feature-not-implemented", "feature_not_implemented")
    assert failure(bridge, c2.ConferenceModify("m", endpoints=[new("b"), new("c")]))[0] == "feature-not-implemented"
    assert failure(bridge, c2.ConferenceModify("m", relays=[c2.Relay("r1", create=True)]))[0] == \
        "feature-not-implemented"
    assert failure(bridge, c2.ConferenceModify("x", name="not a jid", create=True))[2] == \
        "Invalid conference name (not a JID)"


async def test_visitors_force_mute_bulk_expire_and_auto_expire(bridge):
    create(bridge, "m", new("a"))
    handle(bridge, c2.ConferenceModify("m", endpoints=[new("v", muc_role="visitor")]), 0.0)
    assert failure(bridge, c2.ConferenceModify("m", endpoints=[c2.Endpoint("v", sources=[])]))[2] == \
        "Sources are not allowed for visitors"
    answer = handle(bridge, c2.ConferenceModify("m", endpoints=[
        c2.Endpoint("a", force_mute=c2.ForceMute(audio=True)),
        c2.Endpoint("ghost", force_mute=c2.ForceMute(True))]), 0.0)
    assert [e.id for e in answer.endpoints] == ["a"]  # unknown ids are ignored in bulk requests
    assert bridge.conferences["m"].forwarder.muted["a"] == (True, False)
    answer = handle(bridge, c2.ConferenceModify("m", endpoints=[c2.Endpoint("a", expire=True),
                                                                 c2.Endpoint("v", expire=True)]), 0.0)
    assert [(e.id, e.expire) for e in answer.endpoints] == [("a", True), ("v", True)]
    assert "m" not in bridge.conferences  # no endpoint left: the conference expired with them


async def test_answers_and_graceful_shutdown(bridge):
    answer = create(bridge, "m", new("a", transport=c2.Transport(ice_controlling=True, sctp=c2.Sctp())))
    endpoint = answer.endpoint("a")
    assert endpoint.transport.sctp == c2.Sctp(5000, "server")
    assert endpoint.transport.ice.fingerprints[0].setup == "actpass"
    assert [s.id for s in answer.sources] == ["jvb-a0", "jvb-v0"]
    update = handle(bridge, c2.ConferenceModify("m", endpoints=[c2.Endpoint("a", sources=[])]), 0.0)
    assert update.endpoint("a").transport is None and update.sources is None
    restart = handle(bridge, c2.ConferenceModify("m", endpoints=[c2.Endpoint("a", transport=c2.Transport(
        ice_restart=True))]), 0.0)
    assert restart.endpoint("a").transport.ice.ufrag == endpoint.transport.ice.ufrag
    bridge.graceful_shutdown = True
    assert failure(bridge, c2.ConferenceModify("n", create=True))[:2] == ("service-unavailable",
                                                                         "graceful_shutdown")
    handle(bridge, c2.ConferenceModify("m", expire=True), 0.0)
    assert failure(bridge, c2.ConferenceModify("m", endpoints=[c2.Endpoint("a")]))[1] == "conference_not_found"
