"""The bridge's local ICE candidates, gathered as JVB's harvesters gather them (docs/bridge-media.md §1).

Every candidate names the one media port (or a static mapping's public port), protocol udp,
component 1.

* Host candidates: the machine's interface addresses. Loopback only when there is nothing else
  (ice4j never gathers it; a bridge without a network still serves clients on the same machine),
  link-local never (a browser cannot pair an address without its scope id), IPv6 only when the
  media port listens on IPv6. The default route's address of each family comes first.
* Private addresses are JVB's: RFC 1918, fec0::/10 and fc00::/7 (loopback is not private). Without
  ``JVB_ADVERTISE_PRIVATE_CANDIDATES`` they are not advertised, and a server-reflexive candidate
  whose base is private shows ``0.0.0.0`` port 9 as its related address instead.
* Static mappings (``JVB_ADVERTISE_IPS``: ``ip`` or ``ip#public-port``) and the STUN-discovered
  mapping are server-reflexive candidates based on the host address of the default route (what
  docker-jitsi-meet passes to ice4j as ``local-address``), of the mapping's family when there is one.

Priorities follow RFC 8445 §5.1.2.1 with ice4j's local preferences (IPv6 above IPv4; 65535 for
the only address), made unique within a type as the RFC asks; foundations depend on the type,
the base address and the STUN server, as ice4j's ``FoundationsRegistry`` keys them.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from hashlib import sha256

import ifaddr

from ..common.stanzas.jingle import Candidate
from .ice import candidate_priority

# Java's "site-local" addresses; JVB's private ones add the IPv6 unique-local block.
SITE_LOCAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                                              "fec0::/10"))
PRIVATE_NETWORKS = SITE_LOCAL_NETWORKS + (ipaddress.ip_network("fc00::/7"),)
HIDDEN_RELATED = ("0.0.0.0", 9)
HOST_NAME = re.compile(r"(?=.{1,253}\.?$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")
# ice4j's local preferences by family (Candidate.getLocalPreference); the index within a family
# takes the low byte so that two addresses of one family never tie.
FAMILY_PREFERENCE = {4: 10, 6: 40}
SOLE_ADDRESS_PREFERENCE = 65535
# Documentation addresses: connecting a UDP socket to them sends nothing, it only asks the kernel
# which source address the default route would use.
ROUTE_PROBES = {socket.AF_INET: "192.0.2.1", socket.AF_INET6: "2001:db8::1"}


def parse_mapping(text: str) -> tuple[str, int | None]:
    """One ``JVB_ADVERTISE_IPS`` entry: ``ip`` or ``ip#port`` (IPv6 literals with or without
    brackets; a host name too, which ice4j resolves once at start) -> (address or name, public
    port or None). Raises ValueError naming the entry."""
    address, sep, port_text = text.strip().partition("#")
    address = address.strip()
    if address.startswith("[") and address.endswith("]"):
        address = address[1:-1]
    try:
        address = str(ipaddress.ip_address(address))
    except ValueError:
        if not HOST_NAME.fullmatch(address):
            raise ValueError(f"{text!r} is neither an IP address nor a host name (write ip or ip#port)") from None
    if not sep:
        return address, None
    if not port_text.strip().isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{text!r} has no valid port after '#' (1-65535)")
    return address, int(port_text)


def is_private(address: str) -> bool:
    return _within(ipaddress.ip_address(address), PRIVATE_NETWORKS)


def _within(ip, networks) -> bool:
    return any(ip in network for network in networks if network.version == ip.version)


def valid_address(address: str) -> bool:
    """What ``JVB_REQUIRE_VALID_ADDRESS`` asks for (JVB's health check): not site-local (RFC 1918,
    fec0::/10), not link-local, not loopback. Unlike :func:`is_private`, fc00::/7 passes, as in JVB."""
    ip = ipaddress.ip_address(address)
    return not (_within(ip, SITE_LOCAL_NETWORKS) or ip.is_link_local or ip.is_loopback)


def host_addresses(found: list[str], *, ipv6: bool, preferred: tuple[str, ...] = ()) -> list[str]:
    """The addresses that get host candidates, from an interface list: ``preferred`` (the default
    routes' addresses) first, then the others in their order; loopback only if nothing else is left."""
    usable = []
    for address in dict.fromkeys([a for a in preferred if a in found] + found):
        ip = ipaddress.ip_address(address)
        if ip.is_unspecified or ip.is_link_local or ip.is_multicast or (ip.version == 6 and not ipv6):
            continue
        usable.append(str(ip))
    return [a for a in usable if not ipaddress.ip_address(a).is_loopback] or usable


def local_preferences(addresses: list[str]) -> list[int]:
    if len(addresses) == 1:
        return [SOLE_ADDRESS_PREFERENCE]
    preferences = []
    seen = {4: 0, 6: 0}
    for address in addresses:
        version = ipaddress.ip_address(address).version
        preferences.append(FAMILY_PREFERENCE[version] << 8 | max(255 - seen[version], 0))
        seen[version] += 1
    return preferences


def candidate_foundation(candidate_type: str, base_address: str, server: str = "") -> str:
    """Equal for candidates of one type, base and STUN server ("" for static mappings)."""
    key = f"{candidate_type}|{base_address}|{server}|udp"
    return str(int.from_bytes(sha256(key.encode()).digest()[:4], "big"))


def build_candidates(port: int, hosts: list[str], advertise: list[tuple[str, int | None]], private: bool, *,
                     stun_mapped: tuple[str, int] | None = None) -> list[Candidate]:
    """Host candidates for ``hosts`` (see :func:`host_addresses`), server-reflexive ones for each
    ``advertise`` mapping (see :func:`parse_mapping`, names resolved) and for the ``stun_mapped``
    address a STUN server reported."""
    mappings = [(address, public_port, "") for address, public_port in advertise]
    if stun_mapped is not None:
        mappings.append((stun_mapped[0], stun_mapped[1], "stun"))
    candidates: list[Candidate] = []
    for address, preference in zip(hosts, local_preferences(hosts)):
        if private or not is_private(address):
            candidates.append(Candidate(1, candidate_foundation("host", address), 0, os.urandom(8).hex(), address,
                                        port, candidate_priority("host", preference), "udp", "host"))
    # A mapping onto an address already advertised (a host's, or another mapping's) adds nothing.
    advertised = {(c.ip, c.port) for c in candidates}
    distinct = []
    for address, public_port, server in mappings:
        if (address, public_port or port) not in advertised:
            advertised.add((address, public_port or port))
            distinct.append((address, public_port, server))
    mappings = distinct
    for (address, public_port, server), preference in zip(mappings, local_preferences([m[0] for m in mappings])):
        version = ipaddress.ip_address(address).version
        base = next((h for h in hosts if ipaddress.ip_address(h).version == version), hosts[0] if hosts else None)
        related = (base, port) if base is not None and (private or not is_private(base)) else HIDDEN_RELATED
        candidates.append(Candidate(1, candidate_foundation("srflx", base or "", server), 0, os.urandom(8).hex(),
                                    address, public_port or port, candidate_priority("srflx", preference), "udp",
                                    "srflx", rel_addr=related[0], rel_port=related[1]))
    return candidates


def interface_addresses() -> list[str]:
    """Every address on this machine's interfaces (IPv6 without its scope id)."""
    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            found.append(ip.ip[0] if isinstance(ip.ip, tuple) else ip.ip)
    return found


def route_address(family: socket.AddressFamily) -> str | None:
    """The source address of this machine's default route for ``family``, None without one."""
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((ROUTE_PROBES[family], 9))
            return probe.getsockname()[0]
    except OSError:
        return None


def gather_host_addresses(*, ipv6: bool) -> list[str]:
    routes = tuple(a for a in (route_address(socket.AF_INET), route_address(socket.AF_INET6) if ipv6 else None) if a)
    return host_addresses(interface_addresses(), ipv6=ipv6, preferred=routes)
