"""python -m jitsi_py.xmpp: XMPP server (Prosody's role): c2s, WebSocket, BOSH, MUC and the Jitsi room modules."""

import sys

from ..common.runner import main
from . import run

if __name__ == "__main__":
    sys.exit(main("jitsi_py.xmpp", __doc__.split(": ", 1)[1], run))
