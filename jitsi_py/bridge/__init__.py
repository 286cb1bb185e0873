"""Videobridge (Jitsi Videobridge's role): one UDP media port, selective forwarding, bridge channel, REST."""

from .service import run

__all__ = ["run"]
