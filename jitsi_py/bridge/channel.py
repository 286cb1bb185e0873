"""The bridge channel (docs/bridge-media.md §5-6): JSON messages between an endpoint and the bridge.

:class:`MessageHandler` is the transport-independent part: text in (duplicate keys rejected, the
sender's identity always taken from the channel, never from the message), dispatched by
``colibriClass`` through its ``HANDLERS`` table, replies and relayed messages out through each
endpoint's ``send_message``. Two carriers feed it: colibri-ws (the
aiohttp handler in ``rest.py``) and :class:`SctpChannel`, the WebRTC data channel over the
endpoint's DTLS (RFC 8261/8831/8832), which drives aiortc's SCTP association through a small
stand-in for its DTLS transport.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import ClassVar, Protocol

from .allocation import VideoConstraints

log = logging.getLogger(__name__)

MAX_MESSAGE_SIZE = 64 * 1024
SCTP_PORT = 5000


# Where the TLV parameters of a chunk start in its body, for the chunk types aiortc decodes them of
# (INIT, INIT ACK, HEARTBEAT, HEARTBEAT ACK, ABORT, ERROR, RE-CONFIG).
_PARAMETERS_AT = {1: 16, 2: 16, 4: 0, 5: 0, 6: 0, 9: 0, 130: 0}


def endless_parameters(packet: bytes) -> bool:
    """True for an SCTP packet with a chunk parameter of length 0: aiortc's parameter decoder
    (aiortc 1.16, ``decode_params``) never moves past one and appends to its list until memory
    runs out, in the event loop. Walked as aiortc walks it, so what aiortc refuses anyway passes."""
    n = len(packet)
    pos = 12  # the common header
    while pos + 4 <= n:
        length = (packet[pos + 2] << 8) | packet[pos + 3]
        if length < 4 or pos + length > n:
            return False  # aiortc refuses the whole packet
        start = _PARAMETERS_AT.get(packet[pos])
        if start is not None:
            end = pos + length
            at = pos + 4 + start
            while at <= end - 4:
                size = (packet[at + 2] << 8) | packet[at + 3]
                if size == 0:
                    return True
                at += size + (-size % 4)
        pos += length + (-length % 4)
    return False


class ChannelError(ValueError):
    """A message the bridge refuses: the text says why."""


def _no_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ChannelError(f"duplicate JSON key {key!r}")
        obj[key] = value
    return obj


def _no_constant(name: str):
    # Python's json reads NaN and Infinity; JSON and the browser's JSON.parse do not.
    raise ChannelError(f"{name} is not JSON")


def parse_message(text: str | bytes) -> dict:
    if len(text) > MAX_MESSAGE_SIZE:
        raise ChannelError("message too large")
    try:
        message = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except ChannelError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nested too deep
        raise ChannelError(f"invalid JSON: {exc}") from None
    if not isinstance(message, dict) or not isinstance(message.get("colibriClass"), str):
        raise ChannelError("not a JSON object with a string colibriClass")
    return message


def required_string(message: dict, key: str) -> str:
    """A field that names something and must be there."""
    value = string(message, key)
    if value is None:
        raise ChannelError(f"{key!r} is missing")
    return value


def string(message: dict, key: str, default: str | None = None) -> str | None:
    """A field that names something (an endpoint, a source): a string or absent, never a list or
    an object, which would be used as a dictionary key."""
    value = message.get(key, default)
    if value is not None and not isinstance(value, str):
        raise ChannelError(f"{key!r} must be a string")
    return value


def _strings(value) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ChannelError("expected an array of strings")
    return value


def _constraints(value) -> VideoConstraints:
    if not isinstance(value, dict):
        raise ChannelError("constraints must be an object")
    height = value.get("maxHeight", -1)
    rate = value.get("maxFrameRate", -1)
    if not isinstance(height, int) or isinstance(height, bool) or height < -1:
        raise ChannelError("maxHeight must be -1, 0 or a positive integer")
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or (rate < 0 and rate != -1):
        raise ChannelError("maxFrameRate must be -1 or a number >= 0")
    return VideoConstraints(height, float(rate))


def connectivity_message(endpoint_id: str, active: bool) -> dict:
    """As JVB writes it: ``active`` is a string."""
    return {"colibriClass": "EndpointConnectivityStatusChangeEvent", "endpoint": endpoint_id,
            "active": "true" if active else "false"}


class ChannelHandler(Protocol):
    """What a channel hands its messages to: an endpoint's MessageHandler, or a relay's RelayChannel."""

    def connected(self, *, hello: bool) -> None: ...

    def receive(self, text: str | bytes) -> None: ...


class MessageHandler:
    """Handles one endpoint's incoming messages; ``endpoint`` is a ``conference.Endpoint``."""

    def __init__(self, endpoint, *, announce_version: str | None = None) -> None:
        self.endpoint = endpoint
        self.announce_version = announce_version

    def connected(self, *, hello: bool) -> None:
        """A carrier opened: ServerHello on colibri-ws only, then the initial state (§6.3)."""
        endpoint = self.endpoint
        if hello:
            endpoint.send_message(self._server_hello())
        conference = endpoint.conference
        for message in conference.forwarder.initial_messages(endpoint.id):
            endpoint.send_message(message)
        if conference.speaker.dominant is not None:
            endpoint.send_message(conference.speaker.message())
        # As JVB's EndpointConnectionStatusMonitor.endpointConnected: who is inactive (here also
        # those behind relays, which JVB leaves to the next change).
        for inactive in conference.inactive_present(endpoint.id):
            endpoint.send_message(connectivity_message(inactive, False))

    def _server_hello(self) -> dict:
        hello = {"colibriClass": "ServerHello"}
        if self.announce_version:
            hello["version"] = self.announce_version
        return hello

    def receive(self, text: str | bytes) -> None:
        """One message from the endpoint; raises :class:`ChannelError` for one it refuses. A class
        without a handler is ignored, as JVB ignores it."""
        message = parse_message(text)
        handler = self.HANDLERS.get(message["colibriClass"])
        if handler is not None:
            handler(self, message)
            self.endpoint.conference.flush_messages()

    def _client_hello(self, message: dict) -> None:
        self.endpoint.send_message(self._server_hello())

    def _endpoint_message(self, message: dict) -> None:
        endpoint = self.endpoint
        conference = endpoint.conference
        if endpoint.visitor:
            raise ChannelError("visitors may not send endpoint messages")
        to = message.get("to", "")
        if not isinstance(to, str):
            raise ChannelError("'to' must be a string")
        message["from"] = endpoint.id
        if to:
            target = conference.endpoints.get(to)
            if target is not None and target is not endpoint:
                target.send_message(message)
            elif target is None:
                conference.relay_message(message, to)
        else:
            conference.broadcast(message, exclude=endpoint.id)
            conference.relay_message(message)

    def _endpoint_stats(self, message: dict) -> None:
        endpoint = self.endpoint
        if endpoint.visitor:
            return
        message["from"] = endpoint.id
        endpoint.conference.broadcast(message, exclude=endpoint.id)
        endpoint.conference.relay_message(message)

    def _last_n_changed(self, message: dict) -> None:
        last_n = message.get("lastN")
        if not isinstance(last_n, int):
            raise ChannelError("lastN must be an integer")
        self.endpoint.receiver.last_n = last_n
        self.endpoint.conference.forwarder.allocate()

    def _receiver_video_constraints(self, message: dict) -> None:
        receiver = self.endpoint.receiver
        if "lastN" in message:
            if not isinstance(message["lastN"], int):
                raise ChannelError("lastN must be an integer")
            receiver.last_n = message["lastN"]
        if "onStageSources" in message:
            receiver.on_stage = list(_strings(message["onStageSources"]))
        if "selectedSources" in message:
            receiver.selected = list(_strings(message["selectedSources"]))
        if "defaultConstraints" in message:
            receiver.default_constraints = _constraints(message["defaultConstraints"])
        if "constraints" in message:
            constraints = message["constraints"]
            if not isinstance(constraints, dict):
                raise ChannelError("constraints must be an object")
            receiver.constraints = {name: _constraints(c) for name, c in constraints.items()}
        self.endpoint.conference.forwarder.allocate()

    def _receiver_audio_subscription(self, message: dict) -> None:
        self._audio_subscription(message)
        self.endpoint.conference.forwarder.allocate()

    def _source_video_type(self, message: dict) -> None:
        self._set_video_type(message, string(message, "sourceName"))

    def _video_type(self, message: dict) -> None:
        """The pre-source-names form: the endpoint's one camera source."""
        self._set_video_type(message, f"{self.endpoint.id}-v0")

    def _set_video_type(self, message: dict, name) -> None:
        endpoint = self.endpoint
        forwarder = endpoint.conference.forwarder
        owner = string(message, "endpointId", endpoint.id)
        if owner != endpoint.id:
            raise ChannelError("an endpoint may only set the video type of its own sources")
        video_type = message.get("videoType")
        if not isinstance(video_type, str):
            raise ChannelError("videoType must be a string")
        source = forwarder.sources.get(name)
        if source is None or source.owner != endpoint.id:
            raise ChannelError(f"{name!r} is not a source of this endpoint")
        source.video_type = video_type.lower()
        forwarder.allocate()
        endpoint.conference.relay_message({"colibriClass": "SourceVideoTypeMessage", "endpointId": endpoint.id,
                                           "sourceName": name, "videoType": video_type})

    HANDLERS: ClassVar[dict[str, Callable[[MessageHandler, dict], None]]] = {
        "ClientHello": _client_hello,
        "EndpointMessage": _endpoint_message,
        "EndpointStats": _endpoint_stats,
        "LastNChangedEvent": _last_n_changed,
        "ReceiverVideoConstraints": _receiver_video_constraints,
        "ReceiverAudioSubscription": _receiver_audio_subscription,
        "SourceVideoTypeMessage": _source_video_type,
        "VideoTypeMessage": _video_type,
    }

    def _audio_subscription(self, message: dict) -> None:
        receiver = self.endpoint.receiver
        audio = [name for name, s in self.endpoint.conference.forwarder.sources.items() if s.media == "audio"]
        mode = message.get("mode")
        if mode is not None:  # legacy form
            names = _strings(message.get("list", []))
            mode = str(mode).lower()
            include = {"all": audio, "none": [], "include": names}.get(mode)
            if include is None:
                include = [n for n in audio if n not in names] if mode == "exclude" else audio
        elif message.get("all", True) is True:
            excluded = set(_strings(message.get("exclude", [])))
            include = [n for n in audio if n not in excluded]
        else:
            include = list(_strings(message.get("include", [])))
        receiver.audio_excluded = set(audio) - set(include)


class Tasks:
    """Coroutines a carrier starts per message (aiohttp's sends, aiortc's SCTP handling), held
    until done: the event loop keeps only weak references to running tasks."""

    def __init__(self) -> None:
        self._running: set[asyncio.Future] = set()

    def start(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._running.add(task)
        task.add_done_callback(self._running.discard)


class _DtlsShim:
    """Our DtlsSession as aiortc's SCTP association sees a DTLS transport.

    aiortc has no public API for SCTP over someone else's DTLS, so this class is the one place that
    speaks the private interface between its ``RTCSctpTransport`` and ``RTCDtlsTransport`` (as of
    aiortc 1.9-1.16): the association reads ``_role`` and ``state``, calls
    ``_register_data_receiver``/``_unregister_data_receiver`` on start and stop and ``await
    _send_data(packet)`` to send; the DTLS transport hands it each received packet with ``await
    association._handle_data(packet)`` (:meth:`deliver`). tests/bridge/test_channel.py pins this
    against the installed aiortc.
    """

    state = "connected"

    def __init__(self, endpoint, tasks: Tasks, *, client: bool) -> None:
        self._endpoint = endpoint
        self._tasks = tasks
        self._role = "client" if client else "server"
        self._receiver = None
        self.association = None  # the RTCSctpTransport over this shim, set once made

    def _register_data_receiver(self, receiver) -> None:
        self._receiver = receiver

    def _unregister_data_receiver(self, receiver) -> None:
        self._receiver = None

    async def _send_data(self, data: bytes) -> None:
        self._endpoint.dtls.send(data)
        self._endpoint.flush()

    def deliver(self, packet: bytes) -> None:
        """An SCTP packet our DTLS session decrypted, for the association; garbage is counted and
        dropped, never left to aiortc's parser to hang on or to raise into the event loop."""
        if endless_parameters(packet):
            self._endpoint.conference.bridge.counters.sctp_malformed += 1
            return
        self._tasks.start(self._handle(packet))

    async def _handle(self, packet: bytes) -> None:
        try:
            await self.association._handle_data(packet)
        except Exception as exc:  # aiortc's chunk codecs raise struct.error, AssertionError, ... on garbage
            self._endpoint.conference.bridge.counters.sctp_malformed += 1
            log.debug("endpoint %s: SCTP packet dropped: %r", self._endpoint.id, exc)


class SctpChannel:
    """The SCTP data channel carrier: the bridge is the SCTP server on port 5000 (§3.2); on a
    relay (relay.py) the side the focus makes the client opens the one channel."""

    def __init__(self, endpoint, handler: ChannelHandler | None = None, *, client: bool = False) -> None:
        from aiortc import RTCDataChannel, RTCDataChannelParameters
        from aiortc.rtcsctptransport import RTCSctpTransport

        self.endpoint = endpoint
        self.handler = handler or MessageHandler(endpoint)
        self._tasks = Tasks()
        self._shim = _DtlsShim(endpoint, self._tasks, client=client)
        self._sctp = self._shim.association = RTCSctpTransport(self._shim, port=SCTP_PORT)
        self._sctp.on("datachannel", self._on_datachannel)
        self._channel = None
        if client:
            opened = RTCDataChannel(self._sctp, RTCDataChannelParameters(label="default"))
            opened.on("open", lambda: self._on_datachannel(opened))
        self._counters = endpoint.conference.bridge.counters
        self._tasks.start(self._sctp.start(self._sctp.getCapabilities(), SCTP_PORT))

    def receive(self, packet: bytes, now: float) -> None:
        self._shim.deliver(packet)

    def get_timer(self) -> float | None:
        return None  # the association keeps its own timers on the event loop

    def handle_timer(self, now: float) -> None:
        pass

    def _on_datachannel(self, channel) -> None:
        if self._channel is not None:
            return  # max-channels = 1, as JVB
        self._channel = channel
        channel.on("message", self._on_message)
        self.endpoint.channel = self._send
        self.handler.connected(hello=False)

    def _on_message(self, data) -> None:
        self._counters.data_channel_messages_received += 1
        try:
            self.handler.receive(data)
        except ChannelError as exc:
            self._counters.channel_messages_rejected += 1
            log.debug("endpoint %s: data channel message refused: %s", self.endpoint.id, exc)

    def _send(self, message: dict) -> None:
        if self._channel is not None and self._channel.readyState == "open":
            self._channel.send(json.dumps(message, separators=(",", ":")))
            self._counters.data_channel_messages_sent += 1

    def close(self) -> None:
        if self.endpoint.channel == self._send:
            self.endpoint.channel = None
        self._tasks.start(self._sctp.stop())
