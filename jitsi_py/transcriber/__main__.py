"""python -m jitsi_py.transcriber: the transcriber (the Jigasi transcriber's role): joins meetings on
the focus's request and turns each speaker's speech into live captions and a transcript."""

import sys

from ..common.runner import main
from . import run

if __name__ == "__main__":
    sys.exit(main("jitsi_py.transcriber", __doc__.split(": ", 1)[1], run))
