"""Custom plugins from CONFIG/prosody/prosody-plugins-custom, named by XMPP_*MODULES and GLOBAL_MODULES."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import slixmpp

from jitsi_py.common.startup import StartupError
from jitsi_py.xmpp.plugins import PLUGIN_DIR
from jitsi_py.xmpp.server import XmppServer

from .conftest import PASSWORDS, connect, disconnect, make_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "plugins" / "room_name_filter.py"

SERVER_VERSION = '''
from xml.etree.ElementTree import SubElement

from jitsi_py.xmpp.router import result_for

QUERY = "{jabber:iq:version}query"


def setup(ctx):
    def version(router, iq, address):
        reply = result_for(iq)
        query = SubElement(reply, QUERY)
        SubElement(query, "{jabber:iq:version}name").text = "jitsi-py with " + ctx.name
        return reply

    ctx.handle_server_iq("get", QUERY, version)
'''


def plugin_dir(config: Path) -> Path:
    directory = config / PLUGIN_DIR
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def settings_values(tmp_path):
    directory = plugin_dir(tmp_path)
    shutil.copy(EXAMPLE, directory)
    (directory / "server_version.py").write_text(SERVER_VERSION)
    return {"JITSI_PY_MUC_WAIT_FOR_FOCUS": "0", "XMPP_MUC_MODULES": "room_name_filter",
            "XMPP_MODULES": "server_version", "GLOBAL_MODULES": "muc_lobby_rooms,ping"}


async def join(client: slixmpp.ClientXMPP, room: str, nick: str):
    answered: asyncio.Future = asyncio.get_running_loop().create_future()

    def on_presence(presence) -> None:
        if presence["from"].bare == room and presence["from"].resource == nick and not answered.done():
            answered.set_result(presence)

    client.add_event_handler("presence", on_presence)
    client.send_presence(pto=f"{room}/{nick}", pstatus=None)
    return await asyncio.wait_for(answered, 10)


async def test_the_example_muc_plugin_refuses_a_real_clients_join_and_lets_others_in(server):
    client = await connect(server, "meet.jitsi", mechanism="ANONYMOUS")
    try:
        refused = await join(client, "admin@muc.meet.jitsi", "alice")
        assert refused["type"] == "error"
        assert refused["error"]["condition"] == "not-allowed"
        assert "not open on this server" in refused["error"]["text"]
        admitted = await join(client, "standup@muc.meet.jitsi", "alice")
        assert admitted["type"] != "error"
    finally:
        await disconnect(client)


async def test_a_server_plugin_answers_iqs_to_the_virtual_host(server):
    client = await connect(server, "meet.jitsi", mechanism="ANONYMOUS")
    try:
        iq = client.make_iq_get(ito="meet.jitsi")
        iq.xml.append(slixmpp.ET.Element("{jabber:iq:version}query"))
        reply = await iq.send(timeout=10)
        assert reply.xml.findtext("{jabber:iq:version}query/{jabber:iq:version}name") == "jitsi-py with server_version"
    finally:
        await disconnect(client)


def build(tmp_path: Path, **values: str) -> XmppServer:
    return XmppServer(make_settings(tmp_path, **values))


@pytest.mark.parametrize("source, reason", [
    ("def setup(ctx:\n", "failed to load: SyntaxError"),
    ("import no_such_module_here\ndef setup(ctx): pass\n", "failed to load: ModuleNotFoundError"),
    ("VALUE = 1\n", "has no setup(ctx) function"),
    ("def setup(ctx):\n    raise RuntimeError('no licence key')\n", "failed to set up: RuntimeError: no licence key"),
    ("def setup(ctx):\n    ctx.handle_server_iq('get', '{x}y', None)\n",
     "failed to set up: RuntimeError: XMPP_MUC_MODULES"),
])
def test_a_plugin_that_fails_stops_the_start_with_one_line_naming_its_file(tmp_path, source, reason):
    (plugin_dir(tmp_path) / "broken.py").write_text(source)
    with pytest.raises(StartupError) as raised:
        build(tmp_path, XMPP_MUC_MODULES="room_name_filter,broken")
    message = str(raised.value)
    assert message.startswith(f"XMPP_MUC_MODULES: plugin {tmp_path / PLUGIN_DIR / 'broken.py'} ")
    assert reason in message
    assert "\n" not in message


def test_server_plugins_have_no_muc_hooks(tmp_path):
    (plugin_dir(tmp_path) / "hooked.py").write_text(
        "from jitsi_py.xmpp.muc.hooks import Hook\ndef setup(ctx):\n    ctx.on(Hook.PRE_JOIN, print)\n")
    with pytest.raises(StartupError, match="XMPP_MODULES: plugin .*hooked.py failed to set up: RuntimeError"):
        build(tmp_path, XMPP_MODULES="hooked")


def test_the_start_exits_2_with_that_line(tmp_path):
    (plugin_dir(tmp_path) / "broken.py").write_text("raise ValueError('bad plugin')\n")
    env = {**os.environ, **PASSWORDS, "CONFIG": str(tmp_path), "XMPP_INTERNAL_MUC_MODULES": "broken",
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "jitsi_py.xmpp"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=30, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"jitsi_py.xmpp: XMPP_INTERNAL_MUC_MODULES: plugin {tmp_path / PLUGIN_DIR / 'broken.py'} "
        "failed to load: ValueError: bad plugin")


def test_unknown_names_warn_once_naming_the_variable_and_built_in_names_are_silent(tmp_path, caplog):
    (plugin_dir(tmp_path) / "mod_muc_census.lua").write_text("-- a Prosody module\n")
    with caplog.at_level(logging.DEBUG, logger="jitsi_py.xmpp.plugins"):
        build(tmp_path, GLOBAL_MODULES="muc_lobby_rooms,smacks", XMPP_MUC_MODULES="muc_census",
              XMPP_INTERNAL_MUC_MODULES="muc_max_occupants,no_such_thing")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("XMPP_MUC_MODULES: ")
    assert "mod_muc_census.lua is a Prosody (Lua) module" in warnings[0]
    assert warnings[1].startswith("XMPP_INTERNAL_MUC_MODULES: no module 'no_such_thing'")


@pytest.mark.parametrize("config, warned", [("", 0), ("   ", 0), ('log = { info = "*console" }', 1)])
def test_global_config_is_lua_and_said_to_be_ignored(tmp_path, caplog, config, warned):
    with caplog.at_level(logging.WARNING, logger="jitsi_py.xmpp.plugins"):
        build(tmp_path, GLOBAL_CONFIG=config)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == warned
    assert all(m.startswith("GLOBAL_CONFIG is Prosody (Lua) configuration") for m in messages)


def test_a_plugin_named_twice_is_set_up_once_per_host(tmp_path):
    (plugin_dir(tmp_path) / "counting.py").write_text(
        "SEEN = []\ndef setup(ctx):\n    SEEN.append((ctx.variable, ctx.muc.domain))\n")
    build(tmp_path, XMPP_MUC_MODULES="counting", XMPP_INTERNAL_MUC_MODULES="counting")
    assert sys.modules["jitsi_py_plugins.counting"].SEEN == [
        ("XMPP_MUC_MODULES", "muc.meet.jitsi"), ("XMPP_INTERNAL_MUC_MODULES", "internal-muc.meet.jitsi")]


def test_the_plugin_docs_list_every_hook():
    from jitsi_py.xmpp.muc.hooks import Hook

    hooks_section = (ROOT / "docs" / "plugins.md").read_text().partition("## 3. The hooks")[2].partition("## 4.")[0]
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", hooks_section, re.MULTILINE))
    assert documented == {hook.name for hook in Hook}


def test_lobby_breakout_and_speakerstats_plugins_attach_to_their_mucs(tmp_path):
    (plugin_dir(tmp_path) / "where.py").write_text(
        "SEEN = []\ndef setup(ctx):\n    SEEN.append((ctx.variable, ctx.muc.domain))\n")
    build(tmp_path, XMPP_LOBBY_MUC_MODULES="where", XMPP_BREAKOUT_MUC_MODULES="where",
          XMPP_SPEAKERSTATS_MODULES="where", ENABLE_LOBBY="1", ENABLE_BREAKOUT_ROOMS="1")
    assert sys.modules["jitsi_py_plugins.where"].SEEN == [
        ("XMPP_LOBBY_MUC_MODULES", "lobby.meet.jitsi"), ("XMPP_BREAKOUT_MUC_MODULES", "breakout.meet.jitsi"),
        ("XMPP_SPEAKERSTATS_MODULES", "muc.meet.jitsi")]


def test_plugins_for_a_muc_that_is_off_are_named_in_one_warning(tmp_path, caplog):
    (plugin_dir(tmp_path) / "lobbyonly.py").write_text("def setup(ctx):\n    raise AssertionError('set up')\n")
    with caplog.at_level(logging.WARNING, logger="jitsi_py.xmpp.plugins"):
        build(tmp_path, XMPP_LOBBY_MUC_MODULES="lobbyonly", ENABLE_LOBBY="0")
    assert [r.getMessage() for r in caplog.records] == [
        "XMPP_LOBBY_MUC_MODULES: the MUC it names is off (lobby or breakout rooms disabled): lobbyonly not loaded"]
