"""The web service (the nginx ``web`` container's role): ports, TLS, proxy targets, config.js."""

from __future__ import annotations

from dataclasses import dataclass

from .fields import boolean, env, port_number


@dataclass(frozen=True)
class Web:
    http_port: int = env("HTTP_PORT", "8000", port_number)
    https_port: int = env("HTTPS_PORT", "8443", port_number)
    disable_https: bool = env("DISABLE_HTTPS", "0", boolean)
    http_redirect: bool = env("ENABLE_HTTP_REDIRECT", "0", boolean)
    hsts: bool = env("ENABLE_HSTS", "1", boolean)
    bosh_url_base: str = env("XMPP_BOSH_URL_BASE", "http://xmpp.meet.jitsi:5280")
    letsencrypt: bool = env("ENABLE_LETSENCRYPT", "0", boolean)
    letsencrypt_domain: str | None = env("LETSENCRYPT_DOMAIN", None)
    letsencrypt_email: str | None = env("LETSENCRYPT_EMAIL", None)
    letsencrypt_staging: bool = env("LETSENCRYPT_USE_STAGING", "0", boolean)
