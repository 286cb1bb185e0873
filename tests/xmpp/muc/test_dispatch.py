"""The MUC's handler table: the most specific row answers, an unknown request is refused once."""

import pytest

from jitsi_py.common.errors import StanzaError
from jitsi_py.common.ns import DISCO_INFO, PING
from jitsi_py.xmpp.muc.dispatch import ANY, Address, HandlerTable, Request
from jitsi_py.xmpp.muc.service import MucOptions, MucService

from .harness import MUC, RecordingHost, error_condition, origin, q, xml


def table_with(*rows):
    table = HandlerTable()
    calls = []
    for address, kind, type_, tag, name in rows:
        table.register(address, kind, type_, tag, lambda request, name=name: calls.append(name))
    return table, calls


def test_a_payload_row_wins_over_any_and_an_exact_type_over_any():
    table, calls = table_with(
        (Address.ROOM, "message", ANY, ANY, "any"),
        (Address.ROOM, "message", "groupchat", ANY, "groupchat"),
        (Address.ROOM, "message", ANY, "{urn:x}cmd", "cmd"),
    )
    for stanza in ('<message type="chat"/>', '<message type="groupchat"><body/></message>',
                   '<message type="groupchat"><body/><cmd xmlns="urn:x"/></message>'):
        table.dispatch(Address.ROOM, "message", Request(xml(stanza), None))
    assert calls == ["any", "groupchat", "cmd"]


def test_an_iq_is_keyed_by_its_one_payload_and_unknown_requests_get_service_unavailable():
    table, calls = table_with((Address.DOMAIN, "iq", "get", f"{{{PING}}}ping", "ping"))
    table.dispatch(Address.DOMAIN, "iq", Request(xml(f'<iq type="get"><ping xmlns="{PING}"/></iq>'), None))
    assert calls == ["ping"]
    for request in (f'<iq type="set"><ping xmlns="{PING}"/></iq>', '<iq type="get"/>',
                    f'<iq type="get"><query xmlns="{DISCO_INFO}"/><ping xmlns="{PING}"/></iq>'):
        with pytest.raises(StanzaError) as refused:
            table.dispatch(Address.DOMAIN, "iq", Request(xml(request), None))
        assert refused.value.condition == "service-unavailable"
    table.dispatch(Address.DOMAIN, "iq", Request(xml('<iq type="result"/>'), None))  # dropped
    table.dispatch(Address.ROOM, "iq", Request(xml(f'<iq type="result"><ping xmlns="{PING}"/></iq>'), None))
    assert calls == ["ping"]


def test_a_row_is_registered_once_and_kinds_are_checked():
    table, _ = table_with((Address.DOMAIN, "iq", "get", ANY, "first"))
    with pytest.raises(ValueError, match="already has a handler"):
        table.register(Address.DOMAIN, "iq", "get", ANY, lambda request: None)
    with pytest.raises(ValueError, match="unknown stanza kind"):
        table.register(Address.DOMAIN, "mesage", None, ANY, lambda request: None)


def test_a_room_module_row_answers_on_the_service_domain():
    host = RecordingHost()
    muc = MucService(MucOptions(domain=MUC, focus_jid="focus@auth.meet.jitsi"), host)
    seen = []
    muc.handlers.register(Address.DOMAIN, "message", ANY, "{jabber:client}command", seen.append)
    sender = "a@meet.jitsi/r"
    muc.receive(xml(f'<message from="{sender}" to="{MUC}"><command/></message>'), origin(sender))
    assert [r.stanza.get("from") for r in seen] == [sender] and not host.take()
    muc.receive(xml(f'<message from="{sender}" to="{MUC}"><other/></message>'), origin(sender))
    [refused] = host.take(sender)
    assert refused.tag == q("message") and error_condition(refused) == ("cancel", "service-unavailable")
