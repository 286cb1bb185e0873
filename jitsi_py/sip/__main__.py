"""python -m jitsi_py.sip: the SIP gateway (Jigasi's role): phones dial in to meetings, and moderators
dial phones out of them."""

import sys

from ..common.runner import main
from . import run

if __name__ == "__main__":
    sys.exit(main("jitsi_py.sip", __doc__.split(": ", 1)[1], run))
