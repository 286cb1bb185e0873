"""python -m jitsi_py.web: Web service (the web container's role): the browser client, config.js, HTTPS
and the proxy routes."""

import sys

from ..common.runner import main
from . import run

if __name__ == "__main__":
    sys.exit(main("jitsi_py.web", __doc__.split(": ", 1)[1], run))
