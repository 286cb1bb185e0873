"""XMPP servers the bench starts as subprocesses on ephemeral loopback ports: ours and the anchors.

Every server gets the same shape: anonymous login on the vhost `DOMAIN`, a MUC component `MUC`
with public real JIDs and unlocked new rooms, WebSocket on /xmpp-websocket and BOSH on /http-bind,
loopback only, no TLS, no rate limits. Only the configuration language differs.
"""

from __future__ import annotations

from .base import AUTH, BREWERY, DOMAIN, FOCUS, INTERNAL_MUC, MUC, Server, ServerFailed, logs_in
from .ejabberd import Ejabberd
from .janus import Janus
from .ours import Ours
from .prosody import Prosody

ANCHORS = {"prosody": Prosody, "ejabberd": Ejabberd}

__all__ = ["ANCHORS", "AUTH", "BREWERY", "DOMAIN", "INTERNAL_MUC", "FOCUS", "MUC", "Ejabberd", "Janus", "Ours",
           "Prosody", "Server", "ServerFailed", "logs_in"]
