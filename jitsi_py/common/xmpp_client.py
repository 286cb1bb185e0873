"""The slixmpp connection of a service account (focus, bridge) to the deployment's XMPP server."""

from __future__ import annotations

import ssl

import slixmpp

from .errors import StanzaError, error_element


def service_client(jid: str, password: str) -> slixmpp.ClientXMPP:
    """A c2s client set up as docker's jicofo and jvb are: the XMPP server is internal, so its
    certificate is not checked; STARTTLS is used whenever offered, and an internal server that
    offers none still gets the login (PLAIN or SCRAM)."""
    xmpp = slixmpp.ClientXMPP(jid, password)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    xmpp.ssl_context = context
    xmpp.enable_direct_tls = False
    xmpp.enable_plaintext = True
    xmpp.plugin["feature_mechanisms"].unencrypted_scram = True
    xmpp.plugin["feature_mechanisms"].unencrypted_plain = True
    xmpp.whitespace_keepalive_interval = 30
    for plugin in ("xep_0030", "xep_0199"):
        xmpp.register_plugin(plugin)
    # slixmpp keeps every disco#info result it receives, forever: the focus asks each participant and
    # each room, so that grew ~13 KB per participant (bench soak). What is worth keeping, caps.py keeps.
    xmpp.plugin["xep_0030"].use_cache = False
    return xmpp


def send_error(iq: slixmpp.Iq, error: StanzaError) -> None:
    """slixmpp's reply to ``iq`` (its addressing) carrying our ``<error>``, without XEP-0086's ``code``:
    neither jicofo's answers nor JVB's carry one."""
    reply = iq.reply(clear=True)
    reply["type"] = "error"
    reply.xml.append(error_element(error, legacy_code=False))
    reply.send()
