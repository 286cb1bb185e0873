"""Local candidates as JVB gathers them: interface addresses, private ones by setting, static
mappings (``ip`` / ``ip#port``, IPv6 literals) as server-reflexive candidates."""

import pytest

from jitsi_py.bridge.candidates import (
    HIDDEN_RELATED,
    build_candidates,
    candidate_foundation,
    host_addresses,
    is_private,
    parse_mapping,
    valid_address,
)
from jitsi_py.bridge.ice import candidate_priority
from jitsi_py.bridge.service import _reachable

# What a cloud VM with a docker bridge and IPv6 reports (ifaddr order).
INTERFACES = ["127.0.0.1", "::1", "10.0.0.5", "2001:db8:1::5", "fe80::1", "172.17.0.1", "169.254.3.3"]


def test_host_addresses_skip_loopback_link_local_and_put_the_default_routes_first():
    assert host_addresses(INTERFACES, ipv6=True, preferred=("10.0.0.5", "2001:db8:1::5")) == [
        "10.0.0.5", "2001:db8:1::5", "172.17.0.1"]
    assert host_addresses(INTERFACES, ipv6=True, preferred=("172.17.0.1",))[0] == "172.17.0.1"


def test_host_addresses_without_ipv6_socket_have_no_ipv6():
    assert host_addresses(INTERFACES, ipv6=False) == ["10.0.0.5", "172.17.0.1"]


def test_loopback_only_when_nothing_else():
    assert host_addresses(["127.0.0.1", "::1", "fe80::1"], ipv6=True) == ["127.0.0.1", "::1"]
    assert host_addresses(["127.0.0.1", "::1"], ipv6=False) == ["127.0.0.1"]


def test_private_is_jvbs_definition():
    assert is_private("10.1.2.3") and is_private("172.31.0.1") and is_private("192.168.1.1")
    assert is_private("fd00::2") and is_private("fec0::1")
    assert not is_private("127.0.0.1") and not is_private("203.0.113.7") and not is_private("2001:db8::1")
    assert not is_private("100.64.0.1")


@pytest.mark.parametrize("text, expected", [
    ("203.0.113.7", ("203.0.113.7", None)),
    (" 192.168.178.1#12000 ", ("192.168.178.1", 12000)),
    ("fe80::1#12000", ("fe80::1", 12000)),
    ("[2001:db8::7]#443", ("2001:db8::7", 443)),
    ("2001:0db8:0000::7", ("2001:db8::7", None)),
])
def test_parse_mapping(text, expected):
    assert parse_mapping(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("meet.example.com", ("meet.example.com", None)),
    ("localhost#443", ("localhost", 443)),
])
def test_parse_mapping_takes_host_names_as_ice4j_does(text, expected):
    assert parse_mapping(text) == expected


@pytest.mark.parametrize("text, message", [
    ("meet example.com", "neither an IP address nor a host name"),
    ("-bad-.example", "neither an IP address nor a host name"),
    ("203.0.113.7#", "no valid port"),
    ("203.0.113.7#70000", "no valid port"),
    ("203.0.113.7#x", "no valid port"),
])
def test_parse_mapping_refuses_with_the_entry_named(text, message):
    with pytest.raises(ValueError, match=message) as info:
        parse_mapping(text)
    assert repr(text) in str(info.value)


def test_one_address_gets_the_highest_local_preference():
    [host] = build_candidates(10000, ["192.0.2.2"], [], True)
    assert (host.type, host.ip, host.port, host.protocol, host.component) == ("host", "192.0.2.2", 10000, "udp", 1)
    assert host.priority == candidate_priority("host", 65535) == (126 << 24) + (65535 << 8) + 255


def test_priorities_prefer_ipv6_then_the_route_and_are_unique():
    hosts = host_addresses(INTERFACES, ipv6=True, preferred=("10.0.0.5",))
    candidates = build_candidates(10000, hosts, [], True)
    by_ip = {c.ip: c.priority for c in candidates}
    assert by_ip["2001:db8:1::5"] > by_ip["10.0.0.5"] > by_ip["172.17.0.1"]
    assert len(set(by_ip.values())) == len(by_ip)
    assert all(p >> 24 == 126 for p in by_ip.values())
    assert len({c.foundation for c in candidates}) == len(candidates)


def test_static_mappings_are_server_reflexive_on_the_routes_host():
    hosts = ["10.0.0.5", "2001:db8:1::5"]
    candidates = build_candidates(10000, hosts, [parse_mapping("203.0.113.7"), parse_mapping("198.51.100.1#12000"),
                                                 parse_mapping("2001:db8:2::9")], True)
    srflx = [c for c in candidates if c.type == "srflx"]
    assert [(c.ip, c.port, c.rel_addr, c.rel_port) for c in srflx] == [
        ("203.0.113.7", 10000, "10.0.0.5", 10000), ("198.51.100.1", 12000, "10.0.0.5", 10000),
        ("2001:db8:2::9", 10000, "2001:db8:1::5", 10000)]
    assert all(c.priority >> 24 == 100 for c in srflx)
    assert all(h.priority > s.priority for h in candidates if h.type == "host" for s in srflx)
    # ice4j's foundation key is the type, the base and the STUN server: two static mappings of
    # one base are alike, and unlike the base's host candidate or a STUN-discovered mapping.
    assert srflx[0].foundation == srflx[1].foundation == candidate_foundation("srflx", "10.0.0.5")
    assert srflx[0].foundation != candidates[0].foundation
    [stun] = [c for c in build_candidates(10000, hosts, [], True, stun_mapped=("203.0.113.8", 10000))
              if c.type == "srflx"]
    assert stun.foundation != srflx[0].foundation


def test_private_candidates_off_hides_private_hosts_and_related_addresses():
    hosts = ["10.0.0.5", "203.0.113.20", "fd00::2"]
    candidates = build_candidates(10000, hosts, [parse_mapping("203.0.113.7")], False)
    assert [(c.type, c.ip) for c in candidates] == [("host", "203.0.113.20"), ("srflx", "203.0.113.7")]
    assert (candidates[1].rel_addr, candidates[1].rel_port) == HIDDEN_RELATED
    with_private = build_candidates(10000, hosts, [parse_mapping("203.0.113.7")], True)
    assert [c.ip for c in with_private] == ["10.0.0.5", "203.0.113.20", "fd00::2", "203.0.113.7"]
    assert with_private[-1].rel_addr == "10.0.0.5"


def test_a_container_advertising_loopback_as_the_tests_do():
    """docker/test-compose.sh and the stack tests: JVB_ADVERTISE_IPS=127.0.0.1 with private
    candidates off leaves one candidate a browser on this machine reaches."""
    candidates = build_candidates(10000, ["172.18.0.4"], [parse_mapping("127.0.0.1")], False)
    assert [(c.type, c.ip, c.port) for c in candidates] == [("srflx", "127.0.0.1", 10000)]


def test_mappings_onto_advertised_addresses_add_nothing():
    candidates = build_candidates(10000, ["203.0.113.20"], [parse_mapping("203.0.113.20"), parse_mapping("203.0.113.7"),
                                                           parse_mapping("203.0.113.7")], True,
                                  stun_mapped=("203.0.113.20", 10000))
    assert [(c.type, c.ip) for c in candidates] == [("host", "203.0.113.20"), ("srflx", "203.0.113.7")]


def test_a_valid_address_as_jvbs_health_check_wants_one():
    assert valid_address("203.0.113.7") and valid_address("2001:db8::1") and valid_address("fd00::2")
    assert not any(map(valid_address, ["10.0.0.5", "172.17.0.1", "192.168.1.1", "127.0.0.1", "::1", "fe80::1",
                                       "169.254.1.1", "fec0::1"]))


async def test_the_service_resolves_names_and_leaves_out_what_the_media_port_cannot_serve(caplog):
    mappings = [("localhost", 443), ("2001:db8::1", None), ("no-such-host.invalid", None), ("203.0.113.7", None)]
    assert await _reachable(mappings, ipv6=False) == [("127.0.0.1", 443), ("203.0.113.7", None)]
    assert "2001:db8::1 is IPv6" in caplog.text and "no-such-host.invalid does not resolve" in caplog.text
    assert ("2001:db8::1", None) in await _reachable(mappings, ipv6=True)
