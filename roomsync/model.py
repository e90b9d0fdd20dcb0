"""The desired state, as loaded from the config files. Frozen: the planner only reads it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .avatars import AvatarFile
from .errors import Mark
from .ids import full_alias
from .policies import Policies

# Room fields that map onto one simple state event: field -> (event type, content key).
SIMPLE_STATE = {
    "name": ("m.room.name", "name"),
    "topic": ("m.room.topic", "topic"),
    "avatar": ("m.room.avatar", "url"),
    "join_rule": ("m.room.join_rules", "join_rule"),
    "history_visibility": ("m.room.history_visibility", "history_visibility"),
    "guest_access": ("m.room.guest_access", "guest_access"),
}

MANAGED_MARKER = "dev.roomsync.managed"  # state event type roomsync puts in rooms it creates
MEMBERS_RECORD = "dev.roomsync.members"  # {"declared": [user ids]}: a room's members when roomsync last invited
MEGOLM = "m.megolm.v1.aes-sha2"


@dataclass(frozen=True)
class SpaceLink:
    """A room's membership of a space: m.space.child in the space, m.space.parent in the room."""

    space: str  # alias local part of the space
    order: str | None = None
    suggested: bool = False


@dataclass(frozen=True)
class RoomSpec:
    """One declared room. `fields` holds only the managed fields (defaults merged in)."""

    alias: str  # local part
    fields: Mapping[str, Any]  # people are user ids here: groups are resolved when the config loads
    mark: Mark  # where the room entry starts
    own: frozenset[str] = frozenset()  # the fields the room's entry sets itself (not from defaults)
    named_users: frozenset[str] = frozenset()  # user ids its own power_levels.users names by id

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)

    def manages(self, name: str) -> bool:
        return name in self.fields

    @property
    def alt_aliases(self) -> tuple[str, ...] | None:
        value = self.fields.get("alt_aliases")
        return None if value is None else tuple(value)

    @property
    def is_space(self) -> bool:
        return self.fields.get("type") == "space"

    @property
    def retired(self) -> bool:
        return self.fields.get("retired") is True

    @property
    def successor(self) -> str | None:
        """The alias local part of the room a retired room points to."""
        return self.fields.get("successor")

    @property
    def formerly(self) -> tuple[str, ...]:
        """Former alias local parts (a rename)."""
        return tuple(self.fields.get("formerly") or ())

    @property
    def creators(self) -> frozenset[str] | None:
        """Declared creators besides the account (version 12 and later); None: not managed."""
        value = self.fields.get("creators")
        return None if value is None else frozenset(value)

    @property
    def members(self) -> frozenset[str] | None:
        """People kept invited (or joined); None: membership is not managed."""
        value = self.fields.get("members")
        return None if value is None else frozenset(value)

    @property
    def spaces(self) -> tuple[SpaceLink, ...]:
        """The spaces this room belongs to, first (canonical) first; always managed, default none."""
        links = []
        for entry in self.fields.get("spaces") or ():
            if isinstance(entry, str):
                links.append(SpaceLink(entry))
            else:
                links.append(SpaceLink(entry["space"], entry.get("order"), bool(entry.get("suggested", False))))
        return tuple(links)


ALL_ROOMS = "*"


@dataclass(frozen=True)
class BotSpec:
    """A service bot from bots.yaml: kept invited/joined, at its power, in its rooms."""

    name: str
    user: str
    rooms: tuple[str, ...]  # alias local parts, or ("*",)
    power_level: int = 0
    display_name: str | None = None
    avatar: str | None = None
    token_env: str | None = None
    mark: Mark | None = None
    create_account: bool = False  # sync creates the account (user_type bot) when it does not exist
    rate_limit: str | None = None  # exempt | default (no override); None: not managed

    def serves(self, room_alias: str) -> bool:
        return ALL_ROOMS in self.rooms or room_alias in self.rooms


@dataclass(frozen=True)
class DocsClient:
    """A Matrix client the join page's "How to join" links."""

    name: str
    url: str  # https://
    description: str | None = None


# docs.clients when roomsync.yaml does not list its own.
DEFAULT_CLIENTS = (
    DocsClient("Element", "https://app.element.io", "in the browser, nothing to install"),
    DocsClient("Element desktop and mobile", "https://element.io/download", "on Windows, macOS, Linux, Android, iOS"),
    DocsClient("iamb", "https://github.com/ulyssa/iamb", "a client for the terminal, with Vim-style keys"),
    DocsClient("weechat-matrix", "https://github.com/poljar/weechat-matrix", "a plugin for WeeChat, the IRC client"),
)


@dataclass(frozen=True)
class DocsSettings:
    """roomsync.yaml's `docs:` section: what `roomsync docs` puts on the join page, and how."""

    title: str | None = None  # default: "Matrix rooms of <server_name>"
    intro: str | None = None  # CommonMark (no raw HTML; http, https and mailto links only)
    include_private: bool = False  # list invite-only rooms that are not in the room directory too
    clients: tuple[DocsClient, ...] = DEFAULT_CLIENTS
    contact: str | None = None  # whom to ask for an invitation: a room alias or a user id
    show_bots: bool = False  # list the bots that serve each room
    template: str | None = None  # a Jinja2 template for the HTML page, relative to the config directory


@dataclass(frozen=True)
class Config:
    root: Path
    server_name: str
    homeserver: str | None
    rooms: tuple[RoomSpec, ...] = field(default_factory=tuple)
    bots: tuple[BotSpec, ...] = field(default_factory=tuple)
    account: str | None = None  # the provisioning account, when the config names it
    min_admins: int = 0  # safety floor of users at power 100 per room whose users are managed; 0 is off
    max_removals: int = 10  # removals one sync may make without --allow-removals
    well_known: Mapping[str, Any] = field(default_factory=dict)
    docs: DocsSettings = field(default_factory=DocsSettings)
    policies: Policies = field(default_factory=Policies)  # policies.yaml
    # Every user id the config names as one of ours (the account, bots, groups' members, rooms'
    # creators and members), with what it is: never banned, never matched by a rule.
    ours: Mapping[str, str] = field(default_factory=dict)
    avatars: Mapping[str, AvatarFile] = field(default_factory=dict)  # the avatar files named, by path

    def room(self, localpart: str) -> RoomSpec | None:
        return next((r for r in self.rooms if r.alias == localpart), None)

    def alias(self, localpart: str) -> str:
        return full_alias(localpart, self.server_name)
