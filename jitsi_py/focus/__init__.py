"""Conference focus (Jicofo's role): conference requests, bridge selection, Colibri2, Jingle."""

from .service import run

__all__ = ["run"]
