"""Client addresses as limits count them, and the last X-Forwarded-For hop no trusted proxy wrote."""

from jitsi_py.common.addresses import Networks, ip_of, subscriber
from jitsi_py.settings.fields import networks


def test_mapped_and_scoped_addresses_are_the_address_itself():
    assert str(ip_of("::ffff:10.1.2.3")) == "10.1.2.3"
    assert str(ip_of("fe80::1%eth0")) == "fe80::1"
    assert ip_of("web.meet.jitsi") is None and ip_of("") is None and ip_of(None) is None


def test_ipv6_clients_count_per_subscriber_prefix():
    assert subscriber("2001:db8:1:2:aaaa::1") == subscriber("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert subscriber("2001:db8:1:3::1") != subscriber("2001:db8:1:2::1")
    assert subscriber("::ffff:192.0.2.1") == "192.0.2.1"
    assert subscriber(None) is None


def test_membership_takes_mapped_and_scoped_addresses():
    nets = Networks(networks("127.0.0.1,10.0.0.0/8,fe80::/10"))
    assert "::ffff:10.1.2.3" in nets and "fe80::1%eth0" in nets
    assert "192.0.2.1" not in nets and "" not in nets and "::1" not in nets and None not in nets


def test_the_client_is_the_last_hop_no_trusted_proxy_wrote():
    proxies = Networks(networks("127.0.0.1,172.16.0.0/12"))
    assert proxies.client("203.0.113.5", "192.0.2.1") == "203.0.113.5"  # not a proxy: its header proves nothing
    assert proxies.client("127.0.0.1", "6.6.6.6, 192.0.2.1") == "192.0.2.1"
    assert proxies.client("127.0.0.1", "172.18.0.1") == "127.0.0.1"  # only proxies: the nearest one
