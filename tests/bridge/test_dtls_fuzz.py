"""Fuzzing DTLS record framing as the bridge's ``DtlsSession`` meets it: a real handshake between a
client and the bridge's server side, with any datagram of either flight mutated, cut, repeated or
replaced, then application data (the SCTP carrier's). The contract: ``receive`` returns the
application data it decrypted or marks the session failed; it never raises (the endpoint's
``receive_dtls`` still guards it, but a raise here would be a bug to know about), and what a
connected session decrypts is what the peer sent."""

from __future__ import annotations

import pytest
from hypothesis import example, given, strategies as st

from jitsi_py.bridge.dtls import Certificate, DtlsSession
from tests.support.fuzz import mutate_seeded

from .test_cores import ISSUED

pytestmark = pytest.mark.fuzz

_certificates: list[Certificate] = []


def certificates() -> tuple[Certificate, Certificate]:
    if not _certificates:
        _certificates.extend([Certificate(ISSUED), Certificate(ISSUED)])
    return _certificates[0], _certificates[1]


# For each datagram in flight: pass it, or replace it with a mutation or a cut (chosen by a seed:
# the flights differ from run to run), drop it or deliver it twice.
tampering = st.lists(st.tuples(st.sampled_from(["pass", "pass", "pass", "mutate", "drop", "repeat", "cut"]),
                               st.integers(0, 2**32)), min_size=1, max_size=16)


def connect(plan: list[tuple[str, int]]) -> tuple[DtlsSession, DtlsSession]:
    bridge_cert, client_cert = certificates()
    server = DtlsSession(bridge_cert)
    client = DtlsSession(client_cert, client=True)
    server.remote_fingerprints = [("sha-256", client_cert.fingerprint)]
    client.remote_fingerprints = [("sha-256", bridge_cert.fingerprint)]
    client.start(0.0)
    steps = iter(plan)
    now = 0.0
    for _ in range(8):  # flights each way; the handshake needs three
        for sender, receiver in ((client, server), (server, client)):
            for datagram in sender.datagrams_to_send():
                step, seed = next(steps, ("pass", 0))
                if step == "mutate":
                    datagram = mutate_seeded(datagram, seed)
                elif step == "cut":
                    datagram = datagram[:seed % (len(datagram) + 1)]
                if step != "drop":
                    receiver.receive(datagram, now)
                if step == "repeat":
                    receiver.receive(datagram, now)
        now += 1.0
        for session in (client, server):
            session.handle_timer(now)
    return client, server


@given(plan=tampering, after=st.lists(st.binary(max_size=64), max_size=3))
@example(plan=[("pass", 0)], after=[b"\x17\xfe\xfd" + bytes(10), b""])
def test_any_tampered_handshake_connects_or_fails_without_raising(plan, after):
    client, server = connect(plan)
    if {step for step, _ in plan} == {"pass"}:  # the harness itself completes a handshake
        assert client.connected and server.connected
    if server.connected and client.connected:
        client.send(b"sctp packet")
        data = [d for datagram in client.datagrams_to_send() for d in server.receive(datagram, 9.0)]
        assert data == [b"sctp packet"]
    for datagram in after:  # garbage records after the handshake, as from a spoofed address
        assert isinstance(server.receive(datagram, 10.0), list)
    server.datagrams_to_send()
