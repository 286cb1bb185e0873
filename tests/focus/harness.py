"""Integration parts for the focus: the XMPP servers (Debian's Prosody shaped like docker-jitsi-meet's,
stock modules only; our own), a scripted bridge that answers Colibri2 with recorded-shape responses (a test
double, never shipped), and signalling-only participants built on slixmpp.

Stock Prosody lacks Jitsi's ``client_proxy`` component (``focus.<domain>``), so participants here
send the conference request straight to the focus's full JID, which the focus accepts too.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from pathlib import Path
from xml.etree.ElementTree import Element, SubElement

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from jitsi_py.common.meeting.events import TrackAdded
from jitsi_py.common.meeting.session import MediaSession
from jitsi_py.common.stanzas import colibri2 as c2
from jitsi_py.common.stanzas.jibri import JibriIq, JibriStatus, RecordingStatus
from jitsi_py.common.stanzas.jingle import (
    NS_FOCUS,
    NS_JINGLE,
    Candidate,
    Fingerprint,
    IceTransport,
    Jingle,
    Source,
    parse_jingle,
    q,
)
from jitsi_py.common.stanzas.jitsi import (
    FEATURE_AUDIO,
    FEATURE_JSON_SOURCES,
    FEATURE_SCTP,
    FEATURE_VIDEO,
    NS_HEALTHCHECK,
    NS_MUTE_AUDIO,
    ConferenceIq,
    build_bridge_stats,
)
from jitsi_py.common.stanzas.rayo import Dial, Ref
from jitsi_py.settings import Settings
from jitsi_py.xmpp.service import run as run_xmpp
from tests.support.prosody import Prosody

DOMAIN = "meet.jitsi"
AUTH = "auth.meet.jitsi"
MUC = "muc.meet.jitsi"
INTERNAL_MUC = "internal-muc.meet.jitsi"
BREWERY = f"jvbbrewery@{INTERNAL_MUC}"
FOCUS_PASSWORD = "focus-secret"
JVB_PASSWORD = "jvb-secret"
JIBRI_PASSWORD = "jibri-secret"
JIGASI_PASSWORD = "jigasi-secret"
JIBRI_BREWERY = f"jibribrewery@{INTERNAL_MUC}"
JIGASI_BREWERY = f"jigasibrewery@{INTERNAL_MUC}"

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ProsodyServer:
    """Debian's Prosody from ``tests/support/prosody.py`` with the focus and jvb accounts."""

    focus_address = None  # stock Prosody has no client_proxy: address the focus's own JID

    def __init__(self, directory: Path) -> None:
        self.prosody = Prosody(directory, users={"focus": FOCUS_PASSWORD, "jvb": JVB_PASSWORD,
                                                 "jibri": JIBRI_PASSWORD, "jigasi": JIGASI_PASSWORD})
        self.c2s_port = self.prosody.c2s_port

    async def start(self) -> None:
        await asyncio.to_thread(self.prosody.start)

    async def stop(self) -> None:
        await asyncio.to_thread(self.prosody.stop)


class OurXmppServer:
    """Our own XMPP server (``jitsi_py.xmpp``) with the same accounts; it hosts ``focus.<domain>``."""

    focus_address = f"focus.{DOMAIN}"

    def __init__(self, config_dir: Path) -> None:
        self.c2s_port = free_port()
        self.settings = Settings.from_values({
            "CONFIG": str(config_dir), "XMPP_SERVER": "127.0.0.1", "XMPP_PORT": str(self.c2s_port),
            "PROSODY_HTTP_PORT": str(free_port()), "PROSODY_COMPONENT_PORT": str(free_port()),
            "PROSODY_INTERFACES": "127.0.0.1", "JICOFO_AUTH_PASSWORD": FOCUS_PASSWORD,
            "JVB_AUTH_PASSWORD": JVB_PASSWORD, "JIBRI_XMPP_PASSWORD": JIBRI_PASSWORD,
            "JIGASI_XMPP_PASSWORD": JIGASI_PASSWORD,
        })
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        self.task = asyncio.ensure_future(run_xmpp(self.settings))
        for _ in range(300):
            if self.task.done():
                self.task.result()
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.c2s_port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError("our XMPP server did not listen")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


def _client(jid: str, password: str) -> slixmpp.ClientXMPP:
    client = slixmpp.ClientXMPP(jid, password)
    client.enable_direct_tls = False
    client.enable_plaintext = True
    context = ssl.create_default_context()  # both servers run with self-signed certificates
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    client.ssl_context = context
    client.plugin["feature_mechanisms"].unencrypted_plain = True
    client.register_plugin("xep_0030")
    return client


def set_room_metadata(client: slixmpp.ClientXMPP, component: str, room: str, key: str, data) -> None:
    """A moderator's change of the room metadata, shaped as lib-jitsi-meet's ``RoomMetadata.setMetadata``
    sends it to the component (jitsi-meet's recording dialog: key ``recording``)."""
    message = client.make_message(mto=component)
    element = SubElement(message.xml, "{http://jitsi.org/jitmeet}room_metadata", room=room)
    element.text = json.dumps({"key": key, "data": data, "type": "room_metadata"})
    message.send()


async def connect(client: slixmpp.ClientXMPP, port: int) -> None:
    started = asyncio.get_running_loop().create_future()
    client.add_event_handler("session_start", lambda _e: started.done() or started.set_result(None))
    client.add_event_handler("failed_auth", lambda _e: started.done() or started.set_exception(
        RuntimeError("auth failed")))
    client.connect(host="127.0.0.1", port=port)
    await asyncio.wait_for(started, 15)
    client.send_presence()


class ScriptedBridge:
    """Answers Colibri2 as the real bridge's answers are shaped (docs/colibri2.md §4); records requests."""

    def __init__(self, nick: str, port: int, *, stress: float = 0.1, ufrag: str | None = None) -> None:
        self.nick = nick
        self.port = port
        self.stress = stress
        self.ufrag = ufrag or f"uf{nick}"
        self.requests: list[c2.ConferenceModify] = []
        self.conferences: dict[str, set[str]] = {}
        self.changed = asyncio.Event()
        self.client = _client(f"jvb@{AUTH}/{nick}", JVB_PASSWORD)
        ns = self.client.default_ns
        self.client.register_handler(Callback("colibri2", MatchXPath(f"{{{ns}}}iq/{c2.CONFERENCE_MODIFY}"),
                                              self._on_modify))
        self.client.register_handler(Callback("health", MatchXPath(f"{{{ns}}}iq/{{{NS_HEALTHCHECK}}}healthcheck"),
                                              lambda iq: iq.reply(clear=True).send()))

    @property
    def occupant(self) -> str:
        return f"{BREWERY}/{self.nick}"

    async def start(self) -> None:
        await connect(self.client, self.port)
        presence = self.client.make_presence(pto=self.occupant)
        SubElement(presence.xml, "{http://jabber.org/protocol/muc}x")
        presence.xml.append(build_bridge_stats({"stress_level": self.stress, "drain": False, "region": "test",
                                                "version": "1.0"}))
        presence.send()

    def kill(self) -> None:
        """Vanish without a goodbye, as a crashed bridge does."""
        self.client.abort()

    def _on_modify(self, iq: slixmpp.Iq) -> None:
        request = c2.parse_conference_modify(iq.xml.find(c2.CONFERENCE_MODIFY))
        self.requests.append(request)
        self.changed.set()
        endpoints = self.conferences.get(request.meeting_id)
        if endpoints is None and not request.create:
            return self._error(iq, "item-not-found", c2.REASON_CONFERENCE_NOT_FOUND)
        if request.create:
            if endpoints is not None:
                return self._error(iq, "conflict", c2.REASON_CONFERENCE_ALREADY_EXISTS)
            endpoints = self.conferences[request.meeting_id] = set()
        answer = c2.ConferenceModified()
        created = False
        for endpoint in request.endpoints:
            if endpoint.expire:
                endpoints.discard(endpoint.id)
                answer.endpoints.append(c2.Endpoint(endpoint.id, expire=True))
            elif endpoint.create:
                created = True
                endpoints.add(endpoint.id)
                sctp = c2.Sctp(5000, "server") if endpoint.transport and endpoint.transport.sctp else None
                transport = c2.Transport(ice=self.transport(), sctp=sctp)
                answer.endpoints.append(c2.Endpoint(endpoint.id, transport=transport))
            else:
                answer.endpoints.append(c2.Endpoint(endpoint.id))
        if created:
            answer.sources = [c2.MediaSource("audio", "jvb-a0", [Source(411230776, "audio", "jvb-a0")]),
                              c2.MediaSource("video", "jvb-v0", [Source(3196720987, "video", "jvb-v0")])]
        if request.expire or (not endpoints and not request.create):
            self.conferences.pop(request.meeting_id, None)
        reply = iq.reply(clear=True)
        reply.xml.append(answer.to_element())
        reply.send()

    def transport(self) -> IceTransport:
        return IceTransport(self.ufrag, "pwd0123456789abcdefghij",
                            [Candidate(1, "1", 0, "c1", "127.0.0.1", 10000, 2130706431, "udp", "host")],
                            [Fingerprint("sha-256", ":".join(["AB"] * 32), "actpass")], rtcp_mux=True)

    def _error(self, iq: slixmpp.Iq, condition: str, reason: str) -> None:
        reply = iq.reply(clear=True)
        reply["type"] = "error"
        reply["error"]["type"] = "cancel"
        reply["error"]["condition"] = condition
        reply["error"].xml.append(c2.reason_element(reason))
        reply.send()


class Participant:
    """Signalling side of a participant: conference request, MUC join, Jingle answers."""

    FEATURES = (FEATURE_AUDIO, FEATURE_VIDEO, FEATURE_SCTP, FEATURE_JSON_SOURCES)

    def __init__(self, port: int, focus_jid: str, room: str, *, jid: str = DOMAIN, password: str = "") -> None:
        self.port = port
        self.focus_jid = focus_jid
        self.room = room
        self.nick: str | None = None
        self.role: str | None = None
        self.jingles: asyncio.Queue[Jingle] = asyncio.Queue()
        self.client = _client(jid, password)  # anonymous on the main domain unless told otherwise
        ns = self.client.default_ns
        self.client.register_handler(
            Callback("jingle", MatchXPath(f"{{{ns}}}iq/{{{NS_JINGLE}}}jingle"), self._on_jingle))
        self.mutes: asyncio.Queue[Element] = asyncio.Queue()
        self.client.register_handler(Callback("mute", MatchXPath(f"{{{ns}}}iq/{{{NS_MUTE_AUDIO}}}mute"), self._on_mute))
        self.joined = asyncio.Event()
        self.recording: list[RecordingStatus] = []  # each change of the focus's <jibri-recording-status>
        self.client.register_handler(Callback("muc-presence", MatchXPath(f"{{{ns}}}presence"), self._on_presence))

    async def start(self) -> None:
        await connect(self.client, self.port)
        for feature in self.FEATURES:  # after binding: slixmpp files features under the bound JID
            self.client.plugin["xep_0030"].add_feature(feature)
        self.nick = self.client.boundjid.resource[:8].lower()

    async def request_conference(self) -> ConferenceIq:
        iq = self.client.make_iq_set(ito=self.focus_jid)
        iq.xml.append(ConferenceIq(self.room, machine_uid="m-" + (self.nick or "")).to_element())
        result = await iq.send(timeout=15)
        return ConferenceIq.from_element(result.xml.find(q(NS_FOCUS, "conference")))

    async def join(self, caps: tuple[str, str, str] | None = None, features: tuple[str, ...] = ()) -> None:
        """Join the room; ``caps`` is the (node, ver, hash) announced as XEP-0115 capabilities,
        ``features`` go in ``<features>`` as jitsi-meet puts them for a recorder or a gateway."""
        presence = self.client.make_presence(pto=f"{self.room}/{self.nick}")
        SubElement(presence.xml, "{http://jabber.org/protocol/muc}x")
        SubElement(presence.xml, "stats-id").text = f"stats-{self.nick}"
        if features:
            listed = SubElement(presence.xml, "features")
            for var in features:
                SubElement(listed, "feature", var=var)
        if caps is not None:
            node, ver, hash_name = caps
            SubElement(presence.xml, "{http://jabber.org/protocol/caps}c", node=node, ver=ver, hash=hash_name)
        presence.send()
        await asyncio.wait_for(self.joined.wait(), 10)

    def _on_presence(self, presence: slixmpp.Presence) -> None:
        if presence["from"].bare == self.room and presence["from"].resource == "focus":
            status = RecordingStatus.from_presence(presence.xml)
            if status is not None and (not self.recording or self.recording[-1] != status):
                self.recording.append(status)
        if presence["from"].bare == self.room and presence["from"].resource == self.nick:
            item = presence.xml.find("{http://jabber.org/protocol/muc#user}x/{http://jabber.org/protocol/muc#user}item")
            if item is not None:
                self.role = item.get("role")
            self.joined.set()

    def _on_mute(self, iq: slixmpp.Iq) -> None:
        iq.reply(clear=True).send()
        self.mutes.put_nowait(iq.xml.find(f"{{{NS_MUTE_AUDIO}}}mute"))

    def _on_jingle(self, iq: slixmpp.Iq) -> None:
        iq.reply(clear=True).send()
        jingle = parse_jingle(iq.xml.find(q(NS_JINGLE, "jingle")))
        self.jingles.put_nowait(jingle)
        self.received(jingle)

    def received(self, jingle: Jingle) -> None:
        """Every Jingle IQ as it arrives, besides the queue tests read with :meth:`next_jingle`."""

    async def next_jingle(self, action: str, timeout: float = 10) -> Jingle:
        while True:
            jingle = await asyncio.wait_for(self.jingles.get(), timeout)
            if jingle.action == action:
                return jingle

    async def send_jingle(self, payload: Element) -> slixmpp.Iq:
        """Any IQ to the focus's occupant JID, as lib-jitsi-meet sends Jingle, jibri and dial requests."""
        iq = self.client.make_iq_set(ito=f"{self.room}/focus")
        iq.xml.append(payload)
        return await iq.send(timeout=10)

    async def leave(self) -> None:
        self.client.make_presence(pto=f"{self.room}/{self.nick}", ptype="unavailable").send()
        await asyncio.sleep(0)

    async def stop(self) -> None:
        self.client.abort()


class MediaParticipant(Participant):
    """A participant with media, sending a test video: the production meeting client's
    :class:`MediaSession` (one m-line per remote source, as a browser). Each ``answer()`` takes the
    next session-initiate on a fresh peer connection, as lib-jitsi-meet does after the focus moved it
    to another bridge; source-add and source-remove of the session are applied as they arrive."""

    def __init__(self, port: int, focus_jid: str, room: str) -> None:
        super().__init__(port, focus_jid, room)
        self.session: MediaSession | None = None
        self.offer: Jingle | None = None
        self.remote_track: asyncio.Future | None = None
        self.accept: Jingle | None = None
        self._updates: set[asyncio.Task] = set()

    async def answer(self, timeout: float = 10) -> Jingle:
        """Take the next session-initiate, answer it with aiortc, send session-accept."""
        from aiortc import VideoStreamTrack

        self.offer = offer = await self.next_jingle("session-initiate", timeout)
        if self.session is not None:
            await self.session.close()
        self.remote_track = track = asyncio.get_running_loop().create_future()

        def on_event(event) -> None:
            if isinstance(event, TrackAdded) and event.kind == "video" and not track.done():
                track.set_result(event.track)

        self.session = MediaSession(offer, self.nick or "", tracks=[VideoStreamTrack()], on_event=on_event)
        self.accept = await self.session.answer(self.client.boundjid.full)
        await self.send_jingle(self.accept.to_element())
        return offer

    def received(self, jingle: Jingle) -> None:
        session = self.session
        update = {"source-add": MediaSession.add_sources, "source-remove": MediaSession.remove_sources}.get(
            jingle.action)
        if session is not None and update is not None and jingle.sid == session.sid:
            task = asyncio.ensure_future(update(session, jingle))
            self._updates.add(task)
            task.add_done_callback(self._updates.discard)

    async def frames(self, count: int, timeout: float = 20) -> int:
        """Decode ``count`` frames of the first remote video; returns how many arrived."""
        track = await asyncio.wait_for(self.remote_track, timeout)
        for _ in range(count):
            await asyncio.wait_for(track.recv(), timeout)
        return count

    async def stop(self) -> None:
        for task in self._updates:
            task.cancel()
        if self.session is not None:
            await self.session.close()
        await super().stop()


class BridgeProcess:
    """Our bridge, ``python -m jitsi_py.bridge``, in its own process so a test can kill it hard."""

    def __init__(self, c2s_port: int, nick: str, config_dir: Path) -> None:
        self.nick = nick
        self.env = {
            "PATH": "/usr/bin:/bin", "HOME": str(config_dir), "CONFIG": str(config_dir),
            "XMPP_SERVER": "127.0.0.1", "XMPP_PORT": str(c2s_port), "JVB_AUTH_PASSWORD": JVB_PASSWORD,
            "JVB_MUC_NICKNAME": nick, "JVB_PORT": str(free_udp_port()), "JVB_COLIBRI_PORT": str(free_port()),
            "COLIBRI_WEBSOCKET_PORT": str(free_port()), "JVB_DISABLE_STUN": "1",
            "JVB_ADVERTISE_IPS": "127.0.0.1", "JVB_ADVERTISE_PRIVATE_CANDIDATES": "0", "LOG_LEVEL": "warn",
            "JITSI_PY_BRIDGE_WORKERS": "1",
        }
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def occupant(self) -> str:
        return f"{BREWERY}/{self.nick}"

    async def start(self) -> None:
        import sys

        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "jitsi_py.bridge", env=self.env, stdin=asyncio.subprocess.DEVNULL)

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ScriptedRecorder:
    """A recorder in the jibri brewery as Jibri behaves on the wire (docs/focus.md §8): it answers a
    start with ``answer`` ("pending", or "busy"), and sends status updates when told."""

    def __init__(self, nick: str, port: int, *, answer: str = "pending") -> None:
        self.nick = nick
        self.port = port
        self.answer = answer
        self.requests: asyncio.Queue[tuple[str, JibriIq]] = asyncio.Queue()  # (sender, request)
        self.client = _client(f"jibri@{AUTH}/{nick}", JIBRI_PASSWORD)
        ns = self.client.default_ns
        self.errors: list[str] = []  # error IQs sent to us: answers to our answers, which must not happen
        self.client.register_handler(Callback("errors", MatchXPath(f"{{{ns}}}iq"), lambda iq: iq["type"] == "error"
                                              and self.errors.append(iq["error"]["condition"])))
        self.client.register_handler(Callback("jibri", MatchXPath(f"{{{ns}}}iq/{{http://jitsi.org/protocol/jibri}}jibri"),
                                              self._on_jibri))

    @property
    def occupant(self) -> str:
        return f"{JIBRI_BREWERY}/{self.nick}"

    async def start(self, busy: bool = False) -> None:
        await connect(self.client, self.port)
        presence = self.client.make_presence(pto=self.occupant)
        SubElement(presence.xml, "{http://jabber.org/protocol/muc}x")
        presence.xml.append(JibriStatus(busy=busy, healthy=True).to_element())
        presence.send()

    def _on_jibri(self, iq: slixmpp.Iq) -> None:
        if iq["type"] != "set":
            return
        request = JibriIq.from_element(iq.xml.find("{http://jitsi.org/protocol/jibri}jibri"))
        self.requests.put_nowait((iq["from"].full, request))
        reply = iq.reply(clear=True)
        if request.action == "start":
            answer = JibriIq(status="pending") if self.answer == "pending" else JibriIq(
                status="off", failure_reason="busy", should_retry=True)
        else:
            answer = JibriIq(status="off")
        reply.xml.append(answer.to_element())
        reply.send()

    async def next_request(self, timeout: float = 10) -> tuple[str, JibriIq]:
        return await asyncio.wait_for(self.requests.get(), timeout)

    async def update(self, focus: str, **status) -> None:
        """A status IQ to the focus's brewery occupant JID, as Jibri sends once it records or fails."""
        iq = self.client.make_iq_set(ito=focus)
        iq.xml.append(JibriIq(**status).to_element())
        await iq.send(timeout=10)

    async def leave(self) -> None:
        self.client.make_presence(pto=self.occupant, ptype="unavailable").send()
        await asyncio.sleep(0)

    async def stop(self) -> None:
        self.client.abort()


class ScriptedGateway:
    """A SIP gateway or transcriber in the jigasi brewery: colibri stats in presence, and a dial
    answered with a ``<ref>`` naming its call (or refused with ``refuse``)."""

    def __init__(self, nick: str, port: int, *, sip: bool = True, transcription: bool = False,
                 participants: int = 0, refuse: str | None = None) -> None:
        self.nick = nick
        self.port = port
        self.stats = {"supports_sip": sip, "supports_transcription": transcription, "participants": participants,
                      "graceful_shutdown": False, "conferences": 0}
        self.refuse = refuse
        self.dials: list[tuple[str, Dial]] = []
        self.client = _client(f"jigasi@{AUTH}/{nick}", JIGASI_PASSWORD)
        ns = self.client.default_ns
        self.client.register_handler(Callback("dial", MatchXPath(f"{{{ns}}}iq/{{urn:xmpp:rayo:1}}dial"),
                                              self._on_dial))

    async def start(self) -> None:
        await connect(self.client, self.port)
        presence = self.client.make_presence(pto=f"{JIGASI_BREWERY}/{self.nick}")
        SubElement(presence.xml, "{http://jabber.org/protocol/muc}x")
        presence.xml.append(build_bridge_stats(self.stats))
        presence.send()

    @property
    def uri(self) -> str:
        return f"xmpp:{self.nick}c0ffee@{DOMAIN}"

    def _on_dial(self, iq: slixmpp.Iq) -> None:
        self.dials.append((iq["from"].full, Dial.from_element(iq.xml.find("{urn:xmpp:rayo:1}dial"))))
        reply = iq.reply(clear=True)
        if self.refuse is not None:
            reply["type"] = "error"
            reply["error"]["type"] = "cancel"
            reply["error"]["condition"] = self.refuse
        else:
            reply.xml.append(Ref(self.uri).to_element())
        reply.send()

    async def stop(self) -> None:
        self.client.abort()
