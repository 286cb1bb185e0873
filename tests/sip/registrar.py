"""Debian's kamailio as the SIP registrar and proxy in the tests, on a loopback port of its own.

REGISTER is challenged (digest, qop=auth) against one shared password; a call to a user that is not
registered names a room: the proxy turns it into a call to the gateway's account with the room in
``X-Room-Name`` (docker-jitsi-meet's header), as a PBX in front of Jigasi does. User ``busy`` is busy.
With a certificate it also takes SIP over TLS (its ``tls`` module, Debian's kamailio-tls-modules) on
``port + 1``, and opens TLS connections itself without checking certificates.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

KAMAILIO = "/usr/sbin/kamailio"
MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"

CONFIG = """#!KAMAILIO
debug=2
log_stderror=yes
children=2
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
{tls}mpath="{modules}"
{tls_module}loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "xlog.so"
modparam("usrloc", "db_mode", 0)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (is_method("REGISTER")) {{
        if (!pv_auth_check("$td", "{password}", "0", "0")) {{ auth_challenge("$td", "1"); exit; }}
        save("location");
        exit;
    }}
    if (is_method("OPTIONS") && $rU == $null) {{ sl_send_reply("200", "Keep-alive OK"); exit; }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (has_totag()) {{
        if (loose_route() || is_method("ACK|BYE|INFO|INVITE")) {{ t_relay(); }}
        exit;
    }}
    if ($rU == "busy") {{ sl_send_reply("486", "Busy Here"); exit; }}
    if (!lookup("location")) {{
        append_hf("X-Room-Name: $rU\\r\\n");
        $rU = "{gateway_user}";
        if (!lookup("location")) {{ sl_send_reply("404", "Not Registered"); exit; }}
    }}
    record_route();
    t_relay();
}}
"""


TLS_CONFIG = """[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
certificate = {cert}
private_key = {key}

[client:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
"""


class Registrar:
    def __init__(self, home: Path, port: int, password: str, gateway_user: str = "jigasi",
                 tls: tuple[Path, Path] | None = None) -> None:
        self.port = port
        home.mkdir(parents=True, exist_ok=True)
        self.config = home / "kamailio.cfg"
        listen_tls = tls_module = ""
        if tls is not None:
            (home / "tls.cfg").write_text(TLS_CONFIG.format(cert=tls[0], key=tls[1]))
            listen_tls = f"enable_tls=yes\nlisten=tls:127.0.0.1:{port + 1}\n"
            tls_module = f'loadmodule "tls.so"\nmodparam("tls", "config", "{home / "tls.cfg"}")\n'
        self.config.write_text(CONFIG.format(port=port, modules=MODULES, password=password,
                                             gateway_user=gateway_user, tls=listen_tls, tls_module=tls_module))
        self.log = home / "kamailio.log"
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Registrar:
        self.process = await asyncio.create_subprocess_exec(
            KAMAILIO, "-f", str(self.config), "-DD", "-E", "-Y", str(self.config.parent), "-P",
            str(self.config.parent / "kamailio.pid"), stdout=self.log.open("wb"), stderr=asyncio.subprocess.STDOUT)
        for _ in range(100):
            if b"INFO: <core>" in self.log.read_bytes() or self.process.returncode is not None:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        assert self.process.returncode is None, self.log.read_text()[-2000:]
        return self

    async def __aexit__(self, *exc) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
