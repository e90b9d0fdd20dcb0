"""The .well-known/matrix delegation: the files roomsync.yaml implies, and their drift. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .actions import Change

NAMES = ("server", "client")


@dataclass(frozen=True)
class Fetched:
    """One GET of <url>/.well-known/matrix/<name>: an HTTP status and body, or why it failed."""

    status: int | None
    body: str = ""
    error: str | None = None


def url(config_well_known: Mapping[str, Any], server_name: str) -> str:
    return str(config_well_known.get("url") or f"https://{server_name}").rstrip("/")


def documents(well_known: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The JSON documents to publish, by file name; only those the config declares."""
    docs: dict[str, dict[str, Any]] = {}
    if "server" in well_known:
        docs["server"] = {"m.server": well_known["server"]}
    if "client" in well_known:
        client = well_known["client"]
        docs["client"] = {"m.homeserver": {"base_url": client["base_url"]}}
        if "identity_server" in client:
            docs["client"]["m.identity_server"] = {"base_url": client["identity_server"]}
    return docs


def write(well_known: Mapping[str, Any], out: Path) -> list[Path]:
    directory = out / ".well-known" / "matrix"
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in documents(well_known).items():
        path = directory / name
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


def _leaves(document: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    leaves: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, Mapping):
            leaves.update(_leaves(value, f"{prefix}{key}."))
        else:
            leaves[f"{prefix}{key}"] = value
    return leaves


def drift(well_known: Mapping[str, Any], fetched: Mapping[str, Fetched]) -> tuple[Change, ...]:
    """Changes the web server needs; keys the config does not declare are not compared."""
    changes = []
    for name, desired in documents(well_known).items():
        got = fetched.get(name) or Fetched(None, error="not fetched")
        label = f".well-known/matrix/{name}"
        if got.error or got.status != 200:
            why = got.error or (f"HTTP {got.status}" if got.status != 404 else "missing (404)")
            changes.append(Change(label, f"({why})", desired, "well_known"))
            continue
        try:
            live = json.loads(got.body)
        except ValueError:
            live = None
        if not isinstance(live, Mapping):
            changes.append(Change(label, "(not a JSON object)", desired, "well_known"))
            continue
        have = _leaves(live)
        for key, value in _leaves(desired).items():
            if have.get(key) != value:
                changes.append(Change(f"{label} {key}", have.get(key), value, "well_known"))
    return tuple(changes)
