"""Hostile input over raw TCP: each one closes that stream with the right error, nothing else."""

from __future__ import annotations

import asyncio

import pytest

from .conftest import connect, disconnect

HEADER = (b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          b"xmlns:stream='http://etherx.jabber.org/streams' to='meet.jitsi' version='1.0'>")


async def exchange(port: int, *chunks: bytes, timeout: float = 10, silence_ok: bool = False) -> bytes:
    """Send the chunks, then read until the server closes; returns everything it wrote.

    ``silence_ok``: a server that keeps the stream open past ``timeout`` is an answer too.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received = b""
    try:
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
        async with asyncio.timeout(timeout):
            while True:
                data = await reader.read(65536)
                if not data:
                    return received
                received += data
    except ConnectionResetError:
        return received  # closed while we were still writing: what it said before is the answer
    except TimeoutError:
        if silence_ok:
            return received
        raise
    finally:
        writer.close()


@pytest.fixture
def settings_values() -> dict[str, str]:
    # The read rate limit would only slow the big payloads down (it pauses, as Prosody's does).
    return {"PROSODY_DISABLE_C2S_LIMIT": "1"}


CASES = [
    ("doctype", b"<!DOCTYPE foo [<!ENTITY x 'y'>]>" + HEADER, b"restricted-xml"),
    ("entity bomb", HEADER + b"<!ENTITY x 'y'>", b"not-well-formed"),
    ("processing instruction", HEADER + b"<?evil thing?>", b"restricted-xml"),
    ("comment", HEADER + b"<!-- hi -->", b"restricted-xml"),
    ("bad utf-8", HEADER + b"<message>\xc3\x28</message>", b"not-well-formed"),
    ("ill-formed", HEADER + b"<message></iq>", b"not-well-formed"),
    ("undefined entity", HEADER + b"<message>&xxe;</message>", b"not-well-formed"),
    ("deep nesting", HEADER + b"<a>" * 200, b"policy-violation"),
    ("many attributes", HEADER + b"<a " + b" ".join(b"a%d='1'" % i for i in range(200)) + b"/>", b"policy-violation"),
    ("huge stanza", HEADER + b"<message><body>" + b"x" * 300_000, b"policy-violation"),
    ("huge attribute", HEADER + b"<message to='" + b"x" * 300_000, b"policy-violation"),
    ("unknown host", HEADER.replace(b"meet.jitsi", b"nowhere.example"), b"host-unknown"),
    ("stanza before auth", HEADER + b"<message to='a@meet.jitsi'/>", b"not-authorized"),
]


@pytest.mark.parametrize("name,data,condition", CASES, ids=[c[0] for c in CASES])
async def test_hostile_input_closes_only_that_stream(server, name, data, condition):
    bystander = await connect(server, "jvb@auth.meet.jitsi", "jvb-secret")
    try:
        received = await exchange(server.listening.c2s_port, data)
        assert b"<stream:error" in received, received[-300:]
        assert condition in received, received[-300:]
        assert received.rstrip().endswith(b"</stream:stream>")
        assert received.startswith(b"<?xml")  # the header comes first, even for errors at once
        assert bystander.boundjid.full in server.router.sessions
    finally:
        await disconnect(bystander)


async def test_unauthenticated_connection_times_out(tmp_path):
    from jitsi_py.xmpp.server import XmppServer

    from .conftest import make_settings

    srv = XmppServer(make_settings(tmp_path, PROSODY_C2S_TIMEOUT="0.5"))
    await srv.start("127.0.0.1", {"c2s": 0, "http": 0, "component": 0})
    try:
        received = await exchange(srv.listening.c2s_port, HEADER)
        assert b"connection-timeout" in received
    finally:
        await srv.stop()


async def test_plain_is_not_offered_before_tls(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.listening.c2s_port)
    writer.write(HEADER.replace(b"meet.jitsi", b"auth.meet.jitsi"))
    data = b""
    async with asyncio.timeout(5):
        while b"</stream:features>" not in data:
            data += await reader.read(4096)
    writer.close()
    assert b"<starttls" in data and b"<required/>" in data
    assert b"PLAIN" not in data and b"mechanisms" not in data


async def test_plaintext_injected_after_starttls_is_dropped(server):
    """Bytes pipelined after <starttls/> in the clear must not reach the session (CVE-2011-0411)."""
    import ssl

    reader, writer = await asyncio.open_connection("127.0.0.1", server.listening.c2s_port)
    writer.write(HEADER.replace(b"meet.jitsi", b"auth.meet.jitsi")
                 + b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
                 + b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
                 + b"AGZvY3VzAGZvY3VzLXNlY3JldA==</auth>")
    data = b""
    async with asyncio.timeout(5):
        while b"<proceed" not in data:
            data += await reader.read(4096)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    await writer.start_tls(context)
    writer.write(HEADER.replace(b"meet.jitsi", b"auth.meet.jitsi"))
    data = b""
    async with asyncio.timeout(5):
        while b"</stream:features>" not in data:
            data += await reader.read(4096)
    assert b"<mechanisms" in data and b"<success" not in data  # a fresh stream, not logged in
    writer.close()
