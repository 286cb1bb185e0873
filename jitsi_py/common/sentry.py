"""Error reporting to Sentry, as upstream's jicofo and videobridge do when given a DSN.

Upstream, each container gets its service's DSN as ``SENTRY_DSN`` (compose maps
``JICOFO_SENTRY_DSN`` and ``JVB_SENTRY_DSN``), and its log handler sends every warning and error as
an event, with ``SENTRY_ENVIRONMENT`` and ``SENTRY_RELEASE``. Ours does the same from the shared
runner: log records at WARNING and above become events (with the traceback when one is logged,
as every exception escaping a handler is), lower ones their breadcrumbs.

The Sentry SDK has one client per process. A service on its own uses ``SENTRY_DSN`` or else its
own variable; the all-in-one, whose one process runs every service, uses ``SENTRY_DSN``, else
``JICOFO_SENTRY_DSN``, else ``JVB_SENTRY_DSN``, and reports every service's events to it, each
tagged ``service`` (jicofo, jvb, prosody, web) from the logger that wrote it. Without a DSN
nothing is imported or sent.
"""

from __future__ import annotations

import logging
from importlib import metadata
from typing import Any

from ..settings.common import Sentry

logger = logging.getLogger(__name__)

# A process's services (the entry point's last name) -> the variables whose DSN they report with.
DSN_VARIABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "focus": (("JICOFO_SENTRY_DSN", "jicofo_dsn"),),
    "bridge": (("JVB_SENTRY_DSN", "jvb_dsn"),),
    "sip": (("JIGASI_SENTRY_DSN", "jigasi_dsn"),),
    "jitsi_py": (("JICOFO_SENTRY_DSN", "jicofo_dsn"), ("JVB_SENTRY_DSN", "jvb_dsn")),
}
# Logger prefixes -> the upstream service name an event is tagged with.
SERVICES = (("jitsi_py.focus", "jicofo"), ("jitsi_py.bridge", "jvb"), ("jitsi_py.xmpp", "prosody"),
            ("jitsi_py.web", "web"), ("jitsi_py.sip", "jigasi"))
ENTRY_SERVICES = {"focus": "jicofo", "bridge": "jvb", "xmpp": "prosody", "web": "web", "sip": "jigasi"}


def chosen_dsn(settings: Sentry, entry: str) -> tuple[str, str] | None:
    """(variable, DSN) the process named ``entry`` (``jitsi_py.focus``, ``jitsi_py``...) reports with."""
    if settings.dsn:
        return "SENTRY_DSN", settings.dsn
    set_ = [(name, getattr(settings, field)) for name, field in DSN_VARIABLES.get(_short(entry), ())
            if getattr(settings, field)]
    if len({dsn for _, dsn in set_}) > 1:
        logger.warning("%s and %s differ: one process has one Sentry client, every service's events go to %s's",
                       set_[0][0], set_[1][0], set_[0][0])
    return set_[0] if set_ else None


def setup(settings: Sentry, entry: str) -> bool:
    """Start reporting if the process has a DSN; True when it does."""
    chosen = chosen_dsn(settings, entry)
    if chosen is None:
        return False
    import sentry_sdk  # noqa: PLC0415 - only processes that report pay for the SDK
    from sentry_sdk.integrations.logging import LoggingIntegration  # noqa: PLC0415

    default_service = ENTRY_SERVICES.get(_short(entry))

    def tag_service(event: Any, _hint: Any) -> Any:  # the SDK's Event, a TypedDict
        name = event.get("logger") or ""
        service = next((tag for prefix, tag in SERVICES if name == prefix or name.startswith(prefix + ".")),
                       default_service)
        if service:
            event.setdefault("tags", {})["service"] = service
        return event

    sentry_sdk.init(
        dsn=chosen[1],
        environment=settings.environment,
        release=settings.release or _our_release(),
        # no tracing hooks in the media and signalling paths: errors only
        auto_enabling_integrations=False,
        integrations=[LoggingIntegration(level=None, event_level=logging.WARNING, breadcrumb_level=logging.INFO)],
        before_send=tag_service,
    )
    logger.info("reporting warnings and errors to Sentry (%s)", chosen[0])
    return True


def _short(entry: str) -> str:
    return entry.rpartition(".")[2]


def _our_release() -> str | None:
    """Upstream's default is the installed package's version; ours is jitsi-py's."""
    try:
        return f"jitsi-py@{metadata.version('jitsi-py')}"
    except metadata.PackageNotFoundError:
        return None
