"""What a room relays: groupchat, private messages, IQs between occupants, self-pings."""

from jitsi_py.common.ns import DISCO_INFO

from .harness import FOCUS, ROOM, error_condition, focus_joins, join, origin, q, xml


def test_iq_forwarded_between_occupants_and_reply_routed_back(muc, host):
    focus_joins(muc)
    join(muc, "alice@meet.jitsi/a", "aa11")
    host.clear()
    muc.receive(xml(f'<iq type="set" id="j1" from="{FOCUS}" to="{ROOM}/aa11"><jingle xmlns="urn:xmpp:jingle:1" '
                    f'action="session-initiate" sid="s1"/></iq>'), origin(FOCUS, service=True))
    [fwd] = host.take("alice@meet.jitsi/a")
    assert fwd.get("from") == f"{ROOM}/focus" and fwd.get("id") == "j1" and fwd.get("type") == "set"
    assert fwd.find("{urn:xmpp:jingle:1}jingle").get("sid") == "s1"
    muc.receive(xml(f'<iq type="result" id="j1" from="alice@meet.jitsi/a" to="{ROOM}/focus"/>'),
                origin("alice@meet.jitsi/a"))
    [back] = host.take(FOCUS)
    assert back.get("from") == f"{ROOM}/aa11" and back.get("id") == "j1" and back.get("type") == "result"


def test_iq_to_missing_occupant_and_from_non_occupant(muc, host):
    focus_joins(muc)
    host.clear()
    muc.receive(xml(f'<iq type="get" id="q" from="{FOCUS}" to="{ROOM}/ghost"><query xmlns="{DISCO_INFO}"/></iq>'),
                origin(FOCUS, service=True))
    [err] = host.take(FOCUS)
    assert error_condition(err) == ("cancel", "item-not-found")
    assert err.get("from") == f"{ROOM}/ghost" and err.get("id") == "q"
    muc.receive(xml(f'<iq type="get" id="q2" from="eve@meet.jitsi/e" to="{ROOM}/focus">'
                    '<ping xmlns="urn:xmpp:ping"/></iq>'),
                origin("eve@meet.jitsi/e"))
    [err] = host.take("eve@meet.jitsi/e")
    assert error_condition(err) == ("modify", "not-acceptable")


def test_groupchat_and_private_messages(muc, host):
    focus_joins(muc)
    join(muc, "alice@meet.jitsi/a", "aa11")
    join(muc, "bob@meet.jitsi/b", "bb22")
    host.clear()
    muc.receive(xml(f'<message type="groupchat" id="m" from="alice@meet.jitsi/a" to="{ROOM}"><body>hi</body>'
                    f'<nick xmlns="http://jabber.org/protocol/nick">A</nick></message>'), origin("alice@meet.jitsi/a"))
    [to_bob] = host.take("bob@meet.jitsi/b")
    assert to_bob.get("from") == f"{ROOM}/aa11" and to_bob.findtext(q("body")) == "hi"
    assert to_bob.find("{http://jabber.org/protocol/nick}nick") is None
    assert len(host.take("alice@meet.jitsi/a")) == 1
    host.clear()
    muc.receive(xml(f'<message type="chat" from="alice@meet.jitsi/a" to="{ROOM}/bb22"><body>psst</body></message>'),
                origin("alice@meet.jitsi/a"))
    [pm] = host.take("bob@meet.jitsi/b")
    assert pm.get("from") == f"{ROOM}/aa11" and pm.findtext(q("body")) == "psst"
    muc.receive(xml(f'<message type="groupchat" from="eve@meet.jitsi/e" to="{ROOM}"><body>x</body></message>'),
                origin("eve@meet.jitsi/e"))
    assert error_condition(host.take("eve@meet.jitsi/e")[0]) == ("modify", "not-acceptable")


def test_self_ping_answered_by_the_room(muc, host):
    focus_joins(muc)
    join(muc, "alice@meet.jitsi/a", "aa11")
    host.clear()
    muc.receive(xml(f'<iq type="get" id="sp" from="alice@meet.jitsi/a" to="{ROOM}/aa11">'
                    '<ping xmlns="urn:xmpp:ping"/></iq>'),
                origin("alice@meet.jitsi/a"))
    [reply] = host.take("alice@meet.jitsi/a")
    assert reply.get("type") == "result" and reply.get("from") == f"{ROOM}/aa11" and reply.get("id") == "sp"
