"""Custom plugins: Python modules an operator drops into ``CONFIG/prosody/prosody-plugins-custom``.

docker-jitsi-meet's Prosody loads the extra modules named by ``GLOBAL_MODULES``, ``XMPP_MODULES``,
``XMPP_MUC_MODULES``, ``XMPP_INTERNAL_MUC_MODULES``, ``XMPP_LOBBY_MUC_MODULES``,
``XMPP_BREAKOUT_MUC_MODULES`` and ``XMPP_SPEAKERSTATS_MODULES`` from that directory; we load ``<name>.py``
from it, whose ``setup(ctx: PluginContext)`` attaches to the host the variable names, through the
same hooks and handler tables the built-in room modules use. The API, the hooks and an example are
in docs/plugins.md.

Each name is, in this order: a plugin file (loaded; a file that fails is one start error naming it),
a module whose role jitsi-py plays built in (:data:`BUILT_IN`, accepted silently), or unknown (one
warning naming the variable, as Prosody warns of a module it cannot find; the start goes on).
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from ..common.startup import StartupError
from ..settings import Settings
from .component import Host
from .muc.dispatch import Address, Handler
from .muc.hooks import Hook
from .muc.service import MucService
from .rooms import RoomContext

logger = logging.getLogger(__name__)

PLUGIN_DIR = Path("prosody") / "prosody-plugins-custom"
ServerIqHandler = Callable[[Any, Any, str], Any]  # (router, iq, address) -> reply or None
ServerIqRegistry = Callable[[str, str, ServerIqHandler], None]

# Prosody and Jitsi module names whose role jitsi-py plays without a plugin; an operator's list that
# names one (copied from a Prosody deployment) needs nothing more.
BUILT_IN = frozenset({
    # Prosody's own: what the server core does (c2s, SASL, TLS, discovery, ping, limits, BOSH...)
    "admin_shell", "bosh", "disco", "external_services", "http_health", "http_openmetrics", "limits", "muc",
    "ping", "posix", "roster", "saslauth", "smacks", "tls", "websocket", "turncredentials",
    # Jitsi's prosody-plugins: the room modules (xmpp/rooms/) and the MUC's own rules
    "av_moderation", "av_moderation_component", "client_proxy", "conference_duration",
    "conference_duration_component", "end_conference", "matrix_affiliation", "matrix_lobby_bypass",
    "muc_allowners", "muc_breakout_rooms", "muc_domain_mapper", "muc_hide_all", "muc_lobby_rooms", "muc_max_occupants",
    "muc_meeting_id", "muc_password_whitelist", "muc_rate_limit", "polls", "polls_component",
    "presence_identity", "reservations", "room_metadata", "room_metadata_component", "speakerstats",
    "speakerstats_component", "token_verification",
})


MUC_VARIABLES = frozenset({"XMPP_LOBBY_MUC_MODULES", "XMPP_BREAKOUT_MUC_MODULES"})


@dataclass
class PluginContext:
    """What a plugin's ``setup`` is given: the host it was named for and the means to attach to it.

    ``muc`` is the MUC service the variable names: the conference MUC for ``XMPP_MUC_MODULES`` and
    ``XMPP_SPEAKERSTATS_MODULES`` (upstream's speakerstats component serves that MUC), the internal,
    lobby or breakout MUC for ``XMPP_INTERNAL_MUC_MODULES``, ``XMPP_LOBBY_MUC_MODULES``,
    ``XMPP_BREAKOUT_MUC_MODULES``; None for the server-wide ``XMPP_MODULES`` and ``GLOBAL_MODULES``.
    ``rooms`` is what every built-in room module gets (every MUC host, the settings, helpers to find
    occupants and send JSON messages).
    """

    name: str
    variable: str  # the setting that named the plugin
    path: Path
    settings: Settings
    host: Host  # routes what the plugin sends (``host.send(stanza)``)
    rooms: RoomContext
    muc: MucService | None
    log: logging.Logger
    _server_iq: ServerIqRegistry | None = None

    def on(self, hook: Hook, handler: Callable[..., Any]) -> None:
        """Listen to one of the MUC's events (:class:`~.muc.hooks.Hook`)."""
        self._muc().hooks.on(hook, handler)

    def handle(self, address: Address, kind: str, type_: str | None, tag: str, handler: Handler) -> None:
        """Answer stanzas to the MUC yourself: one row of its handler table (``muc/dispatch.py``)."""
        self._muc().handlers.register(address, kind, type_, tag, handler)

    def handle_server_iq(self, type_: str, tag: str, handler: ServerIqHandler) -> None:
        """Answer IQs to the server (``to`` a virtual host) of ``type_`` whose payload is ``tag``:
        ``handler(router, iq, address)`` returns the reply (its ``from`` is set to ``address``) or
        None. Only plugins of the server (``XMPP_MODULES``, ``GLOBAL_MODULES``)."""
        if self.muc is not None or self._server_iq is None:
            raise RuntimeError(f"{self.variable} names MUC plugins: server IQs are for XMPP_MODULES or GLOBAL_MODULES")
        self._server_iq(type_, tag, handler)

    def _muc(self) -> MucService:
        if self.muc is None:
            raise RuntimeError(f"{self.variable} names server plugins: MUC hooks are for XMPP_MUC_MODULES "
                               "or XMPP_INTERNAL_MUC_MODULES (or use ctx.rooms.conference.hooks)")
        return self.muc


def load_plugins(rooms: RoomContext, server_iq: ServerIqRegistry | None) -> None:
    """Every plugin the settings name, in the order Prosody loads them: global, host, then MUCs."""
    settings = rooms.settings
    plugins = settings.xmpp.plugins
    directory = settings.common.config_dir / PLUGIN_DIR
    if plugins.global_config and plugins.global_config.strip():
        logger.warning("GLOBAL_CONFIG is Prosody (Lua) configuration: jitsi-py does not read it, ignored")
    targets: tuple[tuple[str, tuple[str, ...], MucService | None], ...] = (  # (variable, names, host)
        ("GLOBAL_MODULES", plugins.global_modules, None),
        ("XMPP_MODULES", plugins.host_modules, None),
        ("XMPP_MUC_MODULES", plugins.muc_modules, rooms.conference),
        ("XMPP_INTERNAL_MUC_MODULES", plugins.internal_muc_modules, rooms.internal),
        ("XMPP_LOBBY_MUC_MODULES", plugins.lobby_muc_modules, rooms.lobby),
        ("XMPP_BREAKOUT_MUC_MODULES", plugins.breakout_muc_modules, rooms.breakout),
        ("XMPP_SPEAKERSTATS_MODULES", plugins.speakerstats_modules, rooms.conference),
    )
    loaded: dict[Path, ModuleType] = {}
    for variable, names, muc in targets:
        if names and muc is None and variable in MUC_VARIABLES:
            logger.warning("%s: the MUC it names is off (lobby or breakout rooms disabled): %s not loaded",
                           variable, ", ".join(names))
            continue
        for name in names:
            path = directory / f"{name}.py"
            if not path.is_file():
                _not_a_plugin(variable, name, directory)
                continue
            module = loaded.get(path) or _import(variable, path)
            loaded[path] = module
            ctx = PluginContext(name=name, variable=variable, path=path, settings=settings, host=rooms.host,
                                rooms=rooms, muc=muc, log=logging.getLogger(f"jitsi_py.plugins.{name}"),
                                _server_iq=server_iq)
            try:
                module.setup(ctx)
            except Exception as exc:
                raise StartupError(f"{variable}: plugin {path} failed to set up: {_reason(exc)}") from exc
            logger.info("%s: plugin %s loaded%s", variable, name, f" on {muc.domain}" if muc is not None else "")


def _not_a_plugin(variable: str, name: str, directory: Path) -> None:
    if name in BUILT_IN:
        logger.debug("%s: %s is built in", variable, name)
        return
    lua = [p for p in (directory / f"mod_{name}.lua", directory / f"mod_{name}" / f"mod_{name}.lua") if p.is_file()]
    if lua:
        logger.warning("%s: %s is a Prosody (Lua) module, jitsi-py loads Python plugins (%s.py): ignored",
                       variable, lua[0], name)
    else:
        logger.warning("%s: no module %r (no %s.py in %s, and not built in): ignored", variable, name, name, directory)


def _import(variable: str, path: Path) -> ModuleType:
    module_name = f"jitsi_py_plugins.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise StartupError(f"{variable}: plugin {path} cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # an operator's file: whatever it raises is that file's error
        sys.modules.pop(module_name, None)
        raise StartupError(f"{variable}: plugin {path} failed to load: {_reason(exc)}") from exc
    if not callable(getattr(module, "setup", None)):
        sys.modules.pop(module_name, None)
        raise StartupError(f"{variable}: plugin {path} has no setup(ctx) function")
    return module


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
