"""python -m jitsi_py.focus: Conference focus (Jicofo's role): conference requests, bridge selection,
Colibri2, Jingle."""

import sys

from ..common.runner import main
from . import run

if __name__ == "__main__":
    sys.exit(main("jitsi_py.focus", __doc__.split(": ", 1)[1], run))
