"""client_proxy on ``focus.<XMPP_DOMAIN>``: the conference request's way to the focus's real JID.

Requests (IQ get/set) from anyone are forwarded to an available resource of the focus account
with ``from = focus.<domain>/<requester's full JID>``; the focus's result or error to that
address goes back to the requester from ``focus.<domain>``. The proxy learns the focus's
resources from the presence the server delivers to it: it subscribes to the account when it
knows no resource (the server then sends the current presence and every change); while none is
known it answers ``service-unavailable``, which clients retry.

Each conference request is announced to the MUC host of its room (``on_request``) before it goes
on: the host lets joins to that room wait for the focus instead of refusing them while the focus
has not created it yet (``restrict_room_creation``).

Gates (the reservations module) may check a conference request before it is forwarded; they are
coroutines, so a gated request is forwarded from a task.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable
from xml.etree.ElementTree import Element

from ...common import jid as jids
from ...common.errors import StanzaError
from ...common.ns import JITSI_FOCUS as FOCUS
from ...settings import Settings
from ..component import Host, Origin, refuse
from ..muc.dispatch import ANY, KINDS, Address, HandlerTable, Request, ignore
from ..muc.stanza import stanza
from ..muc.tenants import TenantMap
from . import RoomContext

Gate = Callable[[Element, Element, "Origin | None"], Awaitable[None]]  # (iq, conference, origin)


def enabled(settings: Settings) -> bool:
    return True


class ClientProxy:
    disco_type = None

    def __init__(self, domain: str, target: str, host: Host, tenants: TenantMap | None = None) -> None:
        self.domain = domain
        self.target = target  # bare JID of the focus account
        self.host = host
        self.tenants = tenants  # the focus sees tenant rooms in their internal form
        self.resources: list[str] = []  # full JIDs, most recently available last
        self.gates: list[Gate] = []
        self.on_request: Callable[[str], None] | None = None  # a conference was asked for this room
        self._tasks: set[asyncio.Task] = set()
        self.handlers = HandlerTable()
        for kind, type_, handler in (
            ("presence", ANY, lambda request: self._presence(request.stanza)),
            ("iq", ANY, lambda request: self._iq(request.stanza, request.origin)),
            ("message", ANY, self._message),
            ("message", "error", ignore),
        ):
            self.handlers.register(Address.DOMAIN, kind, type_, ANY, handler)

    def receive(self, element: Element, origin: Origin | None) -> None:
        kind = KINDS.get(element.tag)
        if kind is None:
            return
        try:
            self.handlers.dispatch(Address.DOMAIN, kind, Request(element, origin))
        except StanzaError as error:
            refuse(self.host, element, error)

    @staticmethod
    def _message(request: Request) -> None:
        raise StanzaError("cancel", "feature-not-implemented")

    def session_closed(self, full_jid: str) -> None:
        if full_jid in self.resources:
            self.resources.remove(full_jid)

    def _presence(self, pres: Element) -> None:
        sender = pres.get("from", "")
        type_ = pres.get("type")
        if jids.bare(sender) != self.target:
            if type_ is None:
                raise StanzaError("modify", "bad-request", "Presence to the focus proxy means nothing")
            return
        if sender in self.resources:
            self.resources.remove(sender)
        if type_ is None:
            self.resources.append(sender)

    def _iq(self, iq: Element, origin: Origin | None) -> None:
        sender = iq.get("from", "")
        type_ = iq.get("type")
        if jids.bare(sender) == self.target:
            requester = jids.split(iq.get("to", ""))[2]
            if type_ in ("result", "error") and requester:
                out = Element(iq.tag, iq.attrib)
                out.set("from", self.domain)
                out.set("to", requester)
                out.extend(self._rooms_mapped(iq, internal=False))
                self.host.send(out)
            elif type_ in ("get", "set"):
                raise StanzaError("cancel", "service-unavailable", "The focus may only answer through the proxy")
            return
        if type_ not in ("get", "set"):
            return
        conference = iq.find(f"{{{FOCUS}}}conference")
        if conference is not None and conference.get("room") and self.on_request is not None and self.resources:
            self.on_request(conference.get("room", ""))
        if conference is not None and self.gates:
            task = asyncio.get_running_loop().create_task(self._gated(iq, conference, origin))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        self._forward(iq)

    async def _gated(self, iq: Element, conference: Element, origin: Origin | None) -> None:
        try:
            for gate in self.gates:
                await gate(iq, conference, origin)
            self._forward(iq)
        except StanzaError as error:
            refuse(self.host, iq, error)

    def _forward(self, iq: Element) -> None:
        if not self.resources:
            self.host.send(stanza("presence", self.domain, self.target, "subscribe"))
        if not self.resources:
            raise StanzaError("cancel", "service-unavailable", "The focus is not connected")
        out = Element(iq.tag, iq.attrib)
        out.set("from", f"{self.domain}/{iq.get('from', '')}")
        out.set("to", self.resources[-1])
        out.extend(self._rooms_mapped(iq, internal=True))
        self.host.send(out)

    def _rooms_mapped(self, iq: Element, internal: bool) -> list[Element]:
        """The IQ's children, a ``<conference room=...>`` with its room in the other form."""
        children = list(iq)
        if self.tenants is None:
            return children
        for index, child in enumerate(children):
            room = child.get("room") if child.tag == f"{{{FOCUS}}}conference" else None
            if room:
                mapped = self.tenants.to_internal(room) if internal else self.tenants.to_external(room)
                if mapped != room:
                    copy = Element(child.tag, child.attrib)
                    copy.set("room", mapped)
                    copy.extend(child)
                    children[index] = copy
        return children


def attach(ctx: RoomContext) -> ClientProxy:
    d = ctx.settings.common.domains
    proxy = ClientProxy(d.focus_component, f"focus@{d.auth}", ctx.host, ctx.conference.tenants)

    def requested(room: str) -> None:
        try:
            node, domain, _ = jids.split(ctx.internal_jid(room).lower())
        except jids.JidError:
            return  # the focus answers a malformed room itself
        for service in ctx.rooms_services():
            if node and service.domain == domain:
                service.focus_requested(f"{node}@{domain}")

    proxy.on_request = requested
    ctx.components.append(proxy)
    ctx.extensions["client_proxy"] = proxy
    return proxy
