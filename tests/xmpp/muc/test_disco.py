"""Service discovery of MUC rooms."""

from jitsi_py.common.ns import DISCO_INFO

from .harness import ROOM, error_condition, focus_joins, join, origin, q, xml


def test_room_disco_only_for_occupants(muc, host):
    focus_joins(muc)
    join(muc, "alice@meet.jitsi/a", "aa11")
    host.clear()
    muc.receive(xml(f'<iq type="get" id="d" from="alice@meet.jitsi/a" to="{ROOM}"><query xmlns="{DISCO_INFO}"/></iq>'),
                origin("alice@meet.jitsi/a"))
    [res] = host.take("alice@meet.jitsi/a")
    feats = {f.get("var") for f in res.iter(q("feature", DISCO_INFO))}
    assert {"muc_nonanonymous", "muc_open", "muc_unsecured"} <= feats
    muc.receive(xml(f'<iq type="get" id="d" from="eve@meet.jitsi/e" to="{ROOM}"><query xmlns="{DISCO_INFO}"/></iq>'),
                origin("eve@meet.jitsi/e"))
    assert error_condition(host.take("eve@meet.jitsi/e")[0]) == ("auth", "forbidden")
