"""An in-memory Host that records what a hosted component sends, XML helpers, and the MUC under test's
stanzas (joins, muc#admin and muc#owner requests) and readers of its answers."""

from __future__ import annotations

from xml.etree.ElementTree import Element, fromstring, tostring

from jitsi_py.common.ns import MUC_ADMIN, MUC_OWNER, MUC_USER, STANZA_ERRORS as STANZAS
from jitsi_py.xmpp.component import Origin

CLIENT = "jabber:client"


def xml(text: str) -> Element:
    """Parse a stanza written without xmlns into the server's form (jabber:client on top)."""
    root = fromstring(f'<wrap xmlns="{CLIENT}">{text}</wrap>')
    return root[0]


def origin(jid: str, *, service: bool = False, query: dict | None = None, claims: dict | None = None,
           anonymous: bool = True) -> Origin:
    domain = jid.split("@", 1)[-1].split("/", 1)[0]
    return Origin(jid=jid, domain=domain, transport="tcp", anonymous=anonymous, query=query or {},
                  claims=claims, service_account=service)


class RecordingHost:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Element]] = []
        self.send_many_calls = 0
        self.origins: dict[str, Origin] = {}

    def send(self, stanza: Element) -> None:
        self.sent.append((stanza.get("to", ""), stanza))

    def send_many(self, stanza: Element, recipients: list[str]) -> None:
        self.send_many_calls += 1
        for to in recipients:
            self.sent.append((to, stanza))

    def origin_of(self, full_jid: str) -> Origin | None:
        return self.origins.get(full_jid)

    def take(self, to: str | None = None) -> list[Element]:
        """Stanzas sent (to ``to``, or all), removed from the record."""
        taken = [el for dest, el in self.sent if to is None or dest == to]
        self.sent = [(dest, el) for dest, el in self.sent if not (to is None or dest == to)]
        return taken

    def clear(self) -> None:
        self.sent.clear()


def text(el: Element) -> str:
    return tostring(el, encoding="unicode")


def q(tag: str, ns: str = CLIENT) -> str:
    return f"{{{ns}}}{tag}"


MUC = "muc.meet.jitsi"
ROOM = f"standup@{MUC}"
FOCUS = "focus@auth.meet.jitsi/focus1"


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def join(muc, jid, nick, room=ROOM, children="", service=False, query=None, claims=None):
    muc.receive(xml(f'<presence from="{jid}" to="{room}/{nick}"><x xmlns="http://jabber.org/protocol/muc"/>'
                    f'{children}</presence>'), origin(jid, service=service, query=query, claims=claims))


def focus_joins(muc, room=ROOM):
    join(muc, FOCUS, "focus", room, service=True)


def item(pres):
    return pres.find(f"{q('x', MUC_USER)}/{q('item', MUC_USER)}")


def codes(pres):
    return {s.get("code") for s in pres.iter(q("status", MUC_USER))}


def error_condition(el):
    err = el.find(q("error"))
    assert err is not None, el
    conditions = [c.tag.split("}")[1] for c in err if c.tag.startswith(f"{{{STANZAS}}}") and not c.tag.endswith("text")]
    return err.get("type"), conditions[0]


def admin_iq(muc, jid, items, type_="set", room=ROOM, service=False):
    muc.receive(xml(f'<iq type="{type_}" id="ad" from="{jid}" to="{room}">'
                    f'<query xmlns="{MUC_ADMIN}">{items}</query></iq>'),
                origin(jid, service=service))


def owner_get(muc, jid, service=False):
    muc.receive(xml(f'<iq type="get" id="og" from="{jid}" to="{ROOM}"><query xmlns="{MUC_OWNER}"/></iq>'),
                origin(jid, service=service))


def owner_submit(muc, jid, fields, service=False):
    body = "".join(f'<field var="{k}"><value>{v}</value></field>' for k, v in fields.items())
    muc.receive(xml(f'<iq type="set" id="os" from="{jid}" to="{ROOM}"><query xmlns="{MUC_OWNER}">'
                    f'<x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE"><value>'
                    f'http://jabber.org/protocol/muc#roomconfig</value></field>{body}</x></query></iq>'),
                origin(jid, service=service))
