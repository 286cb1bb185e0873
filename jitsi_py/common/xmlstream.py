"""XML streams without I/O: a bounded incremental parser and a serializer that writes plain ``xmlns``.

The parser (:class:`XmlStreamParser`) takes bytes and returns events: a :class:`StreamOpen` for
the root element's start tag, one ``Element`` per complete child of the root (a stanza), and
:data:`STREAM_CLOSE` for the root's end tag. Anything the server must not accept raises
:class:`StreamError` with the RFC 6120 condition to send back: ill-formed XML or bad UTF-8
(``not-well-formed``), a DOCTYPE, entity declaration, processing instruction or comment
(``restricted-xml``), a stanza past the size, depth or attribute bounds (``policy-violation``).
The parser is dead after raising; the stream it served is closed.

Stanzas come out with the ``jabber:client`` namespace whatever the stream's content namespace was
(``jabber:component:accept`` on a component stream, the BOSH ``<body/>`` namespace when a client
left the stanza's own ``xmlns`` out), so routing and components see one vocabulary.

The serializer writes namespaces as ``xmlns="..."`` attributes, never ``ns0:`` prefixes (the
Jitsi client selects children by their ``xmlns`` attribute), and can serialize a stanza once
and splice a different ``to`` per recipient (:func:`split_for_fanout`).
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element
from xml.parsers import expat

from . import ns

DEFAULT_MAX_STANZA = 256 * 1024
DEFAULT_MAX_DEPTH = 48  # Jingle with payload parameters nests 7 deep; room forms about 5
DEFAULT_MAX_ATTRIBUTES = 64
# Content namespaces that stand for "the stream's default", all read as jabber:client.
_AS_CLIENT = {ns.COMPONENT: ns.CLIENT, ns.HTTPBIND: ns.CLIENT, ns.SERVER: ns.CLIENT}
_TAG_CACHE_LIMIT = 4096  # hostile peers invent tag names; stop caching past this many


class StreamError(Exception):
    """The peer broke the stream; ``condition`` is the RFC 6120 §4.9.3 element to answer with."""

    def __init__(self, condition: str, text: str = "") -> None:
        super().__init__(f"{condition}: {text}" if text else condition)
        self.condition = condition
        self.text = text


@dataclass(frozen=True, slots=True)
class StreamOpen:
    tag: str  # Clark notation: "{http://etherx.jabber.org/streams}stream", "{...httpbind}body"
    attrs: dict[str, str]  # namespaced attributes in Clark notation ("{...XML...}lang")


class _StreamClose:
    __slots__ = ()

    def __repr__(self) -> str:
        return "STREAM_CLOSE"


STREAM_CLOSE = _StreamClose()
Event = StreamOpen | Element | _StreamClose

_tags: dict[str, str] = {}


def _clark(name: str) -> str:
    """expat's ``uri}local`` (we pass ``}`` as separator) to ``{uri}local``."""
    tag = _tags.get(name)
    if tag is None:
        uri, sep, local = name.rpartition("}")
        if not sep:
            tag = local
        else:
            tag = "{" + _AS_CLIENT.get(uri, uri) + "}" + local
        if len(_tags) < _TAG_CACHE_LIMIT:
            _tags[name] = tag
    return tag


def _attr_name(name: str) -> str:
    return name if "}" not in name else "{" + name


class XmlStreamParser:
    """One XML stream (or one BOSH body) read incrementally, within bounds."""

    def __init__(
        self,
        max_stanza_size: int = DEFAULT_MAX_STANZA,
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_attributes: int = DEFAULT_MAX_ATTRIBUTES,
    ) -> None:
        self.max_stanza_size = max_stanza_size
        self.max_depth = max_depth
        self.max_attributes = max_attributes
        self.reset()

    def reset(self) -> None:
        """A fresh stream on the same connection (after STARTTLS and SASL success)."""
        p = expat.ParserCreate("UTF-8", "}")
        p.buffer_text = True
        p.buffer_size = 2048  # per connection: small keeps idle sessions cheap
        p.ordered_attributes = False
        p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._text
        p.StartDoctypeDeclHandler = self._refuse_doctype
        p.EntityDeclHandler = self._refuse_entity
        p.ProcessingInstructionHandler = self._refuse_pi
        p.CommentHandler = self._refuse_comment
        self._parser = p
        self._stack: list[Element] = []
        self._events: list[Event] = []
        self._fed = 0
        self._boundary = 0  # byte index where the current stanza may have started
        self._closed = False

    @property
    def depth(self) -> int:
        """Open elements, the root included; 1 between stanzas."""
        return len(self._stack)

    def feed(self, data: bytes) -> list[Event]:
        if self._closed:
            if data.strip():
                raise StreamError("not-well-formed", "data after the end of the stream")
            return []
        self._fed += len(data)
        try:
            self._parser.Parse(data, False)
        except expat.ExpatError as exc:
            raise StreamError("not-well-formed", expat.errors.messages[exc.code]) from None
        if self._fed - self._boundary > self.max_stanza_size:
            raise StreamError("policy-violation", f"stanza larger than {self.max_stanza_size} bytes")
        events, self._events = self._events, []
        return events

    def _check_size(self) -> None:
        if self._parser.CurrentByteIndex - self._boundary > self.max_stanza_size:
            raise StreamError("policy-violation", f"stanza larger than {self.max_stanza_size} bytes")

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        if len(attrs) > self.max_attributes:
            raise StreamError("policy-violation", f"more than {self.max_attributes} attributes")
        stack = self._stack
        if len(stack) >= self.max_depth:
            raise StreamError("policy-violation", f"elements nested deeper than {self.max_depth}")
        for key in attrs:
            if "}" in key:
                attrs = {_attr_name(k): v for k, v in attrs.items()}
                break
        if not stack:
            uri, sep, local = name.rpartition("}")
            root = "{" + uri + "}" + local if sep else local  # the root keeps its own namespace
            self._stack.append(Element(root))
            self._events.append(StreamOpen(root, attrs))
            self._boundary = self._parser.CurrentByteIndex
            return
        self._check_size()
        element = Element(_clark(name), attrs)
        if len(stack) > 1:
            stack[-1].append(element)
        stack.append(element)

    def _end(self, name: str) -> None:
        stack = self._stack
        element = stack.pop()
        if not stack:
            self._closed = True
            self._events.append(STREAM_CLOSE)
        elif len(stack) == 1:
            self._check_size()  # a stanza that arrived whole in one read is measured here
            self._events.append(element)
            self._boundary = self._parser.CurrentByteIndex

    def _text(self, data: str) -> None:
        stack = self._stack
        if len(stack) <= 1:
            # Whitespace keepalives between stanzas: they start nothing, so they grow nothing.
            self._boundary = self._parser.CurrentByteIndex
            return
        self._check_size()
        element = stack[-1]
        if len(element):
            last = element[-1]
            last.tail = data if last.tail is None else last.tail + data
        else:
            element.text = data if element.text is None else element.text + data

    def _refuse_doctype(self, *_: object) -> None:
        raise StreamError("restricted-xml", "DOCTYPE is not allowed")

    def _refuse_entity(self, *_: object) -> None:
        raise StreamError("restricted-xml", "entity declarations are not allowed")

    def _refuse_pi(self, *_: object) -> None:
        raise StreamError("restricted-xml", "processing instructions are not allowed")

    def _refuse_comment(self, *_: object) -> None:
        raise StreamError("restricted-xml", "comments are not allowed")


def parse_document(data: bytes, **limits: int) -> tuple[StreamOpen, list[Element]]:
    """One complete document (a BOSH ``<body/>``): its root and its children, or StreamError."""
    parser = XmlStreamParser(**limits)
    events = parser.feed(data)
    try:
        parser._parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise StreamError("not-well-formed", expat.errors.messages[exc.code]) from None
    if not events or not isinstance(events[0], StreamOpen) or events[-1] is not STREAM_CLOSE:
        raise StreamError("not-well-formed", "incomplete document")
    return events[0], [e for e in events[1:-1] if isinstance(e, Element)]


# --- serializer ------------------------------------------------------------------------------

_split_cache: dict[str, tuple[str, str]] = {}


def _split(tag: str) -> tuple[str, str]:
    parts = _split_cache.get(tag)
    if parts is None:
        if tag[:1] == "{":
            uri, _, local = tag[1:].partition("}")
            parts = (uri, local)
        else:
            parts = ("", tag)
        if len(_split_cache) < _TAG_CACHE_LIMIT:
            _split_cache[tag] = parts
    return parts


def escape_text(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def escape_attr(text: str) -> str:
    text = escape_text(text)
    if '"' in text:
        text = text.replace('"', "&quot;")
    if "\n" in text or "\r" in text or "\t" in text:
        text = text.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")
    return text


def _write(out: list[str], el: Element, parent_ns: str, stream_ns: str, skip: str | None) -> None:
    uri, local = _split(el.tag)
    if uri == ns.STREAMS:
        # <stream:features/>, <stream:error/>: the prefixed form every client library looks for.
        local = "stream:" + local
        out.append("<" + local + ' xmlns:stream="' + ns.STREAMS + '"')
        uri = parent_ns
    else:
        if uri == ns.CLIENT:
            uri = stream_ns
        out.append("<" + local)
        if uri != parent_ns:
            out.append(' xmlns="' + escape_attr(uri) + '"')
    prefixes = 0
    for key, value in el.attrib.items():
        if key == skip:
            continue
        if key[:1] == "{":
            a_uri, a_local = _split(key)
            if a_uri == ns.XML:
                key = "xml:" + a_local
            else:
                prefixes += 1
                out.append(f' xmlns:a{prefixes}="{escape_attr(a_uri)}"')
                key = f"a{prefixes}:{a_local}"
        out.append(" " + key + '="' + escape_attr(value) + '"')
    if len(el) or el.text:
        out.append(">")
        if el.text:
            out.append(escape_text(el.text))
        for child in el:
            _write(out, child, uri, stream_ns, None)
            if child.tail:
                out.append(escape_text(child.tail))
        out.append("</" + local + ">")
    else:
        out.append("/>")


def serialize(element: Element, stream_ns: str = ns.CLIENT) -> bytes:
    """A stanza as a stream of ``stream_ns`` content carries it, with its own ``xmlns``.

    The top element always declares its namespace, so the same bytes are valid on a TCP stream,
    in a WebSocket frame (RFC 7395 asks for it) and inside a BOSH body.
    """
    out: list[str] = []
    _write(out, element, "", stream_ns, None)
    return "".join(out).encode()


def split_for_fanout(element: Element) -> tuple[bytes, bytes]:
    """Serialize once without ``to``; ``head + to_attribute(jid) + tail`` is the stanza for ``jid``."""
    out: list[str] = []
    _write(out, element, "", ns.CLIENT, "to")
    head = out[0]
    return head.encode(), "".join(out[1:]).encode()


def to_attribute(jid: str) -> bytes:
    return (' to="' + escape_attr(jid) + '"').encode()
