"""The SIP gateway (Jigasi's role): phones dial in to meetings and meetings dial out to phones."""

from .service import run

__all__ = ["run"]
