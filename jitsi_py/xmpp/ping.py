"""XEP-0199: the server answers pings (the client checks every 10 s); it pings idle clients in c2s.py."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from ..common import ns
from .router import Router, result_for


def pong(router: Router, iq: Element, address: str) -> Element:
    return result_for(iq)


def install(router: Router) -> None:
    router.handle_server_iq("get", ns.tag(ns.PING, "ping"), pong)
