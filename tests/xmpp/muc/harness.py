"""An in-memory Host that records what a hosted component sends, and XML helpers for the tests."""

from __future__ import annotations

from xml.etree.ElementTree import Element, fromstring, tostring

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
