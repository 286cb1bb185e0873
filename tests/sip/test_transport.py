"""SIP over TLS: the gateway opens a verified TLS connection to its SIP server, registers over it with
digest auth (both requests on the one connection, framed by Content-Length), takes the server's
requests back over it, and registers again over a new connection when the server drops it."""

from __future__ import annotations

import asyncio
import ssl

from jitsi_py.common.meeting import XmppServer
from jitsi_py.common.tls import ensure_self_signed
from jitsi_py.sip.gateway import Gateway
from jitsi_py.sip.media import PortPool
from jitsi_py.sip.message import Request, Response, frame_length, parse
from jitsi_py.sip.ua import Account

from ..support.stack import free_port, free_rtp_port

CHALLENGE = 'Digest realm="127.0.0.1", nonce="abc", qop="auth"'


def answer(request: Request, status: int, *extra: tuple[str, str]) -> bytes:
    response = Response(status=status, reason="x")
    for name in ("via", "from", "to", "call-id", "cseq"):
        response.add(name, request.header(name))
    for name, value in extra:
        response.add(name, value)
    return bytes(response)


async def test_the_gateway_registers_over_tls_and_hears_back_on_that_connection(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    ensure_self_signed(cert, key, ["127.0.0.1", "localhost"])
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    client_tls = ssl.create_default_context(cafile=str(cert))  # verified: name and chain
    seen: list[Request] = []
    answered: list[Response] = []
    connections = []

    async def registrar(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        buffer = bytearray()
        while chunk := await reader.read(4096):
            buffer += chunk
            while (size := frame_length(buffer)) is not None:
                request = parse(bytes(buffer[:size]))
                del buffer[:size]
                if isinstance(request, Response):
                    answered.append(request)
                    continue
                seen.append(request)
                if request.method == "REGISTER" and request.header("authorization") is None:
                    writer.write(answer(request, 401, ("WWW-Authenticate", CHALLENGE)))
                elif request.method == "REGISTER":
                    writer.write(answer(request, 200, ("Contact", f"{request.header('contact')};expires=300")))
                    writer.write(  # the server's own request, back over the same connection
                        b"OPTIONS sip:jigasi@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1;branch=z9hG4bKs\r\n"
                        b"From: <sip:127.0.0.1>;tag=s\r\nTo: <sip:jigasi@127.0.0.1>\r\nCall-ID: srv\r\n"
                        b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")

    port = free_port()
    server = await asyncio.start_server(registrar, "127.0.0.1", port, ssl=server_tls)
    rtp = free_rtp_port()
    gateway = Gateway(Account("sip:jigasi@127.0.0.1", "pw", ("127.0.0.1", free_port()), "TLS", ("127.0.0.1", port)),
                      bind=("127.0.0.1", 0), media_address="127.0.0.1", ports=PortPool(rtp, rtp + 4),
                      meeting_server=XmppServer("127.0.0.1", 9, "meet.jitsi", "muc.meet.jitsi"), tls=client_tls)
    try:
        await gateway.start(register=True)
        await asyncio.wait_for(gateway.registered.wait(), 10)
        assert [r.method for r in seen[:2]] == ["REGISTER", "REGISTER"] and len(connections) == 1
        assert seen[0].header("via").startswith("SIP/2.0/TLS ") and "transport=tls" in seen[0].header("contact")
        for _ in range(100):
            if answered:
                break
            await asyncio.sleep(0.05)
        assert [(r.status, r.call_id) for r in answered] == [(200, "srv")]
        connections[0].close()  # the server drops the connection: the gateway registers again over a new one
        for _ in range(100):
            if len(connections) == 2 and sum(r.method == "REGISTER" for r in seen) >= 4:
                break
            await asyncio.sleep(0.05)
        assert len(connections) == 2 and [r.method for r in seen].count("REGISTER") >= 4
        assert gateway.registered.is_set()
    finally:
        await gateway.close()
        server.close()
