"""The live state of the homeserver, as the planner sees it: plain frozen data, no I/O.

The client reads raw events; parse_room turns them into a LiveRoom here so that
the planner and its tests work on the same shape whether the data came from a
homeserver or from a test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Room versions where creators have unlimited power and may not be listed in power_levels.users.
PRIVILEGED_CREATOR_VERSIONS = frozenset({"12", "org.matrix.hydra.11"})

StateKey = tuple[str, str]  # (event type, state key)


@dataclass(frozen=True)
class LiveRoom:
    room_id: str
    state: Mapping[StateKey, Mapping[str, Any]]
    creators: frozenset[str] = frozenset()
    room_version: str = "1"
    published: bool | None = None  # listed in the room directory; None if it was not read
    room_creator: str | None = None  # the sender of m.room.create: a creator nobody declares

    @property
    def additional_creators(self) -> frozenset[str]:
        """The creators besides the one who made the room (version 12 and later)."""
        return self.creators - {self.room_creator} if self.privileged_creators else frozenset()

    def content(self, event_type: str, state_key: str = "") -> Mapping[str, Any] | None:
        return self.state.get((event_type, state_key))

    @property
    def privileged_creators(self) -> bool:
        return self.room_version in PRIVILEGED_CREATOR_VERSIONS

    @property
    def power_levels(self) -> Mapping[str, Any] | None:
        return self.content("m.room.power_levels")

    @property
    def encrypted(self) -> bool:
        return self.content("m.room.encryption") is not None

    @property
    def canonical_alias(self) -> str | None:
        alias = (self.content("m.room.canonical_alias") or {}).get("alias")
        return alias if isinstance(alias, str) else None

    @property
    def alt_aliases(self) -> tuple[str, ...]:
        alts = (self.content("m.room.canonical_alias") or {}).get("alt_aliases")
        return tuple(a for a in alts if isinstance(a, str)) if isinstance(alts, list) else ()

    @property
    def room_type(self) -> str | None:
        return (self.content("m.room.create") or {}).get("type")

    @property
    def replacement(self) -> str | None:
        """The room this one was tombstoned in favour of (an upgrade, or a retirement's successor)."""
        room = (self.content("m.room.tombstone") or {}).get("replacement_room")
        return room if isinstance(room, str) and room else None

    @property
    def predecessor(self) -> str | None:
        """The room this one replaced when it was created by an upgrade."""
        before = (self.content("m.room.create") or {}).get("predecessor")
        room = before.get("room_id") if isinstance(before, Mapping) else None
        return room if isinstance(room, str) and room else None

    def membership(self, user: str) -> str | None:
        return (self.content("m.room.member", user) or {}).get("membership")

    def members(self, *memberships: str) -> dict[str, str]:
        """Users whose member event was read, with one of these memberships: user -> membership."""
        found = {}
        for (kind, user), content in self.state.items():
            membership = content.get("membership")
            if kind == "m.room.member" and isinstance(membership, str) and membership in memberships:
                found[user] = membership
        return found

    def children(self) -> dict[str, Mapping[str, Any]]:
        """m.space.child links: child room id -> content (a link needs a non-empty via)."""
        return self._links("m.space.child")

    def parents(self) -> dict[str, Mapping[str, Any]]:
        return self._links("m.space.parent")

    def _links(self, event_type: str) -> dict[str, Mapping[str, Any]]:
        return {
            key: content
            for (kind, key), content in self.state.items()
            if kind == event_type and isinstance(content.get("via"), list) and content["via"]
        }

    def claimed_aliases(self) -> tuple[str, ...]:
        """Aliases this room's canonical_alias event names; Synapse keeps them pointing here."""
        own = (self.canonical_alias,) if self.canonical_alias else ()
        return own + self.alt_aliases


@dataclass(frozen=True)
class Unreadable:
    """A declared alias resolves to a room whose state the account cannot read."""

    room_id: str
    reason: str


@dataclass(frozen=True)
class BotAccount:
    """A local bot's account as Synapse's admin API shows it (GET /_synapse/admin/v2/users/{id})."""

    user_type: str | None = None
    displayname: str | None = None
    avatar_url: str | None = None
    deactivated: bool = False
    admin: bool = False
    locked: bool = False
    suspended: bool = False
    shadow_banned: bool = False
    rate_limit: str | None = None  # exempt | default | another override, described; None: not read


def parse_account(user: Mapping[str, Any], override: Mapping[str, Any] | None = None) -> BotAccount:
    """A BotAccount from the admin API's user (and, when read, its override_ratelimit answer)."""

    def text(key: str) -> str | None:
        value = user.get(key)
        return value if isinstance(value, str) else None

    return BotAccount(
        user_type=text("user_type"),
        displayname=text("displayname"),
        avatar_url=text("avatar_url"),
        **{flag: user.get(flag) is True for flag in ("deactivated", "admin", "locked", "suspended", "shadow_banned")},
        rate_limit=None if override is None else describe_rate_limit(override),
    )


def describe_rate_limit(override: Mapping[str, Any]) -> str:
    """override_ratelimit's answer in words: {} is "default", 0/0 "exempt", anything else its numbers."""
    rate, burst = override.get("messages_per_second"), override.get("burst_count")
    if rate is None and burst is None:
        return "default"
    if rate == 0 and burst == 0:
        return "exempt"
    return f"{rate} messages/s, burst {burst}"


@dataclass(frozen=True)
class MirrorView:
    """A mirror homeserver as its own account sees it (error: why it could not be read)."""

    server_name: str
    error: str | None = None
    joined: frozenset[str] = frozenset()  # room ids the mirror's account has joined
    room_ids: Mapping[str, str] = field(default_factory=dict)  # declared alias local part -> room id, as the
    #                                                            mirror's copy of the room's canonical alias says
    alias_owner: Mapping[str, str | None] = field(default_factory=dict)  # the mirror's aliases of declared names
    #                                                                        -> the room each names (None: none)
    published: Mapping[str, bool] = field(default_factory=dict)  # room id -> listed in the mirror's directory
    note: str | None = None  # how it was read, when not with its token (plan without it)


@dataclass(frozen=True)
class Snapshot:
    """Everything the planner needs to know about the homeserver."""

    account: str  # the provisioning account, whose power every change is checked against
    rooms: Mapping[str, LiveRoom | Unreadable] = field(default_factory=dict)  # by alias local part
    alias_owner: Mapping[str, str] = field(default_factory=dict)  # full alias -> room id, where known
    default_room_version: str = "12"
    room_versions: frozenset[str] | None = None  # versions the server offers; None: not asked
    replacements: Mapping[str, str] = field(default_factory=dict)  # tombstoned room id -> its replacement
    profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # bot user id -> profile
    reader: str = ""  # the account whose token read this snapshot (an observer, or the account itself)
    well_known: Mapping[str, Any] = field(default_factory=dict)  # file name -> wellknown.Fetched
    managed_rooms: tuple[tuple[str, str], ...] = ()  # (alias, room id) of joined rooms with roomsync's marker
    warnings: tuple[str, ...] = ()
    # Local bots' accounts by user id (None: the account does not exist); the whole mapping is None
    # when the reader is not a Synapse server admin, so the accounts were not checked.
    accounts: Mapping[str, BotAccount | None] | None = None
    # Whether local accounts that roomsync would invite exist, asked through their profile where the
    # admin API did not answer (False: the homeserver has no such user; left out: not asked, or no answer).
    existing: Mapping[str, bool] = field(default_factory=dict)
    admin_absent: str | None = None  # why Synapse's admin API could not be used, once it could not
    # policies.yaml's followed lists: each one's room as read, or Unreadable (room_id "": no such room).
    followed: Mapping[str, LiveRoom | Unreadable] = field(default_factory=dict)
    media: Mapping[str, str] = field(default_factory=dict)  # mxc:// URI -> sha256 (bots' avatars, when a file)
    mirrors: Mapping[str, MirrorView] = field(default_factory=dict)  # by server name
    home_error: str | None = None  # the home server could not be read: only the mirrors' part is planned


def parse_room(room_id: str, events: list[Mapping[str, Any]], published: bool | None = None) -> LiveRoom:
    """Build a LiveRoom from the events of GET /rooms/{id}/state."""
    state: dict[StateKey, Mapping[str, Any]] = {}
    create: Mapping[str, Any] = {}
    for event in events:
        if not isinstance(event, Mapping) or not isinstance(event.get("type"), str):
            continue
        content = event.get("content")
        if not isinstance(content, Mapping) or not content:
            continue  # an empty content is a removed state event
        key = (event["type"], str(event.get("state_key", "")))
        state[key] = content
        if key == ("m.room.create", ""):
            create = event
    create_content = create.get("content", {}) if create else {}
    version = str(create_content.get("room_version", "1"))
    creators = set()
    if create:
        if version in PRIVILEGED_CREATOR_VERSIONS:
            creators.add(create.get("sender"))
            extra = create_content.get("additional_creators")
            if isinstance(extra, list):
                creators.update(u for u in extra if isinstance(u, str))
        else:
            creators.add(create_content.get("creator") or create.get("sender"))
    return LiveRoom(
        room_id=room_id,
        state=state,
        creators=frozenset(c for c in creators if isinstance(c, str)),
        room_version=version,
        published=published,
        room_creator=create.get("sender") if isinstance(create.get("sender"), str) else None,
    )
