"""SDP offer/answer for the gateway's one audio stream (RFC 4566, RFC 3264).

Only what a phone call needs: the first audio m-line, its connection address and port, the codecs
we carry (:data:`CODECS`, in our order of preference), ``telephone-event`` (RFC 4733), the direction
and SDES keys (RFC 4568) when SRTP is on. Another m-line (video) is answered with port 0. An offer
without a codec we carry raises :class:`SdpError` (the call answers 488).
"""

from __future__ import annotations

from dataclasses import dataclass, field


class SdpError(ValueError):
    pass


@dataclass(frozen=True)
class Codec:
    name: str  # as in a=rtpmap, lower case
    clock: int  # RTP clock rate
    static_pt: int | None
    channels: int = 1
    fmtp: str = ""


OPUS = Codec("opus", 48000, None, 2, "minptime=10;useinbandfec=1")
G722 = Codec("g722", 8000, 9)  # the RTP clock is 8 kHz for historic reasons (RFC 3551 §4.5.2); audio is 16 kHz
PCMU = Codec("pcmu", 8000, 0)
PCMA = Codec("pcma", 8000, 8)
CODECS = (OPUS, G722, PCMU, PCMA)
TELEPHONE_EVENT = Codec("telephone-event", 8000, None, 1, "0-16")
DYNAMIC_OPUS, DYNAMIC_DTMF = 111, 101


@dataclass
class Crypto:
    tag: int
    suite: str
    key_params: str  # inline:<base64 key||salt>


@dataclass
class AudioDescription:
    """One side's audio stream; ``codecs`` maps payload type to codec, in the sender's order."""

    address: str
    port: int
    codecs: dict[int, Codec]
    dtmf_pt: int | None = None
    direction: str = "sendrecv"
    ptime: int = 20
    profile: str = "RTP/AVP"
    crypto: list[Crypto] = field(default_factory=list)
    rtcp_port: int | None = None
    other_media: list[str] = field(default_factory=list)  # m-lines we answer with port 0
    dtmf_clock: int = TELEPHONE_EVENT.clock  # telephone-event's RTP clock: its events' durations count in it
    events: dict[int, int] = field(default_factory=dict)  # every telephone-event offered: clock -> payload type

    @property
    def first(self) -> tuple[int, Codec]:
        return next(iter(self.codecs.items()))

    def telephone_event(self, codec: Codec) -> tuple[int | None, int]:
        """The telephone-event to use with ``codec``: its payload type and clock. RFC 4733 §2.1: the events'
        clock should be the audio's, and an offer may give one per audio clock; else the 8 kHz one."""
        if not self.events:
            return self.dtmf_pt, self.dtmf_clock
        clock = next((c for c in (codec.clock, TELEPHONE_EVENT.clock) if c in self.events), next(iter(self.events)))
        return self.events[clock], clock

    @property
    def receives(self) -> bool:
        """Whether this side takes media: not on hold (sendonly, inactive, or RFC 2543's c=0.0.0.0)."""
        return self.direction in ("sendrecv", "recvonly") and self.port != 0 and self.address not in ("0.0.0.0", "::")


def parse(data: bytes) -> AudioDescription:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SdpError("SDP is not UTF-8") from None
    session_address = ""
    audio: AudioDescription | None = None
    payloads: list[int] = []
    rtpmap: dict[int, tuple[str, int, int]] = {}
    fmtp: dict[int, str] = {}
    others: list[str] = []
    in_audio = False
    for raw in text.splitlines():
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        if kind == "m":
            parts = value.split()
            if len(parts) < 4 or not parts[1].split("/")[0].isdigit():
                raise SdpError(f"bad m-line {line[:60]!r}")
            in_audio = parts[0] == "audio" and audio is None
            if not in_audio:
                others.append(value)
                continue
            audio = AudioDescription("", int(parts[1].split("/")[0]), {}, profile=parts[2])
            try:
                payloads = [int(pt) for pt in parts[3:]]
            except ValueError:
                raise SdpError(f"bad payload types in {line[:60]!r}") from None
        elif kind == "c":
            parts = value.split()
            if len(parts) < 3:
                raise SdpError(f"bad c-line {line[:60]!r}")
            address = parts[2].split("/")[0]
            if audio is None:
                session_address = address
            elif in_audio:
                audio.address = address
        elif kind == "a" and (audio is None or in_audio):
            name, _, rest = value.partition(":")
            if audio is None:
                continue  # session-level attributes: none that a phone call needs
            if name == "rtpmap":
                pt_text, _, encoding = rest.partition(" ")
                bits = encoding.split("/")
                if pt_text.isdigit() and len(bits) >= 2 and bits[1].isdigit():
                    rtpmap[int(pt_text)] = (bits[0].lower(), int(bits[1]), int(bits[2]) if len(bits) > 2
                                            and bits[2].isdigit() else 1)
            elif name == "fmtp":
                pt_text, _, params = rest.partition(" ")
                if pt_text.isdigit():
                    fmtp[int(pt_text)] = params
            elif name in ("sendrecv", "sendonly", "recvonly", "inactive"):
                audio.direction = name
            elif name == "ptime" and rest.strip().isdigit():
                audio.ptime = max(10, min(int(rest), 60))
            elif name == "rtcp":
                first = rest.split()[0] if rest.split() else ""
                audio.rtcp_port = int(first) if first.isdigit() else None
            elif name == "crypto":
                bits = rest.split()
                if len(bits) >= 3 and bits[0].isdigit():
                    audio.crypto.append(Crypto(int(bits[0]), bits[1], bits[2]))
    if audio is None:
        raise SdpError("no audio m-line")
    audio.address = audio.address or session_address
    if not audio.address:
        raise SdpError("no connection address for the audio")
    audio.other_media = others
    events: dict[int, int] = {}  # telephone-event: its clock -> its first payload type
    for pt in payloads:
        name, clock, channels = rtpmap.get(pt, ("", 0, 1))
        if not name:
            static = next((c for c in CODECS if c.static_pt == pt), None)
            if static is not None:
                audio.codecs[pt] = static
            continue
        if name == TELEPHONE_EVENT.name and clock > 0:
            events.setdefault(clock, pt)
            continue
        known = next((c for c in CODECS if c.name == name and c.clock == clock), None)
        if known is not None:
            audio.codecs[pt] = known
    audio.events = events
    if events and audio.codecs:
        audio.dtmf_pt, audio.dtmf_clock = audio.telephone_event(audio.first[1])
    return audio


def answer(offer: AudioDescription, address: str, port: int, preference: tuple[Codec, ...] = CODECS,
           crypto: Crypto | None = None) -> AudioDescription:
    """Our answer: the offerer's first codec among ours (RFC 3264 §6.1: the answerer should honour the
    offer's order), its payload type kept, and DTMF when offered, at that codec's clock when offered so."""
    chosen = next(((pt, c) for pt, c in offer.codecs.items() if c in preference), None)
    if chosen is None:
        raise SdpError("no common codec (we take " + ", ".join(c.name.upper() for c in preference) + ")")
    direction = {"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}.get(offer.direction,
                                                                                           "sendrecv")
    dtmf_pt, dtmf_clock = offer.telephone_event(chosen[1])
    return AudioDescription(address, port, {chosen[0]: chosen[1]}, dtmf_pt, direction, offer.ptime,
                            offer.profile if crypto is not None else "RTP/AVP",
                            [crypto] if crypto is not None else [], other_media=offer.other_media,
                            dtmf_clock=dtmf_clock)


# what an answer may say to each direction offered (RFC 3264 §6.1)
ANSWERABLE = {"sendrecv": {"sendrecv", "sendonly", "recvonly", "inactive"}, "sendonly": {"recvonly", "inactive"},
              "recvonly": {"sendonly", "inactive"}, "inactive": {"inactive"}}


def check_answer(offer: AudioDescription, answer: AudioDescription) -> tuple[int, Codec]:
    """The payload type and codec an answer to our ``offer`` settles on; SdpError when the answer is not
    within the offer (RFC 3264 §6.1): the stream refused (port 0), a codec or payload type we did not
    offer, another profile, a direction the offer does not allow, no crypto line for the one we sent."""
    if answer.port == 0:
        raise SdpError("the audio stream is refused (port 0)")
    if not answer.codecs:
        raise SdpError("no codec we carry")
    pt, codec = answer.first
    if offer.codecs.get(pt) != codec:
        raise SdpError(f"{codec.name.upper()} as payload type {pt} was not offered")
    if answer.profile != offer.profile:
        raise SdpError(f"profile {answer.profile} to an offer of {offer.profile}")
    if answer.direction not in ANSWERABLE[offer.direction]:
        raise SdpError(f"{answer.direction} to an offer of {offer.direction}")
    if offer.crypto and not any((c.tag, c.suite) == (o.tag, o.suite) for c in answer.crypto for o in offer.crypto):
        raise SdpError("no crypto line for the one offered")
    return pt, codec


def offer(address: str, port: int, preference: tuple[Codec, ...] = CODECS,
          crypto: Crypto | None = None) -> AudioDescription:
    codecs = {DYNAMIC_OPUS if c.static_pt is None else c.static_pt: c for c in preference}
    return AudioDescription(address, port, codecs, DYNAMIC_DTMF, profile="RTP/SAVP" if crypto else "RTP/AVP",
                            crypto=[crypto] if crypto is not None else [])


def serialize(desc: AudioDescription, session_id: int, version: int = 0) -> bytes:
    """``version``: the o-line's, one more each time a session's description changes (RFC 3264 §8)."""
    sid = session_id
    family = "IP6" if ":" in desc.address else "IP4"
    pts = [*desc.codecs, *([desc.dtmf_pt] if desc.dtmf_pt is not None else [])]
    lines = [
        "v=0", f"o=jitsi-py {sid} {sid + version} IN {family} {desc.address}", "s=-",
        f"c=IN {family} {desc.address}", "t=0 0",
        f"m=audio {desc.port} {desc.profile} " + " ".join(str(pt) for pt in pts),
    ]
    for pt, codec in desc.codecs.items():
        channels = f"/{codec.channels}" if codec.channels > 1 else ""
        lines.append(f"a=rtpmap:{pt} {codec.name.upper() if codec.static_pt is not None else codec.name}"
                     f"/{codec.clock}{channels}")
        if codec.fmtp:
            lines.append(f"a=fmtp:{pt} {codec.fmtp}")
    if desc.dtmf_pt is not None:
        lines += [f"a=rtpmap:{desc.dtmf_pt} telephone-event/{desc.dtmf_clock}", f"a=fmtp:{desc.dtmf_pt} 0-16"]
    lines += [f"a=crypto:{c.tag} {c.suite} {c.key_params}" for c in desc.crypto]
    lines += [f"a=ptime:{desc.ptime}", f"a={desc.direction}"]
    for other in desc.other_media:
        parts = other.split()
        lines.append(f"m={parts[0]} 0 {parts[2]} {' '.join(parts[3:])}")
    return ("\r\n".join(lines) + "\r\n").encode()
