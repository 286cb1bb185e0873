"""Moderation (muc#admin) on the sans-I/O MUC service."""

from jitsi_py.common.ns import MUC_USER

from .harness import FOCUS, ROOM, admin_iq, codes, error_condition, focus_joins, item, join, q


def test_focus_grants_owner_then_moderator_kicks(muc, host):
    focus_joins(muc)
    join(muc, "alice@meet.jitsi/a", "aa11")
    join(muc, "bob@meet.jitsi/b", "bb22")
    host.clear()
    admin_iq(muc, FOCUS, '<item affiliation="owner" jid="alice@meet.jitsi"/>', service=True)
    alice = host.take("alice@meet.jitsi/a")
    own = [p for p in alice if p.tag == q("presence")][0]
    assert item(own).get("role") == "moderator" and "110" in codes(own)
    bob_view = [p for p in host.take("bob@meet.jitsi/b") if p.get("from") == f"{ROOM}/aa11"][0]
    assert item(bob_view).attrib["affiliation"] == "owner"
    host.clear()
    # bob (participant) may not kick
    admin_iq(muc, "bob@meet.jitsi/b", '<item nick="aa11" role="none"/>')
    assert error_condition(host.take("bob@meet.jitsi/b")[0]) == ("auth", "forbidden")
    admin_iq(muc, "alice@meet.jitsi/a", '<item nick="bb22" role="none"><reason>bye</reason></item>')
    bob = host.take("bob@meet.jitsi/b")
    assert bob[0].get("type") == "unavailable" and codes(bob[0]) == {"307", "110"}
    assert bob[0].find(f".//{q('reason', MUC_USER)}").text == "bye"
    others = [p for p in host.take("alice@meet.jitsi/a") if p.tag == q("presence")]
    assert others and codes(others[0]) == {"307"}
    assert "bb22" not in muc.rooms[ROOM].occupants


def test_moderator_cannot_kick_focus_and_multiple_items(muc, host):
    focus_joins(muc)
    join(muc, "alice@meet.jitsi/a", "aa11")
    join(muc, "bob@meet.jitsi/b", "bb22")
    admin_iq(muc, FOCUS, '<item affiliation="owner" jid="alice@meet.jitsi"/>', service=True)
    host.clear()
    admin_iq(muc, "alice@meet.jitsi/a", '<item nick="focus" role="none"/>')
    assert error_condition(host.take("alice@meet.jitsi/a")[0]) == ("cancel", "not-allowed")
    admin_iq(muc, "alice@meet.jitsi/a",
             '<item affiliation="member" jid="bob@meet.jitsi"/><item affiliation="member" jid="carol@meet.jitsi"/>')
    assert muc.rooms[ROOM].affiliation("bob@meet.jitsi") == "member"
    assert muc.rooms[ROOM].affiliation("carol@meet.jitsi") == "member"
