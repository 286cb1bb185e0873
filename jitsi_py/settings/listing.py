"""``--list-settings``: every variable the settings classes read, by service, from the classes themselves."""

from __future__ import annotations

from dataclasses import fields
from typing import Iterator, Mapping, Sequence, get_type_hints

from .common import SERVICE_PASSWORDS
from .fields import EnvSpec, secret

UNSET = "-"
MASK = "********"


def specs(cls: type) -> Iterator[EnvSpec]:
    """The env specs of a settings class, nested classes included, in declaration order."""
    for f in fields(cls):
        if "nested" in f.metadata:
            yield from specs(f.metadata["nested"])
        else:
            yield f.metadata["env"]


def settings_table(values: Mapping[str, str], groups: Sequence[str] | None = None, *,
                   generated_secrets: bool = False) -> list[str]:
    """Lines of ``NAME  current  default`` under one heading per service (``groups``; all when None).

    ``values`` are the raw variables as loaded; secrets show as set or unset, never their text.
    With ``generated_secrets`` (the all-in-one) an unset service password is marked as generated.
    """
    from . import Settings  # noqa: PLC0415 - the package imports this module

    services = get_type_hints(Settings)
    rows: list[tuple[str, str, str]] = [("VARIABLE", "CURRENT", "DEFAULT")]
    headings: dict[int, str] = {}
    for group in (f.name for f in fields(Settings) if groups is None or f.name in groups):
        headings[len(rows)] = group
        seen: set[str] = set()
        for spec in specs(services[group]):
            if spec.name in seen:
                continue
            seen.add(spec.name)
            rows.append((spec.name, _current(spec, values, generated_secrets), _default(spec, values)))
    width = max(len(name) for name, _, _ in rows)
    current_width = min(40, max(len(current) for _, current, _ in rows))
    lines = []
    for index, (name, current, default) in enumerate(rows):
        if index in headings:
            lines.append(f"\n[{headings[index]}]")
        lines.append(f"  {name:<{width}}  {current:<{current_width}}  {default}".rstrip())
    return lines


def _current(spec: EnvSpec, values: Mapping[str, str], generated_secrets: bool) -> str:
    for name in (spec.name, *spec.aliases):
        raw = (values.get(name) or "").strip()
        if raw:
            shown = MASK if spec.parse is secret else raw
            return shown if name == spec.name else f"{shown} (from {name})"
    if generated_secrets and spec.name in SERVICE_PASSWORDS:
        return "(generated)"
    return UNSET


def _default(spec: EnvSpec, values: Mapping[str, str]) -> str:
    default = spec.default(values) if callable(spec.default) else spec.default
    if default is None:
        return UNSET
    return default if default.strip() else '""'
