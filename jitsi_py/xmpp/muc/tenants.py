"""Tenants (ENABLE_SUBDOMAINS): ``room@muc.<tenant>.<domain>`` is ``[tenant]room@muc.<domain>`` inside.

Clients of ``https://host/<tenant>/<room>`` address the tenant form; the focus, the bridge and the
room modules only ever see the internal form. Stanzas coming in are mapped by
:meth:`TenantMap.to_internal`; what the MUC sends out goes through :class:`TenantHost`, which gives
every recipient that is not a service account the tenant form of the room addresses in ``from``.
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
    """The MUC's host, giving tenant rooms' addresses to clients in their tenant form."""

    def __init__(self, host: Host, tenants: TenantMap) -> None:
        self.host = host
        self.tenants = tenants

    def _external(self, stanza: Element) -> Element | None:
        sender = stanza.get("from", "")
        if not sender.startswith("["):
            return None
        mapped = self.tenants.to_external(sender)
        if mapped == sender:
            return None
        out = Element(stanza.tag, stanza.attrib)
        out.set("from", mapped)
        out.extend(stanza)
        return out

    def _is_client(self, jid: str) -> bool:
        origin = self.host.origin_of(jid)
        return origin is not None and not origin.service_account

    def send(self, stanza: Element) -> None:
        external = self._external(stanza)
        if external is not None and self._is_client(stanza.get("to", "")):
            stanza = external
        self.host.send(stanza)

    def send_many(self, stanza: Element, recipients: list[str]) -> None:
        external = self._external(stanza)
        if external is None:
            self.host.send_many(stanza, recipients)
            return
        clients = [r for r in recipients if self._is_client(r)]
        if clients:
            self.host.send_many(external, clients)
        if len(clients) < len(recipients):
            chosen = set(clients)
            self.host.send_many(stanza, [r for r in recipients if r not in chosen])

    def origin_of(self, full_jid: str) -> Origin | None:
        return self.host.origin_of(full_jid)
