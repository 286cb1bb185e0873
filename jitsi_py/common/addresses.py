"""Client addresses as the limits count them, and who may tell us a client's address.

A socket gives IPv4 peers on a dual-stack listener as IPv4-mapped IPv6 and link-local ones with a
scope: both are reduced to the address itself. IPv6 clients count per /64, what one subscriber
usually holds. Behind trusted proxies (ours, or an operator's load balancer) the client is the last
``X-Forwarded-For`` hop that no trusted proxy wrote: proxies append what they saw (nginx's
``$proxy_add_x_forwarded_for``), so every hop further left was written by the client and proves nothing.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..settings.fields import Network

IPV6_PREFIX = 64


def ip_of(address: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a peer string names, or None when it names none."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def subscriber(address: str | None) -> str | None:
    """The key under which per-client limits count ``address``: the IPv4 address or the IPv6 /64."""
    ip = ip_of(address)
    if ip is None:
        return address or None
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)


@dataclass(frozen=True)
class Networks:
    """A set of networks addresses are tested against (``address in networks``)."""

    networks: tuple[Network, ...]

    def __contains__(self, address: object) -> bool:
        ip = ip_of(address) if isinstance(address, str) else None
        return ip is not None and any(ip in network for network in self.networks)

    def client(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The client's address, from the connection's ``peer`` and its ``X-Forwarded-For``, these
        networks being the trusted proxies."""
        if peer not in self:
            return peer
        for hop in reversed((forwarded_for or "").split(",")):
            hop = hop.strip()
            if hop and hop not in self:
                return hop
        return peer
