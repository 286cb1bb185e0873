"""python -m jitsi_py.recorder: the recorder (Jibri's role): joins meetings on the focus's request and
records them to MP4 files or streams them over RTMP."""

import sys

from ..common.runner import main
from . import run

if __name__ == "__main__":
    sys.exit(main("jitsi_py.recorder", __doc__.split(": ", 1)[1], run))
