"""Tenants (ENABLE_SUBDOMAINS): ``room@muc.<tenant>.<domain>`` is ``[tenant]room@muc.<domain>`` inside.

Clients of ``https://host/<tenant>/<room>`` address the tenant form; the focus, the bridge and the
room modules only ever see the internal form. Stanzas coming in are mapped by
:meth:`TenantMap.to_internal`; what the MUC sends out goes through :class:`TenantHost`, which gives
every client that uses the tenant form the room addresses in ``from`` in that form.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from ..component import Host, Origin


class TenantMap:
    def __init__(self, muc_domain: str) -> None:
        prefix, _, base = muc_domain.partition(".")
        self.muc_domain = muc_domain
        self._head = prefix + "."  # "muc."
        self._tail = "." + base  # ".meet.jitsi"

    def tenant_of(self, domain: str) -> str | None:
        """The tenant of ``muc.<tenant>.<domain>``, else None."""
        if domain.startswith(self._head) and domain.endswith(self._tail):
            tenant = domain[len(self._head):-len(self._tail)]
            if tenant and "." not in tenant:
                return tenant
        return None

    def to_internal(self, jid: str) -> str:
        at = jid.find("@")
        if at < 0:
            return jid
        slash = jid.find("/", at)
        domain = jid[at + 1:] if slash < 0 else jid[at + 1:slash]
        tenant = self.tenant_of(domain.lower())
        if tenant is None:
            return jid
        rest = "" if slash < 0 else jid[slash:]
        return f"[{tenant}]{jid[:at]}@{self.muc_domain}{rest}"

    def to_external(self, jid: str) -> str:
        if not jid.startswith("["):
            return jid
        close, at = jid.find("]"), jid.find("@")
        if close < 0 or at < close:
            return jid
        slash = jid.find("/", at)
        domain = jid[at + 1:] if slash < 0 else jid[at + 1:slash]
        if domain != self.muc_domain:
            return jid
        rest = "" if slash < 0 else jid[slash:]
        return f"{jid[close + 1:at]}@{self._head}{jid[1:close]}{self._tail}{rest}"


class TenantHost:
    """The MUC's host, giving tenant rooms' addresses to each client in the form it uses.

    A client that addressed a tenant room in its tenant form gets that room's ``from`` addresses
    in that form; the focus (and a client that came back through the internal address a breakout
    update gave it) keeps the internal form.
    """

    def __init__(self, host: Host, tenants: TenantMap) -> None:
        self.host = host
        self.tenants = tenants
        self._external: dict[str, set[str]] = {}  # client full JID -> internal room JIDs

    def note(self, sender: str, room_jid: str, external: bool) -> None:
        """``sender`` addressed the tenant room ``room_jid`` (internal form) in tenant form or not."""
        rooms = self._external.get(sender)
        if external:
            if rooms is None:
                rooms = self._external[sender] = set()
            rooms.add(room_jid)
        elif rooms is not None:
            rooms.discard(room_jid)
            if not rooms:
                del self._external[sender]

    def forget(self, sender: str) -> None:
        self._external.pop(sender, None)

    def _wants_external(self, recipient: str, room_jid: str) -> bool:
        rooms = self._external.get(recipient)
        return rooms is not None and room_jid in rooms

    def _external_copy(self, stanza: Element) -> tuple[str, Element] | None:
        sender = stanza.get("from", "")
        if not sender.startswith("["):
            return None
        mapped = self.tenants.to_external(sender)
        if mapped == sender:
            return None
        out = Element(stanza.tag, stanza.attrib)
        out.set("from", mapped)
        out.extend(stanza)
        return sender.split("/", 1)[0], out

    def send(self, stanza: Element) -> None:
        external = self._external_copy(stanza)
        if external is not None and self._wants_external(stanza.get("to", ""), external[0]):
            stanza = external[1]
        self.host.send(stanza)

    def send_many(self, stanza: Element, recipients: list[str]) -> None:
        external = self._external_copy(stanza)
        if external is None or not self._external:
            self.host.send_many(stanza, recipients)
            return
        room_jid, copy = external
        tenant_form = [r for r in recipients if self._wants_external(r, room_jid)]
        if tenant_form:
            self.host.send_many(copy, tenant_form)
        if len(tenant_form) < len(recipients):
            chosen = set(tenant_form)
            self.host.send_many(stanza, [r for r in recipients if r not in chosen])

    def origin_of(self, full_jid: str) -> Origin | None:
        return self.host.origin_of(full_jid)
