"""The transcriber (the Jigasi transcriber's role): its logins, engine, transcripts and options."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from .common import Common, XmppClient
from .fields import (
    EnvSpec,
    boolean,
    bounded,
    choice,
    csv,
    directory,
    duration,
    env,
    nested,
    path,
    port_number,
    read,
    secret,
    text,
    url,
)


def _transcripts_dir(values: Mapping[str, str]) -> str:
    """The all-in-one keeps them in ``${CONFIG}/transcripts`` (docker's containers name their
    shared volume's mount point instead)."""
    config: Path = read(EnvSpec("CONFIG", "~/.jitsi-meet-cfg", directory), values)
    return str(config / "transcripts")


def _default_engine(values: Mapping[str, str]) -> str:
    if (values.get("JIGASI_TRANSCRIBER_VOSK_URL") or "").strip():
        return "vosk"
    if all((values.get(name) or "").strip() for name in GoogleCloud.REQUIRED):
        return "google"  # as Jigasi, whose default service is Google's once docker wrote its key file
    if (values.get("JITSI_PY_TRANSCRIBER_WHISPER_MODEL") or "").strip():
        return "whisper"
    return "pocketsphinx"


def _base_url(values: Mapping[str, str]) -> str:
    """Where the web service serves that directory (Jigasi's BASE_URL in docker: PUBLIC_URL/transcripts)."""
    public_url: str = read(Common.__dataclass_fields__["public_url"].metadata["env"], values)
    return public_url.rstrip("/") + "/transcripts"


def google_endpoint(raw: str) -> str:
    """``host[:port]`` (TLS), or ``http://host:port`` for a stand-in on loopback (gRPC's local
    credentials, which connect to loopback addresses only)."""
    if raw.startswith("http://"):
        target = raw.removeprefix("http://").rstrip("/")
        if not target or "/" in target:
            raise ValueError("expected http://host:port")
        return raw
    if "://" in raw or "/" in raw or not raw:
        raise ValueError("expected host[:port], e.g. speech.googleapis.com or eu-speech.googleapis.com")
    return raw


@dataclass(frozen=True)
class GoogleCloud:
    """docker-jitsi-meet's service account for Google Cloud Speech: Jigasi's container writes these
    into a service-account key file; the google engine builds the same credential from them."""

    REQUIRED = ("GC_PROJECT_ID", "GC_PRIVATE_KEY_ID", "GC_PRIVATE_KEY", "GC_CLIENT_EMAIL", "GC_CLIENT_ID",
                "GC_CLIENT_CERT_URL")

    project_id: str | None = env("GC_PROJECT_ID", None, text)
    private_key_id: str | None = env("GC_PRIVATE_KEY_ID", None, text)
    # PEM; an .env file often holds it on one line with literal \n, taken as line breaks
    private_key: str | None = env("GC_PRIVATE_KEY", None, secret)
    client_email: str | None = env("GC_CLIENT_EMAIL", None, text)
    client_id: str | None = env("GC_CLIENT_ID", None, text)
    client_cert_url: str | None = env("GC_CLIENT_CERT_URL", None, url())
    # --- our own ---------------------------------------------------------------------------------
    # The Speech API's gRPC endpoint: a regional one (eu-speech.googleapis.com), or a loopback stand-in.
    endpoint: str = env("JITSI_PY_TRANSCRIBER_GOOGLE_ENDPOINT", "speech.googleapis.com", google_endpoint)
    # Jigasi's google_model property and default
    model: str = env("JITSI_PY_TRANSCRIBER_GOOGLE_MODEL", "latest_long", text)

    def missing(self) -> list[str]:
        values = (self.project_id, self.private_key_id, self.private_key, self.client_email, self.client_id,
                  self.client_cert_url)
        return [name for name, value in zip(self.REQUIRED, values) if not value]

    def service_account_info(self) -> dict[str, str]:
        """The key file's fields, as docker-jitsi-meet's Jigasi writes them (Google's fixed URLs included)."""
        return {
            "type": "service_account",
            "project_id": self.project_id or "",
            "private_key_id": self.private_key_id or "",
            "private_key": (self.private_key or "").replace("\\n", "\n"),
            "client_email": self.client_email or "",
            "client_id": self.client_id or "",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token",
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": self.client_cert_url or "",
        }


@dataclass(frozen=True)
class Transcriber:
    enabled: bool = env("ENABLE_TRANSCRIPTIONS", "0", boolean)
    xmpp: XmppClient = nested(XmppClient)
    # The brewery login on the auth domain (shared with SIP gateways), and the meeting login on the
    # hidden domain, as docker's transcriber.yml.
    user: str = env("JIGASI_XMPP_USER", "jigasi")
    password: str | None = env("JIGASI_XMPP_PASSWORD", None, secret)
    transcriber_user: str = env("JIGASI_TRANSCRIBER_USER", "transcriber")
    transcriber_password: str | None = env("JIGASI_TRANSCRIBER_PASSWORD", None, secret)
    # Jigasi's options: results also as "<name>: <text>" chat lines; a chat line with the
    # transcript's URL; the meeting's audio kept beside the transcript; transcripts saved at all.
    send_txt: bool = env("JIGASI_TRANSCRIBER_SEND_TXT", "0", boolean)
    advertise_url: bool = env("JIGASI_TRANSCRIBER_ADVERTISE_URL", "0", boolean)
    record_audio: bool = env("JIGASI_TRANSCRIBER_RECORD_AUDIO", "0", boolean)
    saving: bool = env("JIGASI_TRANSCRIBER_ENABLE_SAVING", "1", boolean)
    # --- our own ---------------------------------------------------------------------------------
    # Where transcripts are written, and what the web service serves at /transcripts/ (read-only).
    transcripts_dir: Path = env("JITSI_PY_TRANSCRIBER_DIR", _transcripts_dir, directory)
    # The base of the advertised links: another server's address when the web service is not the one
    # serving the directory.
    base_url: str = env("JITSI_PY_TRANSCRIBER_BASE_URL", _base_url, url())
    instance_id: str = env("JITSI_PY_TRANSCRIBER_INSTANCE_ID",
                           lambda v: "transcriber-" + (v.get("HOSTNAME") or socket.gethostname()))
    # Jigasi's Vosk option: a ws:// URL, or a JSON object from language to ws:// URL.
    vosk_url: str | None = env("JIGASI_TRANSCRIBER_VOSK_URL", None, text)
    # pocketsphinx (offline, its wheel's model) unless a Vosk server, Google's credentials or a Whisper
    # model is given.
    engine: str = env("JITSI_PY_TRANSCRIBER_ENGINE", _default_engine,
                      choice("pocketsphinx", "vosk", "google", "whisper"))
    google: GoogleCloud = nested(GoogleCloud)
    # A Whisper model converted for faster-whisper (CTranslate2), a local directory: Jigasi's Whisper
    # option (JIGASI_TRANSCRIBER_WHISPER_URL) is a remote WebSocket service, not a model.
    whisper_model: Path | None = env("JITSI_PY_TRANSCRIBER_WHISPER_MODEL", None, path)
    # Processes holding a copy of the model each: how many phrases are decoded at once.
    whisper_workers: int = env("JITSI_PY_TRANSCRIBER_WHISPER_WORKERS", "1", bounded(1, 16))
    # CTranslate2's weights on the CPU: int8 is the fastest; "default" keeps the converted type.
    whisper_compute_type: str = env("JITSI_PY_TRANSCRIBER_WHISPER_COMPUTE_TYPE", "int8",
                                    choice("int8", "int8_float32", "int16", "float32", "default"))
    language: str = env("JITSI_PY_TRANSCRIBER_LANGUAGE", "en-US", text)
    # Decoders loaded at most (each ~100 MB): how many people one transcriber follows speaking at once.
    sphinx_decoders: int = env("JITSI_PY_TRANSCRIBER_DECODERS", "4", bounded(1, 64))
    # The bridge's export (jicofo's transcription.url-template pointing here): a mediajson WebSocket
    # server on this port; unset, none.
    export_port: int | None = env("JITSI_PY_TRANSCRIBER_EXPORT_PORT", None, port_number)
    export_interfaces: tuple[str, ...] = env("JITSI_PY_TRANSCRIBER_EXPORT_INTERFACES", "*", csv)
    max_meetings: int = env("JITSI_PY_TRANSCRIBER_MAX_MEETINGS", "8", bounded(1, 1000))
    join_timeout: float = env("JITSI_PY_TRANSCRIBER_JOIN_TIMEOUT", "30", duration)
    # How long the transcriber stays once nobody but hidden members is left, or nobody asks for it.
    empty_timeout: float = env("JITSI_PY_TRANSCRIBER_EMPTY_TIMEOUT", "10", duration)
