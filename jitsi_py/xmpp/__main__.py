"""python -m jitsi_py.xmpp: XMPP server (Prosody's role): c2s, WebSocket, BOSH, MUC and the Jitsi room modules.

With a subcommand (register, unregister, list-users) it manages accounts like prosodyctl.
"""

import sys

from ..common.runner import main
from . import cli, run

if __name__ == "__main__":
    if any(arg in cli.COMMANDS for arg in sys.argv[1:]):
        sys.exit(cli.main("jitsi_py.xmpp", sys.argv[1:]))
    sys.exit(main("jitsi_py.xmpp", __doc__.split(": ", 1)[1].split("\n")[0], run))
