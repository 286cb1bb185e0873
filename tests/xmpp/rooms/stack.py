"""Every component build_components returns, on a recording host, with a tiny router for tests."""

from __future__ import annotations

import json

from jitsi_py.common.ns import JITSI_MEET as JITMEET, MUC_USER
from jitsi_py.settings import Settings
from jitsi_py.xmpp.muc import build_components

from ..muc.harness import RecordingHost, origin, q, xml

FOCUS = "focus@auth.meet.jitsi/focus1"
MUC = "muc.meet.jitsi"
ROOM = f"standup@{MUC}"


class Stack:
    def __init__(self, env: dict | None = None) -> None:
        self.host = RecordingHost()
        self.settings = Settings.from_values(env or {})
        self.now = 1_000_000.0  # the MUC hosts' clock: time moves only by advance()
        self.components = {c.domain: c for c in build_components(self.settings, self.host, lambda: self.now)}
        self.origins = {}

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass and fire every timer due, as the router's event-loop timers would."""
        self.now += seconds
        timed = [c for c in self.components.values() if hasattr(c, "handle_timer")]
        while due := [c for c in timed if (d := c.deadline()) is not None and d <= self.now]:
            for component in due:
                component.handle_timer(self.now)

    def origin(self, jid: str, **kwargs):
        if jid not in self.origins or kwargs:
            self.origins[jid] = origin(jid, **kwargs)
        return self.origins[jid]

    def send(self, jid: str, text: str) -> None:
        el = xml(text)
        el.set("from", jid)
        domain = el.get("to").split("/", 1)[0].split("@")[-1]
        component = self.components.get(domain) or next(
            c for c in self.components.values() if getattr(c, "accepts", None) and c.accepts(domain))
        component.receive(el, self.origins.get(jid) or self.origin(jid))

    def join(self, jid: str, nick: str, room: str = ROOM, children: str = "", password: str | None = None) -> None:
        pw = f"<password>{password}</password>" if password is not None else ""
        self.send(jid, f'<presence to="{room}/{nick}"><x xmlns="http://jabber.org/protocol/muc">{pw}</x>'
                       f'{children}</presence>')

    def focus_joins(self, room: str = ROOM) -> None:
        self.origin(FOCUS, service=True)
        self.join(FOCUS, "focus", room)

    def grant_owner(self, bare: str, room: str = ROOM) -> None:
        self.send(FOCUS, f'<iq type="set" id="g" to="{room}"><query xmlns="http://jabber.org/protocol/muc#admin">'
                         f'<item affiliation="owner" jid="{bare}"/></query></iq>')

    def take(self, to: str | None = None):
        return self.host.take(to)

    def json_from(self, to: str, sender: str) -> list[dict]:
        """JSON payloads of json-messages ``to`` got from ``sender`` (taken from the record)."""
        out, keep = [], []
        for dest, el in self.host.sent:
            jm = el.find(q("json-message", JITMEET))
            if dest == to and el.get("from") == sender and jm is not None:
                out.append(json.loads(jm.text))
            else:
                keep.append((dest, el))
        self.host.sent = keep
        return out


def presences(stanzas, type_=None):
    return [s for s in stanzas if s.tag == q("presence") and s.get("type") == type_]


def error_of(el):
    err = el.find(q("error"))
    assert err is not None, el
    cond = [c.tag.split("}")[1] for c in err if c.tag.startswith("{urn:ietf:params:xml:ns:xmpp-stanzas}")
            and not c.tag.endswith("}text")][0]
    return err.get("type"), cond


def item(pres):
    return pres.find(f"{q('x', MUC_USER)}/{q('item', MUC_USER)}")
