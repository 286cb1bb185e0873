"""Occupants of the room from their presence, as the meeting client reports them."""

from __future__ import annotations

import json
from xml.etree.ElementTree import Element, SubElement

from jitsi_py.common import ns
from jitsi_py.common.meeting import events
from jitsi_py.common.meeting.roster import Roster

EP = "a1a1a1a1"


def presence(name="Alice", jid="u1@meet.jitsi/r", role="participant", source_info=None, features=(), codes=(),
             audiomuted=None) -> Element:
    p = Element(ns.tag(ns.CLIENT, "presence"))
    x = SubElement(p, ns.tag(ns.MUC_USER, "x"))
    SubElement(x, ns.tag(ns.MUC_USER, "item"), jid=jid, role=role, affiliation="none")
    for code in codes:
        SubElement(x, ns.tag(ns.MUC_USER, "status"), code=code)
    if name:
        SubElement(p, ns.tag(ns.NICK, "nick")).text = name
    if features:
        f = SubElement(p, ns.tag(ns.CLIENT, "features"))
        for var in features:
            SubElement(f, ns.tag(ns.CLIENT, "feature"), var=var)
    if source_info is not None:
        SubElement(p, ns.tag(ns.CLIENT, "SourceInfo")).text = json.dumps(source_info)
    if audiomuted is not None:
        SubElement(p, ns.tag(ns.CLIENT, "audiomuted")).text = audiomuted
    return p


def test_join_change_mute_and_leave():
    roster = Roster("hidden.meet.jitsi")
    info = {f"{EP}-a0": {"muted": False}, f"{EP}-v0": {"muted": True, "videoType": "camera"}}
    assert roster.available(EP, presence(source_info=info, features=("f1",))) == [
        events.ParticipantJoined(EP, "Alice", "u1@meet.jitsi/r", ("f1",), False, "participant"),
        events.SourceMuted(EP, f"{EP}-v0", True)]
    assert roster.video_type(EP, f"{EP}-v0") == "camera"
    assert roster.available(EP, presence(source_info=info, features=("f1",))) == []  # nothing changed
    info[f"{EP}-a0"]["muted"] = True
    assert roster.available(EP, presence(name="Alicia", role="moderator", source_info=info, features=("f1",))) == [
        events.ParticipantChanged(EP, "Alicia", "u1@meet.jitsi/r", ("f1",), False, "moderator"),
        events.SourceMuted(EP, f"{EP}-a0", True)]
    assert roster.unavailable(EP, presence(codes=("307",))) == [events.ParticipantLeft(EP, kicked=True)]
    assert roster.unavailable(EP, presence()) == [] and roster.participants == {}


def test_hidden_domain_old_mute_elements_and_a_bad_source_info():
    roster = Roster("hidden.meet.jitsi")
    bad = presence(jid="recorder@hidden.meet.jitsi/x", audiomuted="true")
    SubElement(bad, ns.tag(ns.CLIENT, "SourceInfo")).text = "{not json"
    joined, muted = roster.available("r1r1r1r1", bad)
    assert joined.hidden and muted == events.SourceMuted("r1r1r1r1", "r1r1r1r1-a0", True)


def test_the_transcription_request_is_kept_without_an_event():
    roster = Roster("hidden.meet.jitsi")
    roster.available(EP, presence())
    assert roster.participants[EP].requesting_transcription is False
    asking = presence()
    SubElement(asking, ns.tag(ns.CLIENT, "jitsi_participant_requestingTranscription")).text = "true"
    assert roster.available(EP, asking) == []  # a transcriber looks at it; nobody else cares
    assert roster.participants[EP].requesting_transcription is True
    stopped = presence()
    SubElement(stopped, ns.tag(ns.CLIENT, "jitsi_participant_requestingTranscription")).text = "false"
    roster.available(EP, stopped)
    assert roster.participants[EP].requesting_transcription is False
