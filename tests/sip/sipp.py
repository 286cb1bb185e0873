"""SIPp (Debian's sip-tester) as a phone in the live tests: its scenarios, built from a few pieces, and
one call played against the gateway."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import AsyncIterator

from ..support.stack import free_rtp_port
from .phone import free_sip_port

# SIPp's SDP, offer and answer: PCMU, no telephone-event
SIPP_SDP = """v=0
o=- 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
"""
# SIPp (Debian's sip-tester) as a phone: it calls {room} with {headers} added to its INVITE,
# acknowledges the 200, then plays {then}.
SIPP_CALL = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a call to {room}">
  <send retrans="500"><![CDATA[
INVITE sip:{room}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "+4930555" <sip:+4930555@[local_ip]:[local_port]>;tag=[pid]sipp[call_number]
To: <sip:{room}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:+4930555@[local_ip]:[local_port]>
Max-Forwards: 70
{headers}Content-Type: application/sdp
Content-Length: [len]

{sdp}]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200"/>
  <send><![CDATA[
ACK sip:{room}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "+4930555" <sip:+4930555@[local_ip]:[local_port]>;tag=[pid]sipp[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
{then}
</scenario>
""".replace("{sdp}", SIPP_SDP)
def sipp_answers(request: str, headers: str = "", body: str = "", timeout_ms: int = 30000, action: str = "") -> str:
    """The phone waits for the gateway's ``request`` (checking it with ``action``) and answers it 200
    with ``headers`` and ``body``."""
    return f"""  <recv request="{request}" timeout="{timeout_ms}"><action>{action}</action></recv>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
{headers}{"Content-Type: application/sdp" + chr(10) if body else ""}Content-Length: [len]

{body}]]></send>
"""


BYE_IN_30_S = sipp_answers("BYE")


class Sipp:
    """One SIPp run; ``messages`` is its trace of what it sent and received."""

    def __init__(self, process: asyncio.subprocess.Process, messages: Path) -> None:
        self.process = process
        self.messages = messages

    async def received(self, text: str, timeout: float = 10) -> None:
        """Wait until SIPp's trace shows ``text`` (the start line of a message, say)."""
        for _ in range(int(timeout / 0.05)):
            if self.messages.exists() and text in self.messages.read_text(errors="replace"):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"SIPp did not receive {text!r} within {timeout:g} s")


@contextlib.asynccontextmanager
async def sipp_phone(tmp_path: Path, port: int, scenario: str, name: str, sipp_port: int | None = None,
                     ) -> AsyncIterator[Sipp]:
    """SIPp playing ``scenario`` (one call) with the gateway at ``port``, on ``sipp_port`` (a free one when
    not given: a scenario that waits for the gateway's INVITE needs it known); passes when SIPp does."""
    path = tmp_path / f"{name}.xml"
    path.write_text(scenario)
    errors, messages = tmp_path / f"{name}-errors.log", tmp_path / f"{name}-messages.log"
    process = await asyncio.create_subprocess_exec(
        "sipp", f"127.0.0.1:{port}", "-sf", str(path), "-m", "1", "-i", "127.0.0.1",
        "-p", str(sipp_port or free_sip_port()), "-mp", str(free_rtp_port()), "-nostdin", "-timeout", "60s",
        "-timeout_error", "-trace_err", "-error_file", str(errors), "-trace_msg", "-message_file", str(messages),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        yield Sipp(process, messages)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = errors.read_text() if errors.exists() else ""
    assert process.returncode == 0, (process.returncode, stderr.decode()[-2000:], log[-2000:])
