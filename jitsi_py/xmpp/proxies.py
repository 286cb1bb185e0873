"""The trusted proxies (``PROSODY_TRUSTED_PROXIES``): who may tell us a client's address.

Entries are addresses or CIDR networks, as Prosody's ``trusted_proxies`` takes them. The client's
address is the last ``X-Forwarded-For`` hop that no trusted proxy wrote: proxies append what they
saw (nginx's ``$proxy_add_x_forwarded_for``), so every hop further left was written by the client
and proves nothing. The login throttle counts guesses under that address.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable


class TrustedProxies:
    def __init__(self, entries: Iterable[str]) -> None:
        networks = []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"PROSODY_TRUSTED_PROXIES: {entry!r} is neither an address nor a network") from None
        self.networks = tuple(networks)

    def __contains__(self, ip: object) -> bool:
        if not isinstance(ip, str) or not ip:
            return False
        try:
            address = ipaddress.ip_address(ip.partition("%")[0])
        except ValueError:
            return False
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def client(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The client's address, from the connection's ``peer`` and its ``X-Forwarded-For``."""
        if peer not in self:
            return peer
        for hop in reversed((forwarded_for or "").split(",")):
            hop = hop.strip()
            if hop and hop not in self:
                return hop
        return peer
