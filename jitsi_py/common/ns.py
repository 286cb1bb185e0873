"""Every XMPP namespace string the services speak, named as Jitsi and the RFCs/XEPs name them."""

STREAMS = "http://etherx.jabber.org/streams"
CLIENT = "jabber:client"
COMPONENT = "jabber:component:accept"
SERVER = "jabber:server"
FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"  # RFC 7395 <open/>/<close/>
HTTPBIND = "http://jabber.org/protocol/httpbind"  # XEP-0124 <body/>
XBOSH = "urn:xmpp:xbosh"  # XEP-0206 attributes on <body/>
XML = "http://www.w3.org/XML/1998/namespace"

STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams"
STANZA_ERRORS = "urn:ietf:params:xml:ns:xmpp-stanzas"
TLS = "urn:ietf:params:xml:ns:xmpp-tls"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND = "urn:ietf:params:xml:ns:xmpp-bind"
SESSION = "urn:ietf:params:xml:ns:xmpp-session"
SM = "urn:xmpp:sm:3"  # XEP-0198

PING = "urn:xmpp:ping"  # XEP-0199
DISCO_INFO = "http://jabber.org/protocol/disco#info"  # XEP-0030
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
EXTDISCO = "urn:xmpp:extdisco:2"  # XEP-0215
EXTDISCO_1 = "urn:xmpp:extdisco:1"
ROSTER = "jabber:iq:roster"
VERSION = "jabber:iq:version"
TIME = "urn:xmpp:time"
LAST = "jabber:iq:last"
VCARD = "vcard-temp"
DATA_FORMS = "jabber:x:data"
CAPS = "http://jabber.org/protocol/caps"
JINGLE = "urn:xmpp:jingle:1"  # XEP-0166
JINGLE_ERRORS = "urn:xmpp:jingle:errors:1"
COMPONENT_HANDSHAKE = "jabber:component:accept"

MUC = "http://jabber.org/protocol/muc"
MUC_USER = "http://jabber.org/protocol/muc#user"
MUC_ADMIN = "http://jabber.org/protocol/muc#admin"
MUC_OWNER = "http://jabber.org/protocol/muc#owner"
MUC_ROOMCONFIG = "http://jabber.org/protocol/muc#roomconfig"  # FORM_TYPE of the owner form
MUC_ROOMINFO = "http://jabber.org/protocol/muc#roominfo"  # FORM_TYPE of a room's disco#info form
NICK = "http://jabber.org/protocol/nick"  # XEP-0172
JITSI_MEET = "http://jitsi.org/jitmeet"
JITSI_FOCUS = "http://jitsi.org/protocol/focus"
JITSI_HEALTH = "http://jitsi.org/protocol/healthcheck"
JITSI_BREAKOUT_ROOMS = "http://jitsi.org/protocol/breakout_rooms"
JITSI_LOBBY_ROOMS = "http://jitsi.org/protocol/lobbyrooms"
JITSI_MUTE_AUDIO = "http://jitsi.org/jitmeet/audio"
JITSI_MUTE_VIDEO = "http://jitsi.org/jitmeet/video"
JITSI_MUTE_DESKTOP = "http://jitsi.org/jitmeet/desktop"
COLIBRI = "http://jitsi.org/protocol/colibri"  # the bridge's <stats> in brewery presence
JINGLE_DTLS = "urn:xmpp:jingle:apps:dtls:0"  # XEP-0320
JINGLE_ICE_UDP = "urn:xmpp:jingle:transports:ice-udp:1"  # XEP-0176
JINGLE_RTP = "urn:xmpp:jingle:apps:rtp:1"  # XEP-0167
JINGLE_SSMA = "urn:xmpp:jingle:apps:rtp:ssma:0"  # XEP-0339
JINGLE_RTCP_FB = "urn:xmpp:jingle:apps:rtp:rtcp-fb:0"  # XEP-0293
JINGLE_HDREXT = "urn:xmpp:jingle:apps:rtp:rtp-hdrext:0"  # XEP-0294
JINGLE_GROUPING = "urn:xmpp:jingle:apps:grouping:0"  # XEP-0338
JINGLE_DTLS_SCTP = "urn:xmpp:jingle:transports:dtls-sctp:1"  # XEP-0343
COLIBRI2 = "jitsi:colibri2"
JITSI_ETHERPAD = "http://jitsi.org/jitmeet/etherpad"
JIBRI = "http://jitsi.org/protocol/jibri"  # recorder IQs, brewery status, the focus's recording status
JIBRI_CALL_STATE = "http://jitsi.org/protocol/jibri/call_state"
JITSI_HEALTH_STATUS = "http://jitsi.org/protocol/health"  # <health-status> in a recorder's brewery presence
RAYO = "urn:xmpp:rayo:1"  # dial-out to a SIP gateway
JIGASI_INITIATOR = "http://jitsi.org/protocol/jigasi"


def tag(namespace: str, local: str) -> str:
    """Clark notation, as ElementTree spells qualified names."""
    return "{" + namespace + "}" + local
