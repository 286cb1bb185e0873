"""XMPP server (Prosody's role): c2s, WebSocket, BOSH, MUC and the Jitsi room modules."""

from .service import run

__all__ = ["run"]
