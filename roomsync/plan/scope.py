"""What every part of the planner shares: the inputs (Scope) and a room's plan being built (Draft)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .. import avatars, policies
from ..actions import ROOMS, Action, Change, RoomPlan
from ..ids import localpart_of
from ..live import LiveRoom, Snapshot, Unreadable
from ..model import BotSpec, Config, RoomSpec, SpaceLink

ALIAS_EVENT = "m.room.canonical_alias"
SPACE_CHILD, SPACE_PARENT = "m.space.child", "m.space.parent"


@dataclass
class Draft:
    """One room's plan while it is being built."""

    changes: list[Change] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def change(
        self, name: str, before: Any, after: Any, *actions: Action, section: str = ROOMS, server: str | None = None
    ) -> None:
        self.changes.append(Change(name, before, after, section, server))
        self.actions.extend(actions)

    def finish(self, alias: str, room_id: str | None, create: bool = False, retired: bool = False) -> RoomPlan:
        return RoomPlan(
            alias,
            room_id,
            create,
            tuple(self.changes),
            tuple(self.actions),
            tuple(self.errors),
            tuple(self.notes),
            retired,
        )


@dataclass(frozen=True)
class Scope:
    """The planner's inputs: the config, the live snapshot, and what this run is limited to.

    `rooms`/`bots`: which parts are planned (--only). `selected`: alias local parts a run is
    limited to (--room), None for all. `tokens`: names of the bots' token variables that are
    set where sync will run, None when unknown (then nothing is said about them).
    """

    config: Config
    snapshot: Snapshot
    rooms: bool = True
    bots: bool = True
    selected: frozenset[str] | None = None
    tokens: frozenset[str] | None = None

    @property
    def me(self) -> str:
        return self.snapshot.account

    def is_selected(self, localpart: str) -> bool:
        return self.selected is None or localpart in self.selected

    def live(self, localpart: str) -> LiveRoom | None:
        room = self.snapshot.rooms.get(localpart)
        return room if isinstance(room, LiveRoom) else None

    @cached_property
    def room_ids(self) -> dict[str, str]:
        """Full alias -> room id of every declared room that exists, readable or not."""
        ids = {}
        for spec in self.config.rooms:
            room = self.snapshot.rooms.get(spec.alias)
            if isinstance(room, (LiveRoom, Unreadable)):
                ids[self.config.alias(spec.alias)] = room.room_id
        return ids

    @cached_property
    def aliases_by_id(self) -> dict[str, str]:
        return {room_id: alias for alias, room_id in self.room_ids.items()}

    def alias_of(self, room_id: str) -> str | None:
        return self.aliases_by_id.get(room_id)

    @cached_property
    def predecessors(self) -> dict[str, str]:
        """Room id before an upgrade -> the declared room's alias: links naming it are stale."""
        found = {}
        for alias, _room_id in self.room_ids.items():
            room = self.snapshot.rooms.get(localpart_of(alias))
            if isinstance(room, LiveRoom) and room.predecessor:
                found[room.predecessor] = alias
        for old, new in self.snapshot.replacements.items():
            if new in self.aliases_by_id and old not in self.aliases_by_id:
                found.setdefault(old, self.aliases_by_id[new])
        return found

    def label(self, room_id: str) -> str:
        """A room id as a plan shows it: the declared alias, marked when it is from before an upgrade."""
        if room_id in self.aliases_by_id:
            return self.aliases_by_id[room_id]
        if room_id in self.predecessors:
            return f"{self.predecessors[room_id]} (before its upgrade, {room_id})"
        return room_id

    def serving(self, spec: RoomSpec) -> list[BotSpec]:
        """The bots that serve a room: none once it is retired."""
        if not self.bots or spec.retired:
            return []
        return [bot for bot in self.config.bots if bot.serves(spec.alias)]

    @cached_property
    def bot_account_errors(self) -> dict[str, tuple[str, ...]]:
        """Bot user -> why its account cannot serve (plan/bots.py fills it, once a plan)."""
        return {}

    @property
    def bot_users(self) -> set[str]:
        return {bot.user for bot in self.config.bots}

    @cached_property
    def declared_aliases(self) -> frozenset[str]:
        """Every full alias the config declares, primary or alt: computed once, not per room."""
        config = self.config
        return frozenset(config.alias(a) for spec in config.rooms for a in (spec.alias, *(spec.alt_aliases or ())))

    @cached_property
    def children(self) -> dict[str, list[tuple[RoomSpec, SpaceLink]]]:
        """Space alias local part -> the declared rooms in it, each with its link."""
        found: dict[str, list[tuple[RoomSpec, SpaceLink]]] = {}
        for child in self.config.rooms:
            for link in child.spaces:
                found.setdefault(link.space, []).append((child, link))
        return found

    @cached_property
    def media_urls(self) -> dict[str, str]:
        """sha256 -> mxc:// URI of the files already uploaded: recorded in rooms' markers, or a
        bot's current avatar."""
        found = {sha: url for url, sha in self.snapshot.media.items()}
        for room in self.snapshot.rooms.values():
            if isinstance(room, LiveRoom) and (record := avatars.recorded(room)):
                found.setdefault(record["sha256"], record["url"])
        return found

    @cached_property
    def enforcement(self) -> policies.Enforcement:
        """The user and server rules applied to every managed room in this plan."""
        config = self.config
        rooms = [config.alias(spec.alias) for spec in config.rooms]
        ours = {self.me: "the provisioning account", **config.ours}
        if self.snapshot.reader:
            ours.setdefault(self.snapshot.reader, "the account reading for this plan")
        return policies.enforcement(config.policies, self.snapshot.followed, config.server_name, ours, rooms)

    def token_missing(self, bot: BotSpec) -> bool:
        return bool(bot.token_env) and self.tokens is not None and bot.token_env not in self.tokens
