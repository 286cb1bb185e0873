"""Web service (the web container's role): the browser client, config.js, HTTPS and the proxy routes."""

from .service import run

__all__ = ["run"]
