"""python -m jitsi_py.bridge: Videobridge (Jitsi Videobridge's role): one UDP media port, selective
forwarding, bridge channel, REST."""

import sys

from ..common.runner import main
from . import run

if __name__ == "__main__":
    sys.exit(main("jitsi_py.bridge", __doc__.split(": ", 1)[1], run))
