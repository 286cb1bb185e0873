"""Debian's baresip as the phone in the tests: it plays a WAV file as its microphone and dumps what it
hears (sndfile) to WAV files; driven by commands on its standard input."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import wave
from pathlib import Path

import numpy as np

BARESIP = shutil.which("baresip") or "/usr/bin/baresip"
MODULES = "/usr/lib/baresip/modules"


def free_sip_port(tls: bool = False) -> int:
    """A port free on both UDP and TCP: baresip listens on both; with ``tls``, the next one free on TCP
    too, where baresip and kamailio take SIP over TLS."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp, \
                    socket.socket(socket.AF_INET, socket.SOCK_STREAM) as secure:
                try:
                    tcp.bind(("127.0.0.1", port))
                    if tls:
                        secure.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise AssertionError("no port free on UDP and TCP")


def write_tone(path: Path, hz: float, seconds: float = 30, rate: int = 48000, amplitude: int = 8000,
               channels: int = 1) -> Path:
    """baresip's file source takes the rate and channels of the codec it sends (Opus: 48 kHz stereo)."""
    t = np.arange(int(rate * seconds)) / rate
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.repeat((amplitude * np.sin(2 * np.pi * hz * t)).astype("<i2"), channels).tobytes())
    return path


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as src:
        data = np.frombuffer(src.readframes(src.getnframes()), "<i2").astype(np.float64)
        return data.reshape(-1, src.getnchannels())[:, 0], src.getframerate()


def tone_share(samples: np.ndarray, rate: int, hz: float) -> tuple[float, float]:
    """(RMS, share of the spectrum's energy within 20 Hz of ``hz``)."""
    rms = float(np.sqrt(np.mean(samples ** 2))) if samples.size else 0.0
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / rate)
    return rms, float(spectrum[np.abs(freqs - hz) < 20].sum() / (spectrum.sum() or 1.0))


class Phone:
    def __init__(self, home: Path, port: int, tone: Path, *, user: str = "phone", account_params: str = "",
                 password: str | None = None, registrar: str | None = None, rtp_ports: str = "30000-30100",
                 tls: tuple[Path, Path] | None = None, events: bool = False) -> None:
        """``tls``: a certificate and its key; baresip then also takes SIP over TLS, on ``port + 1``.
        ``events``: baresip's events (ctrl_tcp's JSON: received DTMF among them) are kept in ``events``."""
        self.home, self.port = home, port
        self.control_port = free_sip_port() if events else None
        self.events: list[dict] = []
        home.mkdir(parents=True, exist_ok=True)
        pem = home / "tls.pem"
        if tls is not None:
            pem.write_bytes(tls[0].read_bytes() + tls[1].read_bytes())
        (home / "config").write_text("\n".join([
            "poll_method epoll", f"sip_listen 127.0.0.1:{port}", "net_interface 127.0.0.1",
            "audio_player alsa,null", "audio_alert alsa,null", f"audio_source aufile,{tone}",
            f"snd_path {home}", f"module_path {MODULES}", f"rtp_ports {rtp_ports}",
            *([f"sip_certificate {pem}", f"sip_cafile {tls[0]}"] if tls is not None else []),
            *(f"module {m}.so" for m in ("stdio", "g711", "g722", "opus", "aufile", "alsa", "sndfile", "srtp")),
            "module_app account.so", "module_app menu.so",
            *([f"ctrl_tcp_listen 127.0.0.1:{self.control_port}", "module_app ctrl_tcp.so"] if events else []), "",
        ]))
        where = registrar or f"127.0.0.1:{port}"
        params = (f";auth_pass={password}" if password else "") + ("" if registrar else ";regint=0")
        (home / "accounts").write_text(f"<sip:{user}@{where}>{params}{account_params}\n")
        self.process: asyncio.subprocess.Process | None = None
        self._control: asyncio.StreamWriter | None = None
        self._watcher: asyncio.Task | None = None
        self.output = bytearray()
        self._reader: asyncio.Task | None = None

    async def __aenter__(self) -> Phone:
        self.process = await asyncio.create_subprocess_exec(
            BARESIP, "-f", str(self.home), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        self._reader = asyncio.ensure_future(self._read())
        await self.wait_for(b"baresip is ready", 10)
        if self.control_port is not None:
            reader, self._control = await asyncio.open_connection("127.0.0.1", self.control_port)
            self._watcher = asyncio.ensure_future(self._watch(reader))
        return self

    async def _watch(self, reader: asyncio.StreamReader) -> None:
        """ctrl_tcp's netstrings: ``<length>:<JSON>,``."""
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, ValueError):
            while True:
                length = int((await reader.readuntil(b":"))[:-1])
                message = json.loads((await reader.readexactly(length + 1))[:-1])
                if message.get("event"):
                    self.events.append(message)

    async def wait_event(self, kind: str, param: str, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not any(e.get("type") == kind and e.get("param") == param for e in self.events):
                await asyncio.sleep(0.05)

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while chunk := await self.process.stdout.read(4096):
            self.output += chunk

    async def wait_for(self, text: bytes, timeout: float, since: int = 0) -> None:
        """``text`` in the output, after its first ``since`` bytes (``len(phone.output)`` before an action)."""
        async with asyncio.timeout(timeout):
            while text not in self.output[since:]:
                if self.process is not None and self.process.returncode is not None:
                    raise AssertionError(f"baresip exited: {self.output[-2000:].decode(errors='replace')}")
                await asyncio.sleep(0.05)

    def command(self, line: str) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")

    async def __aexit__(self, *exc) -> None:
        if self._control is not None:
            self._control.close()
        if self._watcher is not None:
            self._watcher.cancel()
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError, BrokenPipeError, ConnectionResetError):
                self.command("/quit")
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._reader is not None:
            await self._reader
        (self.home / "baresip.log").write_bytes(bytes(self.output))  # for whoever reads a failure

    def heard(self) -> Path:
        """The WAV file of what the phone decoded (written out when the call ends)."""
        dumps = sorted(self.home.glob("dump-*dec.wav"))
        assert dumps, f"no sndfile dump in {self.home}: {self.output[-1500:].decode(errors='replace')}"
        return dumps[-1]
