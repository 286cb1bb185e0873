"""HTTP digest authentication as SIP uses it (RFC 3261 §22, RFC 7616): the client's answer to a 401/407.

MD5 and SHA-256, with ``qop=auth`` when the server offers it; the nonce count is kept per nonce so a
reused nonce (on re-registration) counts up as the server expects.
"""

from __future__ import annotations

import hashlib
import secrets

from .message import SipSyntaxError, parse_auth

ALGORITHMS = {"md5": hashlib.md5, "sha-256": hashlib.sha256}


class Credentials:
    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password
        self._counts: dict[str, int] = {}

    def authorization(self, challenge: str, method: str, uri: str) -> str:
        """The Authorization (or Proxy-Authorization) value answering a WWW-Authenticate (or
        Proxy-Authenticate) ``challenge``. Raises :class:`SipSyntaxError` for what we cannot answer."""
        scheme, params = parse_auth(challenge)
        if scheme != "digest":
            raise SipSyntaxError(f"unsupported authentication scheme {scheme!r}")
        realm, nonce = params.get("realm"), params.get("nonce")
        if realm is None or not nonce:
            raise SipSyntaxError("digest challenge without realm or nonce")
        algorithm = params.get("algorithm", "MD5")
        hash_ = ALGORITHMS.get(algorithm.lower())
        if hash_ is None:
            raise SipSyntaxError(f"unsupported digest algorithm {algorithm!r}")

        def h(text: str) -> str:
            return hash_(text.encode()).hexdigest()

        ha1 = h(f"{self.username}:{realm}:{self.password}")
        ha2 = h(f"{method}:{uri}")
        qops = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
        fields = [f'username="{self.username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
        if "auth" in qops:
            count = self._counts.get(nonce, 0) + 1
            self._counts = {nonce: count}  # only the current nonce is worth remembering
            nc, cnonce = f"{count:08x}", secrets.token_hex(8)
            response = h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
            fields += [f'response="{response}"', "qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
        elif qops:
            raise SipSyntaxError(f"unsupported qop {params['qop']!r}")
        else:
            fields.append(f'response="{h(f"{ha1}:{nonce}:{ha2}")}"')
        fields.append(f"algorithm={algorithm}")
        if "opaque" in params:
            fields.append(f'opaque="{params["opaque"]}"')
        return "Digest " + ", ".join(fields)
