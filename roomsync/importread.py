"""`roomsync import`, the reading: which rooms to import, and their state. GET requests only.

- Named rooms (ALIAS ..., and the root of each --space) are resolved; --space walks m.space.child
  down from its root, space by space; --joined takes every room the account has joined.
- A joined room's whole state comes from GET /rooms/{id}/state; a room the account has not
  joined, from Synapse's admin API (GET /_synapse/admin/v1/rooms/{id}/state) when the token is a
  server admin's: import can run before `roomsync adopt`. Without one, such a room is an error
  that names `roomsync adopt`.
- Directory visibility: one admin room list for a server admin, otherwise one GET per room.
- Rooms rooms/ already declares are resolved too (their ids tell which rooms are declared, and
  `spaces` may name them); declared spaces are read for the order and suggested of their links.

The command runs on a ReadOnlyHomeserver: a request other than GET is refused before it is sent.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import importer, power
from .client import Homeserver
from .errors import MatrixError
from .ids import full_alias
from .live import LiveRoom, Unreadable, parse_room
from .model import Config

TOMBSTONE = "m.room.tombstone"


@dataclass(frozen=True)
class Selection:
    aliases: tuple[str, ...] = ()  # ALIAS arguments
    spaces: tuple[str, ...] = ()  # --space roots
    joined: bool = False  # --joined
    all_state: bool = False  # --all-state: also the state no field covers, as `state:`

    @property
    def empty(self) -> bool:
        return not (self.aliases or self.spaces or self.joined)


@dataclass
class Imported:
    """What an import produced: the document, and the lines for stderr."""

    text: str | None = None  # None: no room was imported
    rooms: int = 0
    errors: list[str] = field(default_factory=list)  # a room that could not be imported: exit 1
    skipped: list[str] = field(default_factory=list)  # rooms left out on purpose (not an error)
    warnings: list[str] = field(default_factory=list)  # what the file cannot say; what plan will still show
    notes: list[str] = field(default_factory=list)


@dataclass
class _Target:
    room_id: str
    named: str | None = None  # the local part it was named by (ALIAS or --space)
    origin: str = ""  # how it was found, for messages: "", "in #space:server", "joined"
    live: LiveRoom | None = None
    problem: str | None = None  # why it cannot be read


def alias_argument(value: str, server_name: str) -> tuple[str | None, str | None]:
    """(full alias, None) for `#local:server_name` or `local`; (None, why not) otherwise."""
    text = value.strip()
    if text.startswith("!"):
        return None, f"{value} is a room id; name the room by its alias (#local:{server_name} or local)"
    local, sep, server = text.removeprefix("#").partition(":")
    if sep and server != server_name:
        return None, f"{value} is an alias of another server; roomsync manages the rooms of {server_name}"
    if not local:
        return None, f"{value!r} is not an alias; use #local:{server_name} or local"
    return full_alias(local, server_name), None


async def run_import(
    hs: Homeserver, config: Config, selection: Selection, modeline: str, shown_as: str, defaults: Mapping[str, Any]
) -> Imported:
    run = await _ImportRun.start(hs, config)
    await run.gather(selection)
    chosen = run.choose()
    await run.read_directory(chosen)
    known = await run.known_rooms(chosen)
    run.write(chosen, known, modeline, shown_as, defaults, all_state=selection.all_state)
    return run.result


@dataclasses.dataclass
class _ImportRun:
    """One import: what the homeserver holds, the rooms found, and the result being built."""

    hs: Homeserver
    config: Config
    reader: str
    me: str
    published: set[str] | None  # from the admin API; None: not a server admin
    joined: set[str]
    declared_ids: dict[str, str | None]  # declared alias local part -> its room id, if it exists
    result: Imported = dataclasses.field(default_factory=Imported)
    targets: dict[str, _Target] = dataclasses.field(default_factory=dict)

    @classmethod
    async def start(cls, hs: Homeserver, config: Config) -> _ImportRun:
        reader = await hs.whoami()
        published = await hs.admin.published_rooms()
        joined = set(await hs.joined_rooms())
        ids = await asyncio.gather(*(hs.resolve_alias(config.alias(spec.alias)) for spec in config.rooms))
        declared_ids = dict(zip([spec.alias for spec in config.rooms], ids, strict=True))
        return cls(hs, config, reader, config.account or reader, published, joined, declared_ids)

    @property
    def declared_by_id(self) -> dict[str, str]:
        return {room_id: alias for alias, room_id in self.declared_ids.items() if room_id}

    async def read(self, target: _Target) -> None:
        """The target's state, from /state when joined, else from the admin API; or why not."""
        try:
            if target.room_id in self.joined:
                events = await self.hs.room_state(target.room_id)
            elif self.published is not None:
                found = await self.hs.admin.room_state(target.room_id)
                if found is None:
                    target.problem = "this homeserver does not know the room"
                    return
                events = found
            else:
                target.problem = (
                    f"{self.reader} is not joined there, and its token is not a Synapse server admin's "
                    f"(which reads any room); run `roomsync adopt` first, or import with a server "
                    "admin's token"
                )
                return
        except MatrixError as exc:
            target.problem = f"cannot read it ({exc.status} {exc.errcode}: {exc.message})"
            return
        target.live = parse_room(target.room_id, events)

    async def named(self, value: str, space: bool) -> _Target | None:
        """The room an ALIAS or --space argument names, or None with an error said."""
        full, why = alias_argument(value, self.config.server_name)
        if full is None:
            self.result.errors.append(why or value)
            return None
        room_id = await self.hs.resolve_alias(full)
        if room_id is None:
            self.result.errors.append(f"{full} does not exist")
            return None
        if room_id in self.declared_by_id and not space:
            self.result.errors.append(
                f"{full} is already declared ({_where(self.config, self.declared_by_id[room_id])}); import "
                "writes only rooms that are not declared yet"
            )
            return None
        target = self.targets.setdefault(room_id, _Target(room_id))
        target.named = target.named or full.removeprefix("#").split(":", 1)[0]
        return target

    async def gather(self, selection: Selection) -> None:
        """Every room the selection names, with its state: named, joined, and down each --space."""
        for value in selection.aliases:
            await self.named(value, space=False)
        roots = [t for t in [await self.named(value, space=True) for value in selection.spaces] if t is not None]
        if selection.joined:
            for room_id in sorted(self.joined):
                self.targets.setdefault(room_id, _Target(room_id, origin="joined"))
        await asyncio.gather(*(self.read(t) for t in self.targets.values()))
        for root in roots:
            if root.live is not None and root.live.room_type != "m.space":
                self.result.errors.append(
                    f"#{root.named}:{self.config.server_name} is not a space (--space takes a space's alias)"
                )
        await self.walk([t for t in roots if t.live is not None])

    async def walk(self, level: list[_Target]) -> None:
        """--space: down the hierarchy, one level at a time; every child is walked in turn."""
        walked = {t.room_id for t in level}
        while level:
            found = []
            for parent in level:
                if parent.live is None or parent.live.room_type != "m.space":
                    continue
                where = f"in {parent.live.canonical_alias or parent.room_id}"
                for child_id in sorted(parent.live.children()):
                    if child_id in walked:
                        continue
                    walked.add(child_id)
                    found.append(self.targets.setdefault(child_id, _Target(child_id, origin=where)))
            await asyncio.gather(*(self.read(t) for t in found if t.live is None and t.problem is None))
            level = found

    def choose(self) -> dict[str, _Target]:
        """Which rooms are imported, and under which alias local part."""
        server, result = self.config.server_name, self.result
        chosen: dict[str, _Target] = {}
        already = 0
        for target in self.targets.values():
            label = f"#{target.named}:{server}" if target.named else target.room_id
            if target.room_id in self.declared_by_id:
                if target.named is None:
                    already += 1
                continue  # a declared --space root: only what it holds is imported
            if target.problem:
                if self.published is not None and target.origin.startswith("in ") and "does not know" in target.problem:
                    result.skipped.append(f"{target.room_id} ({target.origin}): not on this homeserver")
                else:
                    origin = f" ({target.origin})" if target.origin.startswith("in ") else ""
                    result.errors.append(f"{label}{origin}: {target.problem}")
                continue
            live = target.live
            assert live is not None
            if target.named is None and live.content(TOMBSTONE):
                result.skipped.append(f"{_label(live)}: replaced by an upgrade (it has a tombstone)")
                continue
            alias = choose_alias(live, target.named, server)
            if alias is None and target.named:
                result.errors.append(
                    f"{label}: the room has no alias a rooms file can declare (aliases are lowercase "
                    "letters, digits and . _ = / + -)"
                )
            elif alias is None:
                result.skipped.append(f"{_label(live)}: no alias on {server} (a direct chat?)")
            elif alias in chosen or alias in self.declared_ids:
                result.errors.append(f"{_label(live)}: its alias #{alias}:{server} is already taken by another room")
            else:
                chosen[alias] = target
        if already:
            result.skipped.append(f"{already} {'room' if already == 1 else 'rooms'} already declared in rooms/")
        return chosen

    async def read_directory(self, chosen: dict[str, _Target]) -> None:
        """Directory visibility of the imported rooms (one request each without the admin API)."""
        published = self.published
        if published is None:
            ids = [t.room_id for t in chosen.values()]
            answers = await asyncio.gather(*(self.hs.published(room_id) for room_id in ids))
            published = {room_id for room_id, public in zip(ids, answers, strict=True) if public}
        for target in chosen.values():
            assert target.live is not None
            target.live = dataclasses.replace(target.live, published=target.live.room_id in published)

    async def known_rooms(self, chosen: dict[str, _Target]) -> dict[str, importer.Known]:
        """Every room `spaces` may name: the declared ones (spaces read, for their links' order
        and suggested flags) and the imported ones, by room id."""
        declared_spaces = {
            spec.alias: space_id
            for spec in self.config.rooms
            if spec.is_space and (space_id := self.declared_ids.get(spec.alias))
        }
        spaces = {alias: self.targets.get(room_id) or _Target(room_id) for alias, room_id in declared_spaces.items()}
        await asyncio.gather(*(self.read(t) for t in spaces.values() if t.live is None and t.problem is None))
        known: dict[str, importer.Known] = {}
        for spec in self.config.rooms:
            if declared := self.declared_ids.get(spec.alias):
                live = spaces[spec.alias].live if spec.alias in spaces else None
                known[declared] = importer.Known(spec.alias, spec.is_space, live)
        for alias, target in chosen.items():
            assert target.live is not None
            known[target.room_id] = importer.Known(alias, target.live.room_type == "m.space", target.live)
        return known

    def write(
        self,
        chosen: dict[str, _Target],
        known: dict[str, importer.Known],
        modeline: str,
        shown_as: str,
        defaults: Mapping[str, Any],
        *,
        all_state: bool = False,
    ) -> None:
        """The rooms file, checked by planning it against what was read, and what to say about it."""
        server, result = self.config.server_name, self.result
        entries = []
        for alias, target in sorted(chosen.items()):
            assert target.live is not None
            entry = importer.room_entry(target.live, alias, self.config, self.me, known, defaults, all_state=all_state)
            entries.append(entry)
            result.warnings += [f"#{alias}:{server}: {warning}" for warning in entry.warnings]
        result.rooms = len(entries)
        if not entries:
            return
        result.text = importer.render(entries, modeline)
        warnings, bot_changes = importer.check(
            self.config.root, result.text, shown_as, self.reading(chosen, known), sorted(chosen)
        )
        result.warnings += warnings
        if bot_changes:
            result.notes.append(
                f"bots.yaml asks for {bot_changes} bot {'change' if bot_changes == 1 else 'changes'} in "
                "these rooms (memberships, bots' power levels): plan shows them in its bots section, "
                "and sync makes them"
            )
        pending = sorted(alias for alias, t in chosen.items() if t.live is not None and not _managed(t.live, self.me))
        if pending:
            result.notes.append(
                f"{self.me} is not joined with power 100 in {len(pending)} of these rooms: run `roomsync "
                f"adopt {' '.join(pending)}` before `roomsync plan` and `roomsync sync`"
            )

    def reading(self, chosen: dict[str, _Target], known: dict[str, importer.Known]) -> importer.Reading:
        """What was read, as the planner's snapshot needs it to check the file."""
        rooms: dict[str, LiveRoom | Unreadable] = {}
        alias_owner: dict[str, str] = {}
        for spec in self.config.rooms:
            if declared := self.declared_ids.get(spec.alias):
                alias_owner[self.config.alias(spec.alias)] = declared
                live = known[declared].live
                rooms[spec.alias] = live if live is not None else Unreadable(declared, "not read by import")
        for alias, target in chosen.items():
            assert target.live is not None
            rooms[alias] = target.live
            for claimed in target.live.claimed_aliases():
                alias_owner.setdefault(claimed, target.room_id)
        return importer.Reading(me=self.me, reader=self.reader, rooms=rooms, alias_owner=alias_owner)


def choose_alias(live: LiveRoom, named: str | None, server_name: str) -> str | None:
    """The alias local part a room is declared by: its canonical alias on server_name, else the alias
    it was named by, else its first alt alias on server_name; None when it has none of these."""
    from .ids import alias_localpart_problem

    candidates = [live.canonical_alias, f"#{named}:{server_name}" if named else None, *live.alt_aliases]
    for full in candidates:
        if not full or not full.startswith("#"):
            continue
        local, _, server = full[1:].partition(":")
        if server == server_name and alias_localpart_problem(local, server_name) is None:
            return local
    return None


def _managed(live: LiveRoom, me: str) -> bool:
    return live.membership(me) == "join" and power.user_level(live, me) >= 100


def _label(live: LiveRoom) -> str:
    return f"{live.canonical_alias} ({live.room_id})" if live.canonical_alias else live.room_id


def _where(config: Config, alias: str) -> str:
    spec = config.room(alias)
    return f"at {spec.mark}" if spec is not None else "in rooms/"


def check_out_file(path: Path | None) -> None:
    """--out refuses an existing file, before anything is read."""
    from .errors import RoomsyncError

    if path is not None and (path.exists() or path.is_symlink()):
        raise RoomsyncError(
            f"{path} exists; import never overwrites a file: choose another name or remove it"
        ) from None
    if path is not None and not path.absolute().parent.is_dir():
        raise RoomsyncError(f"cannot write {path}: {path.absolute().parent} is not a directory")


def write_out_file(path: Path, text: str) -> None:
    from .errors import RoomsyncError

    try:
        with open(path, "x", encoding="utf-8") as out:
            out.write(text)
    except FileExistsError:
        raise RoomsyncError(
            f"{path} exists; import never overwrites a file: choose another name or remove it"
        ) from None
    except OSError as exc:
        raise RoomsyncError(f"cannot write {path}: {exc.strerror or exc}") from None
