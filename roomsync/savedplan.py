"""A saved plan: `plan --out plan.json` writes it, `sync --plan plan.json` applies exactly it.

Besides the changes, the file says what the plan was made for and from: the homeserver, the
server name and account, the roomsync version, a digest of the config files, and the run's
scope (--only, --room). sync refuses, before any request, a plan made for another server or
account, from another config or by another roomsync. It then plans again from the same config
and compares (pure, here): a change whose live value still equals its `before` is applied; one
already at its `after` is done (so plans of changes merged one after another apply in order);
anything else, a change the saved plan did not show or one whose live value moved, makes the plan
stale, and nothing is sent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .actions import Change, Plan
from .errors import RoomsyncError

SAVED_KEY = "saved"  # the plan JSON's key holding what sync --plan needs
STALE = "the plan is stale: run plan again"

Key = tuple[str, str, str, str]  # where (room alias or "bot NAME"), field, before, after (as JSON)


def config_digest(files: Iterable[Path], root: Path) -> str:
    """sha256 over the config files' names (relative to the config directory) and bytes."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class Made:
    """What a saved plan was made for and from."""

    homeserver: str
    server_name: str
    account: str
    version: str
    config_digest: str
    only: str | None
    rooms: tuple[str, ...]

    def document(self) -> dict[str, Any]:
        return {
            "homeserver": self.homeserver,
            "server_name": self.server_name,
            "account": self.account,
            "roomsync_version": self.version,
            "config_digest": self.config_digest,
            "only": self.only,
            "rooms": list(self.rooms),
        }


@dataclass(frozen=True)
class Saved:
    made: Made
    changes: frozenset[Key]
    path: str


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def keys_of(plan: Plan) -> set[Key]:
    """The plan's room and bot changes as comparable keys (.well-known drift is never applied)."""
    keys: set[Key] = set()
    for room in plan.rooms:
        keys |= {_key(room.alias, change) for change in room.changes}
    for bot in plan.bots:
        keys |= {_key(f"bot {bot.name}", change) for change in bot.changes}
    return keys


def _key(where: str, change: Change) -> Key:
    # Through JSON both ways, so that a tuple and the list it was saved as compare equal.
    return (where, change.label, _json(json.loads(_json(change.before))), _json(json.loads(_json(change.after))))


def load(path: Path) -> Saved:
    """A saved plan from `plan --out FILE.json`; RoomsyncError saying what is wrong with the file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RoomsyncError(f"cannot read the plan {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, ValueError):
        raise RoomsyncError(f"{path} is not a plan: not JSON (write one with roomsync plan --out plan.json)") from None
    made = document.get(SAVED_KEY) if isinstance(document, dict) else None
    if not isinstance(made, dict):
        raise RoomsyncError(f"{path} is not a saved plan: write one with roomsync plan --out plan.json")
    try:
        saved_made = Made(
            homeserver=str(made["homeserver"]),
            server_name=str(made["server_name"]),
            account=str(made["account"]),
            version=str(made["roomsync_version"]),
            config_digest=str(made["config_digest"]),
            only=made.get("only"),
            rooms=tuple(made.get("rooms") or ()),
        )
        changes = frozenset(
            (
                # a room's changes name the room (its bots' memberships and levels too); a bot's own, the bot
                str(c["room_alias"]) if c.get("room_alias") else f"bot {c['bot']}",
                f"[{c['server']}] {c['field']}" if c.get("server") else str(c["field"]),
                _json(c["before"]),
                _json(c["after"]),
            )
            for c in document["changes"]
            if c.get("section") != "well_known"
        )
    except (KeyError, TypeError) as exc:
        raise RoomsyncError(f"{path} is not a complete saved plan (missing {exc}); write it again with plan") from None
    return Saved(saved_made, changes, str(path))


def refusal(saved: Saved, now: Made) -> str | None:
    """Why the saved plan cannot be applied here, decided before any request; None when it can."""
    made = saved.made
    for what, then, here in (
        ("server", made.server_name, now.server_name),
        ("homeserver", made.homeserver, now.homeserver),
        ("account", made.account, now.account),
    ):
        if then != here and here:
            return f"{saved.path} was made for the {what} {then}, not {here}; nothing was sent"
    if made.version != now.version:
        return f"{saved.path} was made by roomsync {made.version}, this is {now.version}: {STALE}"
    if made.config_digest != now.config_digest:
        return f"{saved.path} was made from another config than this directory's: {STALE}"
    if (made.only, made.rooms) != (now.only, now.rooms):
        return (
            f"{saved.path} was made with --only {made.only or '(all)'} and --room {list(made.rooms) or '(all)'}; "
            "run sync --plan with the same options (they are taken from the plan when left out)"
        )
    return None


@dataclass(frozen=True)
class Comparison:
    moved: tuple[str, ...]  # why the plan is stale, one line each; empty when it is current
    done: int  # changes of the saved plan already made


def compare(saved: Saved, fresh: Plan) -> Comparison:
    """The fresh plan (same config, the server as it is now) against the saved one."""
    now = keys_of(fresh)
    moved = []
    for where, field, before, after in sorted(now - saved.changes):
        expected = [b for w, f, b, a in saved.changes if (w, f, a) == (where, field, after)]
        if expected:
            moved.append(f"{where} {field}: the plan expected {expected[0]} before, the server now has {before}")
        else:
            moved.append(f"{where} {field}: {before} -> {after} is not in the plan (it changed since)")
    return Comparison(tuple(moved), len(saved.changes - now))
