"""Declarative env-backed fields: each carries its variable name, upstream default and parser.

A settings class is a frozen dataclass whose fields are made with :func:`env` (one variable) or
:func:`nested` (another settings class). :func:`build` reads a flat mapping of variable values into
it. An empty value counts as unset, because docker-compose passes ``VAR=`` for every variable the
operator left blank, and upstream's templates then fall back to their default.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")
Default = str | Callable[[Mapping[str, str]], str | None] | None
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(ValueError):
    """A variable holds a value its setting cannot take; the message is the one line to show."""

    def __init__(self, name: str, value: str | None, reason: str) -> None:
        self.name = name
        self.value = value
        self.reason = reason
        if value is None:
            super().__init__(f"{name} is not set: {reason}")
        else:
            super().__init__(f"{name}={value!r}: {reason}")


@dataclass(frozen=True)
class EnvSpec:
    name: str
    default: Default
    parse: Callable[[str], Any]
    aliases: tuple[str, ...] = ()


def env(name: str, default: Default, parse: Callable[[str], Any] = str, *, aliases: tuple[str, ...] = ()) -> Any:
    """A field read from ``name`` (or, when unset, from the first set alias; legacy names)."""
    return field(metadata={"env": EnvSpec(name, default, parse, aliases)})


def nested(cls: type) -> Any:
    return field(metadata={"nested": cls})


def build(cls: type[T], values: Mapping[str, str]) -> T:
    kwargs: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if "nested" in f.metadata:
            kwargs[f.name] = build(f.metadata["nested"], values)
            continue
        spec: EnvSpec = f.metadata["env"]
        kwargs[f.name] = read(spec, values)
    return cls(**kwargs)


def read(spec: EnvSpec, values: Mapping[str, str]) -> Any:
    for name in (spec.name, *spec.aliases):
        raw = values.get(name)
        if raw is not None and raw.strip() != "":
            return _parse(spec.parse, name, raw.strip())
    default = spec.default(values) if callable(spec.default) else spec.default
    if default is None:
        return None
    return _parse(spec.parse, spec.name, default)


def _parse(parse: Callable[[str], Any], name: str, raw: str) -> Any:
    try:
        return parse(raw)
    except ValueError as exc:
        raise SettingsError(name, raw, str(exc)) from None


def env_names(cls: type) -> list[str]:
    """Every variable a settings class reads, nested classes included (for docs and tests)."""
    names: list[str] = []
    for f in fields(cls):
        if "nested" in f.metadata:
            names.extend(env_names(f.metadata["nested"]))
        else:
            names.append(f.metadata["env"].name)
    return names


# ---- parsers: str -> value, ValueError with a short reason otherwise ----

_TRUE = {"1", "true"}
_FALSE = {"0", "false"}


def boolean(raw: str) -> bool:
    low = raw.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError("expected a boolean: 0, 1, true or false")


def integer(raw: str) -> int:
    try:
        return int(raw, 10)
    except ValueError:
        raise ValueError("expected a whole number") from None


def bounded(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = integer(raw)
        if not low <= value <= high:
            raise ValueError(f"expected a whole number from {low} to {high}")
        return value

    return parse


def port_number(raw: str) -> int:
    try:
        value = int(raw, 10)
    except ValueError:
        raise ValueError("expected a port number from 1 to 65535") from None
    if not 1 <= value <= 65535:
        raise ValueError("expected a port number from 1 to 65535")
    return value


def number(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError("expected a number") from None


def unit_interval(raw: str) -> float:
    """A fraction from 0 to 1 (jicofo's thresholds)."""
    value = number(raw)
    if not 0 <= value <= 1:
        raise ValueError("expected a number from 0 to 1")
    return value


def choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.lower()
        if value not in allowed:
            raise ValueError("expected one of " + ", ".join(allowed))
        return value

    return parse


def csv(raw: str) -> tuple[str, ...]:
    """A comma list, as upstream writes ``JVB_ADVERTISE_IPS`` or ``JWT_ACCEPTED_ISSUERS``."""
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def networks(raw: str) -> tuple[Network, ...]:
    """A comma list of addresses or networks (``127.0.0.1,::1,172.16.0.0/12``)."""
    try:
        return tuple(ipaddress.ip_network(item, strict=False) for item in csv(raw))
    except ValueError:
        raise ValueError("expected addresses or networks such as 127.0.0.1,10.0.0.0/8") from None


def json_list(raw: str) -> tuple[str, ...]:
    """A list written either as JSON/JS (``["VP8","VP9"]``) or as a comma list (``VP8,VP9``)."""
    body = raw.strip()
    if body.startswith("["):
        if not body.endswith("]"):
            raise ValueError("expected a list such as [\"a\",\"b\"] or a,b")
        body = body[1:-1]
    return tuple(item.strip().strip("'\"") for item in body.split(",") if item.strip().strip("'\""))


def path(raw: str) -> Path:
    return Path(raw).expanduser()


def directory(raw: str) -> Path:
    """A directory made on first start when missing; something else in its place is refused."""
    value = path(raw)
    if value.exists() and not value.is_dir():
        raise ValueError("not a directory")
    return value


def url(*schemes: str) -> Callable[[str], str]:
    """An absolute URL with one of ``schemes`` (http and https unless said) and a host."""
    allowed = schemes or ("http", "https")

    def parse(raw: str) -> str:
        try:
            parts = urlsplit(raw)
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            parts = None
        if parts is None or parts.scheme.lower() not in allowed or not parts.hostname:
            raise ValueError(f"expected a URL ({' or '.join(allowed)}) with a host, e.g. {allowed[-1]}://example.com")
        return raw

    return parse


def text(raw: str) -> str:
    return raw


def secret(raw: str) -> str:
    """Text never shown back: a password, a token, a key (``--list-settings`` masks it)."""
    return raw


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")
_UNITS = {
    "": 1, "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "ms": 0.001, "millis": 0.001, "milliseconds": 0.001,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
}


def duration(raw: str) -> float:
    """Seconds from HOCON-style durations (``24 hours``, ``90 s``, ``500ms``) or a bare number."""
    match = _DURATION.match(raw.lower())
    if not match or match.group(2) not in _UNITS:
        raise ValueError("expected a duration such as 60, 90 s, 5 minutes or 24 hours")
    return float(match.group(1)) * _UNITS[match.group(2)]


def size(raw: str) -> int:
    """Bytes from ``262144``, ``256kb``, ``10 KiB`` or ``1m``."""
    match = re.match(r"^\s*(\d+)\s*([kmg]?)(?:i?b)?\s*$", raw.lower())
    if not match:
        raise ValueError("expected a size such as 262144, 256kb or 1mb")
    return int(match.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[match.group(2)]


def rate(raw: str) -> int:
    """Bytes per second from Prosody's ``10kb/s`` form."""
    body = raw.lower().strip()
    if body.endswith("/s"):
        body = body[:-2]
    try:
        return size(body)
    except ValueError:
        raise ValueError("expected a rate such as 10kb/s") from None


__all__ = [
    "SettingsError", "env", "nested", "build", "read", "env_names",
    "boolean", "integer", "bounded", "port_number", "number", "unit_interval", "choice", "csv", "networks",
    "json_list", "path", "directory", "url", "text", "secret",
    "duration", "size", "rate",
]
