"""SIP messages (RFC 3261 §7, §20, §25): parse bytes into a request or a response and serialise them back.

Headers keep their order and their wire spelling is normalised to the long canonical name (compact
forms such as ``v`` and ``i`` are expanded), so ``msg.header("via")`` finds ``v:`` too. Anything the
grammar does not allow raises :class:`SipSyntaxError` with the status to answer (400 unless said
otherwise) and a precise reason; the codec never raises anything else on untrusted bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_MESSAGE_SIZE = 64 * 1024  # RFC 3261 §18.1.1 leaves it open; far above any call setup we expect
MAX_HEADERS = 128

COMPACT = {
    "i": "Call-ID", "m": "Contact", "e": "Content-Encoding", "l": "Content-Length", "c": "Content-Type",
    "f": "From", "s": "Subject", "k": "Supported", "t": "To", "v": "Via", "o": "Event", "r": "Refer-To",
    "b": "Referred-By", "u": "Allow-Events", "a": "Accept-Contact", "j": "Reject-Contact", "d": "Request-Disposition",
    "x": "Session-Expires", "y": "Identity",
}
CANONICAL = {name.lower(): name for name in (
    "Accept", "Allow", "Authorization", "Call-ID", "Contact", "Content-Length", "Content-Type", "CSeq",
    "Expires", "From", "Max-Forwards", "Min-Expires", "Proxy-Authenticate", "Proxy-Authorization",
    "Record-Route", "Route", "Server", "Supported", "To", "User-Agent", "Via", "WWW-Authenticate",
    "Event", "Subject", "Content-Encoding", "Allow-Events", "Refer-To", "Referred-By", "Session-Expires",
    "Reason", "Warning", "Retry-After", "Unsupported", "Require", "Min-SE",
)}
# Headers whose comma-separated values are separate entries (§7.3.1); the auth headers are not.
LIST_HEADERS = frozenset({"via", "contact", "route", "record-route", "allow", "supported", "require"})
REQUIRED = ("to", "from", "call-id", "cseq", "via")

TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
VERSION = "SIP/2.0"


class SipSyntaxError(ValueError):
    """Bytes that are no valid SIP message; ``status`` is what a server answers (when it can)."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def canonical(name: str) -> str:
    low = name.lower()
    if low in COMPACT:
        return COMPACT[low]
    return CANONICAL.get(low, name)


def _split_commas(value: str) -> list[str]:
    """Split on commas outside quotes and angle brackets."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(value):
        ch = value[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            parts.append(value[start:i].strip())
            start = i + 1
        i += 1
    parts.append(value[start:].strip())
    return [p for p in parts if p]


@dataclass
class Message:
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        wanted = canonical(name).lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        wanted = canonical(name).lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    def set(self, name: str, value: str) -> None:
        """Replace every ``name`` header with one (appended when there was none)."""
        name = canonical(name)
        low = name.lower()
        for i, (key, _) in enumerate(self.headers):
            if key.lower() == low:
                self.headers[i] = (name, value)
                self.headers = [h for j, h in enumerate(self.headers) if j <= i or h[0].lower() != low]
                return
        self.headers.append((name, value))

    def add(self, name: str, value: str, first: bool = False) -> None:
        entry = (canonical(name), value)
        if first:
            self.headers.insert(0, entry)
        else:
            self.headers.append(entry)

    def remove(self, name: str) -> None:
        low = canonical(name).lower()
        self.headers = [h for h in self.headers if h[0].lower() != low]

    @property
    def call_id(self) -> str:
        return self.header("call-id") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        return parse_cseq(self.header("cseq") or "")

    @property
    def branch(self) -> str:
        via = self.header("via")
        return parse_via(via).params.get("branch", "") if via else ""

    def _head_and_body(self, start_line: str) -> bytes:
        lines = [start_line]
        lines += [f"{name}: {value}" for name, value in self.headers if name.lower() != "content-length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass
class Request(Message):
    method: str = ""
    uri: str = ""

    def __bytes__(self) -> bytes:
        return self._head_and_body(f"{self.method} {self.uri} {VERSION}")


@dataclass
class Response(Message):
    status: int = 0
    reason: str = ""

    def __bytes__(self) -> bytes:
        return self._head_and_body(f"{VERSION} {self.status} {self.reason}")


def parse(data: bytes, lenient: bool = False) -> Request | Response:
    """One whole message (a UDP datagram, or one framed off a stream by :func:`frame_length`).
    ``lenient`` skips the checks across headers (CSeq method, Content-Length), to answer a request
    that failed them with the status it deserves."""
    if len(data) > MAX_MESSAGE_SIZE:
        raise SipSyntaxError("message too large", 513)
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
        if not sep:
            raise SipSyntaxError("no empty line after the headers")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipSyntaxError("headers are not UTF-8") from None
    lines = text.replace("\r\n", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)  # §7.5: stray CRLFs before the start line
    if not lines:
        raise SipSyntaxError("empty message")
    msg = _start_line(lines[0], lenient)
    msg.headers = _headers(lines[1:])
    for name in REQUIRED:
        if msg.header(name) is None:
            raise SipSyntaxError(f"missing {canonical(name)} header")
    number, method = msg.cseq
    if lenient:
        return msg
    if isinstance(msg, Request) and method != msg.method:
        raise SipSyntaxError(f"CSeq method {method} does not match {msg.method}")
    length = msg.header("content-length")
    if length is not None:
        if not length.strip().isdigit():
            raise SipSyntaxError(f"Content-Length {length!r} is not a number")
        size = int(length)
        if size > len(body):
            raise SipSyntaxError(f"Content-Length {size} is more than the {len(body)} bytes that came")
        body = body[:size]
    msg.body = body
    return msg


def _start_line(line: str, lenient: bool = False) -> Request | Response:
    if line.startswith("SIP/"):
        parts = line.split(" ", 2)
        if len(parts) < 2 or parts[0] != VERSION:
            raise SipSyntaxError(f"bad status line {line[:80]!r}")
        if not (parts[1].isdigit() and len(parts[1]) == 3 and 100 <= int(parts[1]) <= 699):
            raise SipSyntaxError(f"bad status code {parts[1][:10]!r}")
        return Response(status=int(parts[1]), reason=parts[2] if len(parts) > 2 else "")
    parts = line.split(" ")
    if len(parts) != 3:
        raise SipSyntaxError(f"bad request line {line[:80]!r}")
    method, uri, version = parts
    if not TOKEN.fullmatch(method):
        raise SipSyntaxError(f"bad method {method[:20]!r}")
    if version != VERSION and not (lenient and version.startswith("SIP/")):
        raise SipSyntaxError(f"unsupported version {version[:20]!r}", 505)
    if ":" not in uri or any(c in uri for c in "<>\" "):
        raise SipSyntaxError(f"bad request-URI {uri[:80]!r}")
    return Request(method=method, uri=uri)


def _headers(lines: list[str]) -> list[tuple[str, str]]:
    unfolded: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not unfolded:
                raise SipSyntaxError("continuation line before any header")
            unfolded[-1] += " " + line.strip()
        elif line:
            unfolded.append(line)
    headers: list[tuple[str, str]] = []
    for line in unfolded:
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not TOKEN.fullmatch(name):
            raise SipSyntaxError(f"bad header line {line[:80]!r}")
        name = canonical(name)
        value = value.strip()
        if name.lower() in LIST_HEADERS:
            headers += [(name, part) for part in _split_commas(value)]
        else:
            headers.append((name, value))
        if len(headers) > MAX_HEADERS:
            raise SipSyntaxError("too many headers")
    return headers


def frame_length(buffer: bytes | bytearray) -> int | None:
    """On a stream (TCP, TLS): the length of the first whole message in ``buffer``, None while it is
    incomplete. Content-Length is mandatory there (§18.3)."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_MESSAGE_SIZE:
            raise SipSyntaxError("headers too large", 513)
        return None
    match = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*\r?$", bytes(buffer[:end]))
    if match is None:
        raise SipSyntaxError("no Content-Length on a stream transport")
    total = end + 4 + int(match.group(1))
    if total > MAX_MESSAGE_SIZE:
        raise SipSyntaxError("message too large", 513)
    return total if len(buffer) >= total else None


# ---- header values ----

def parse_cseq(value: str) -> tuple[int, str]:
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdigit() or not TOKEN.fullmatch(parts[1]) or len(parts[0]) > 10:
        raise SipSyntaxError(f"bad CSeq {value[:40]!r}")
    number = int(parts[0])
    if number >= 2 ** 31:
        raise SipSyntaxError(f"CSeq number {number} out of range")
    return number, parts[1]


def _params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in text.split(";"):
        part = part.strip()
        if part:
            key, _, value = part.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
    return params


@dataclass
class Via:
    transport: str
    host: str
    port: int | None
    params: dict[str, str]

    def __str__(self) -> str:
        hostport = self.host if self.port is None else f"{self.host}:{self.port}"
        extra = "".join(f";{k}" if v == "" else f";{k}={v}" for k, v in self.params.items())
        return f"SIP/2.0/{self.transport} {hostport}{extra}"


def parse_via(value: str) -> Via:
    match = re.fullmatch(r"\s*SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)\s+([^;\s]+)\s*(;.*)?", value, re.S)
    if not match:
        raise SipSyntaxError(f"bad Via {value[:80]!r}")
    host, port = split_hostport(match.group(2))
    return Via(match.group(1).upper(), host, port, _params(match.group(3) or ""))


def split_hostport(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = text.partition(":")
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise SipSyntaxError(f"bad port in {text[:60]!r}")
        return host, int(port_text)
    if not host:
        raise SipSyntaxError(f"no host in {text[:60]!r}")
    return host, None


@dataclass
class Uri:
    scheme: str
    user: str
    host: str
    port: int | None = None
    params: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port else ""
        extra = "".join(f";{k}" if v == "" else f";{k}={v}" for k, v in self.params.items())
        return f"{self.scheme}:{user}{host}{port}{extra}"


def parse_uri(text: str) -> Uri:
    scheme, colon, rest = text.strip().partition(":")
    scheme = scheme.lower()
    if not colon or scheme not in ("sip", "sips", "tel"):
        raise SipSyntaxError(f"unsupported URI {text[:60]!r}", 416)
    if scheme == "tel":
        number, _, params = rest.partition(";")
        return Uri(scheme, number, "", None, _params(params))
    rest, _, _headers_part = rest.partition("?")
    userinfo, at, hostpart = rest.rpartition("@")
    if not at:
        hostpart = rest
    hostport, _, params = hostpart.partition(";")
    host, port = split_hostport(hostport)
    return Uri(scheme, userinfo.partition(":")[0], host.lower(), port, _params(params))


@dataclass
class Address:
    """A name-addr or addr-spec with header parameters (From, To, Contact, Route)."""

    uri: str
    display: str = ""
    params: dict[str, str] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        return self.params.get("tag", "")

    def __str__(self) -> str:
        display = f'"{self.display}" ' if self.display else ""
        extra = "".join(f";{k}" if v == "" else f";{k}={v}" for k, v in self.params.items())
        return f"{display}<{self.uri}>{extra}"


def parse_address(value: str) -> Address:
    value = value.strip()
    if "<" in value:
        before, _, rest = value.partition("<")
        uri, closed, params = rest.partition(">")
        if not closed:
            raise SipSyntaxError(f"unclosed < in {value[:60]!r}")
        display = before.strip()
        if display.startswith('"') and display.endswith('"') and len(display) >= 2:
            display = display[1:-1].replace('\\"', '"')
        return Address(uri.strip(), display, _params(params))
    if value == "*":
        return Address("*")
    uri, _, params = value.partition(";")  # addr-spec: its parameters belong to the header
    if ":" not in uri:
        raise SipSyntaxError(f"bad address {value[:60]!r}")
    return Address(uri.strip(), "", _params(params))


def parse_auth(value: str) -> tuple[str, dict[str, str]]:
    """``Digest realm="x", nonce="y"`` -> ("digest", {...})."""
    scheme, _, rest = value.strip().partition(" ")
    params: dict[str, str] = {}
    for part in _split_commas(rest):
        key, eq, val = part.partition("=")
        if eq:
            params[key.strip().lower()] = val.strip().strip('"')
    return scheme.lower(), params
