"""Tenants: clients address room@muc.<tenant>.<domain>, the focus [tenant]room@muc.<domain>."""

from jitsi_py.xmpp.muc.service import MucOptions, MucService
from jitsi_py.xmpp.muc.tenants import TenantMap

from .harness import RecordingHost, origin, q, xml

FOCUS = "focus@auth.meet.jitsi/f"
ALICE = "alice@meet.jitsi/a"


def test_tenant_map_round_trip():
    m = TenantMap("muc.meet.jitsi")
    assert m.to_internal("standup@muc.acme.meet.jitsi/aa11") == "[acme]standup@muc.meet.jitsi/aa11"
    assert m.to_internal("standup@muc.acme.meet.jitsi") == "[acme]standup@muc.meet.jitsi"
    assert m.to_external("[acme]standup@muc.meet.jitsi/aa11") == "standup@muc.acme.meet.jitsi/aa11"
    for untouched in ("standup@muc.meet.jitsi/x", "standup@muc.a.b.meet.jitsi", "x@other.org",
                      "[acme]standup@lobby.meet.jitsi"):
        assert m.to_internal(untouched) == untouched and m.to_external(untouched) == untouched
    assert m.tenant_of("muc.acme.meet.jitsi") == "acme" and m.tenant_of("muc.meet.jitsi") is None


def test_tenant_room_seen_in_each_side_form():
    host = RecordingHost()
    muc = MucService(MucOptions(domain="muc.meet.jitsi", focus_jid="focus@auth.meet.jitsi", wait_for_focus=True,
                                tenants=True), host)
    assert muc.accepts("muc.acme.meet.jitsi") and not muc.accepts("muc.meet.jitsi.evil")
    host.origins = {FOCUS: origin(FOCUS, service=True), ALICE: origin(ALICE)}
    muc.receive(xml(f'<presence from="{ALICE}" to="standup@muc.acme.meet.jitsi/aa11"/>'), host.origins[ALICE])
    muc.receive(xml(f'<presence from="{FOCUS}" to="[acme]standup@muc.meet.jitsi/focus"/>'), host.origins[FOCUS])
    assert "[acme]standup@muc.meet.jitsi" in muc.rooms
    to_alice = [el.get("from") for el in host.take(ALICE) if el.tag == q("presence")]
    assert to_alice == ["standup@muc.acme.meet.jitsi/focus", "standup@muc.acme.meet.jitsi/aa11"]
    to_focus = {el.get("from") for el in host.take(FOCUS)}
    assert to_focus == {"[acme]standup@muc.meet.jitsi/focus", "[acme]standup@muc.meet.jitsi/aa11",
                        "[acme]standup@muc.meet.jitsi"}


def test_a_client_back_through_the_internal_address_gets_that_form():
    host = RecordingHost()
    muc = MucService(MucOptions(domain="muc.meet.jitsi", focus_jid="focus@auth.meet.jitsi", tenants=True), host)
    muc.receive(xml(f'<presence from="{FOCUS}" to="[acme]standup@muc.meet.jitsi/focus"/>'), origin(FOCUS, service=True))
    muc.receive(xml(f'<presence from="{ALICE}" to="standup@muc.acme.meet.jitsi/aa11"/>'), origin(ALICE))
    muc.receive(xml(f'<presence type="unavailable" from="{ALICE}" to="standup@muc.acme.meet.jitsi/aa11"/>'),
                origin(ALICE))
    host.clear()
    # e.g. back from a breakout room, whose update named the main room by its internal JID
    muc.receive(xml(f'<presence from="{ALICE}" to="[acme]standup@muc.meet.jitsi/aa11"/>'), origin(ALICE))
    froms = {el.get("from") for el in host.take(ALICE) if el.tag == q("presence")}
    assert froms == {"[acme]standup@muc.meet.jitsi/focus", "[acme]standup@muc.meet.jitsi/aa11"}
    muc.session_closed(ALICE)
    assert not muc.host._external


# --- upstream parity: tenant names with "_" (config.js writes tenant "Team.One" as muc.team_one.<domain>)

def test_a_tenant_with_underscores_is_served_like_any_other():
    m = TenantMap("muc.meet.jitsi")
    assert m.tenant_of("muc.team_one.meet.jitsi") == "team_one"
    assert m.to_internal("standup@muc.team_one.meet.jitsi/aa11") == "[team_one]standup@muc.meet.jitsi/aa11"
    assert m.to_external("[team_one]standup@muc.meet.jitsi/aa11") == "standup@muc.team_one.meet.jitsi/aa11"
    host = RecordingHost()
    muc = MucService(MucOptions(domain="muc.meet.jitsi", focus_jid="focus@auth.meet.jitsi", wait_for_focus=True,
                                validate_nick=True, tenants=True), host)
    assert muc.accepts("muc.team_one.meet.jitsi") and muc.accepts("muc._a.meet.jitsi")
    host.origins = {FOCUS: origin(FOCUS, service=True), ALICE: origin(ALICE)}
    muc.receive(xml(f'<presence from="{FOCUS}" to="[team_one]standup@muc.meet.jitsi/focus"/>'), host.origins[FOCUS])
    muc.receive(xml(f'<presence from="{ALICE}" to="standup@muc.team_one.meet.jitsi/aa11"/>'), host.origins[ALICE])
    assert set(muc.rooms["[team_one]standup@muc.meet.jitsi"].occupants) == {"focus", "aa11"}
    assert {el.get("from") for el in host.take(ALICE) if el.tag == q("presence")} == {
        "standup@muc.team_one.meet.jitsi/focus", "standup@muc.team_one.meet.jitsi/aa11"}
