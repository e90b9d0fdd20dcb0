"""What a plan is made of: Changes people read, typed actions sync executes.

Both `plan` and `sync` render the Changes of the same RoomPlans; sync then runs
their actions, so what a reviewer approves is what the homeserver gets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ROOMS, BOTS = "rooms", "bots"  # plan sections, and the values of --only


@dataclass(frozen=True)
class Change:
    """One line a reviewer reads: a field going from before to after (None: absent)."""

    field: str
    before: Any
    after: Any
    section: str = ROOMS
    server: str | None = None  # a mirror homeserver's change (made with its token); None: the home server's

    @property
    def label(self) -> str:
        """The field as a plan shows it: a mirror's changes start with [its server name]."""
        return f"[{self.server}] {self.field}" if self.server else self.field

    @property
    def is_removal(self) -> bool:
        """Something taken away: a power-level user, a bot kicked, a member banned, an alias, a space link."""
        return (self.before is not None and self.after is None) or self.after in ("kicked", "banned")


@dataclass(frozen=True)
class RoomRef:
    """A declared room whose id may not exist at plan time; apply resolves it (known or just created)."""

    alias: str


@dataclass(frozen=True)
class MediaRef:
    """The mxc:// URI an avatar file gets when this sync uploads it (Upload, earlier in the plan)."""

    sha256: str


@dataclass(frozen=True)
class Upload:
    """An avatar file uploaded to the media repository, once per run however many rooms use it."""

    path: str  # as the config names it
    source: str  # the file on disk
    sha256: str
    mime: str


@dataclass(frozen=True)
class CreateRoom:
    body: Mapping[str, Any]  # the whole createRoom request


@dataclass(frozen=True)
class Upgrade:
    """Synapse's room upgrade to this version; sync then reads the new room and plans it again."""

    version: str
    creators: tuple[str, ...] = ()  # additional_creators of the new room (version 12 and later)
    marker: Mapping[str, Any] | None = None  # roomsync's marker, carried to the new room (its avatar record)


@dataclass(frozen=True)
class PutAlias:
    alias: str


@dataclass(frozen=True)
class DeleteAlias:
    alias: str


@dataclass(frozen=True)
class PutState:
    event_type: str
    state_key: str | RoomRef
    content: Mapping[str, Any]  # may hold RoomRefs (restricted join rules)


@dataclass(frozen=True)
class SetDirectory:
    visibility: str  # public | private


@dataclass(frozen=True)
class Invite:
    user: str


@dataclass(frozen=True)
class JoinAs:
    """The bot itself joins, with the token found in the environment variable token_env."""

    user: str
    token_env: str


@dataclass(frozen=True)
class MirrorJoin:
    """A mirror's account joins the room over federation, through these servers (the home server first)."""

    via: tuple[str, ...]


@dataclass(frozen=True)
class OnMirror:
    """An action a mirror homeserver carries out with its own account's token, after the home server's part."""

    server: str
    action: PutAlias | DeleteAlias | SetDirectory | MirrorJoin


BOT_KICK_REASON = "removed from bots.yaml (roomsync)"


@dataclass(frozen=True)
class Kick:
    user: str
    reason: str = BOT_KICK_REASON  # what the kicked user and the room see


@dataclass(frozen=True)
class Ban:
    """A member matching a user rule of an enforced or followed policy list."""

    user: str
    reason: str


@dataclass(frozen=True)
class Follow:
    """The account joins a followed policy list's room, to read its rules from the next run."""

    target: str  # the room alias or id as policies.yaml names it


@dataclass(frozen=True)
class SetProfile:
    user: str
    token_env: str
    display_name: str | None
    avatar: str | MediaRef | None


@dataclass(frozen=True)
class AdminJoin:
    """A local bot joined through Synapse's admin API (POST /_synapse/admin/v1/join): for a bot
    whose account this sync creates, so no token of its own can exist yet."""

    user: str


@dataclass(frozen=True)
class CreateAccount:
    """A local bot's account created through the admin API: user_type bot, no password."""

    user: str
    display_name: str | None
    avatar: str | MediaRef | None


@dataclass(frozen=True)
class SetAccount:
    """A local bot's account changed through the admin API; None leaves a field as it is."""

    user: str
    user_type: str | None = None
    display_name: str | None = None
    avatar: str | MediaRef | None = None


@dataclass(frozen=True)
class SetRateLimit:
    """exempt: override_ratelimit 0/0 (no message rate limits); otherwise the override is removed."""

    user: str
    exempt: bool


Action = (
    Upload
    | CreateRoom
    | Upgrade
    | PutAlias
    | DeleteAlias
    | PutState
    | SetDirectory
    | Invite
    | JoinAs
    | Kick
    | Ban
    | Follow
    | SetProfile
    | AdminJoin
    | CreateAccount
    | SetAccount
    | SetRateLimit
    | OnMirror
)
ACCOUNT_ACTIONS = (CreateAccount, SetAccount, SetRateLimit)  # sync runs these before any room


def references(value: Any) -> bool:
    """Does an action (or content) name another room by RoomRef? Those run after every room exists."""
    if isinstance(value, RoomRef):
        return True
    if isinstance(value, PutState):
        return references(value.state_key) or references(value.content)
    if isinstance(value, Mapping):
        return any(references(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(references(v) for v in value)
    return False


# Kinds of room errors that tools act on (`roomsync adopt`): the account is not in the room, or it
# lacks the power a change needs. Other errors carry no kind.
NOT_JOINED, LACKS_POWER = "not_joined", "lacks_power"


class RoomError(str):
    """A room's error message that also says what kind of error it is (NOT_JOINED, LACKS_POWER).

    It is a str, so it renders, compares and serialises as the message alone."""

    kind: str | None

    def __new__(cls, message: str, kind: str | None = None) -> RoomError:
        error = super().__new__(cls, message)
        error.kind = kind
        return error


def error_kinds(errors: tuple[str, ...] | list[str]) -> set[str]:
    """The kinds among a room's errors (plain strings have none)."""
    return {e.kind for e in errors if isinstance(e, RoomError) and e.kind}


@dataclass(frozen=True)
class RoomPlan:
    alias: str  # full alias, #local:server
    room_id: str | None
    create: bool = False
    changes: tuple[Change, ...] = ()
    actions: tuple[Action, ...] = ()
    errors: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    retired: bool = False  # declared retired: its changes take it out of use

    @property
    def upgrade(self) -> Upgrade | None:
        return next((a for a in self.actions if isinstance(a, Upgrade)), None)

    @property
    def status(self) -> str:
        """error, create, upgrade, retire, change (the room's own state changes) or ok (nothing, or
        only its bots)."""
        if self.errors:
            return "error"
        if self.create:
            return "create"
        if self.upgrade:
            return "upgrade"
        own = any(c.section == ROOMS for c in self.changes) or (self.actions and not self.changes)
        if own:
            return "retire" if self.retired else "change"
        return "ok"


@dataclass(frozen=True)
class BotPlan:
    """A bot's account and profile; its memberships and power live in the RoomPlans (section bots)."""

    name: str
    user: str
    changes: tuple[Change, ...] = ()
    actions: tuple[Action, ...] = ()
    notes: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()  # its account cannot serve as a bot (missing, deactivated, a server admin)
    create: bool = False  # sync creates its account

    @property
    def status(self) -> str:
        """error, create, change or ok, as for rooms."""
        if self.errors:
            return "error"
        if self.create:
            return "create"
        return "change" if self.actions else "ok"


@dataclass(frozen=True)
class Plan:
    server_name: str
    account: str
    rooms: tuple[RoomPlan, ...] = ()
    bots: tuple[BotPlan, ...] = ()
    well_known: tuple[Change, ...] = ()  # drift of the web server's files; sync never touches them
    reader: str = ""  # whose token read the live state, when not the account's own
    max_removals: int = 10
    warnings: tuple[str, ...] = ()  # about the run, not about a room (rate limits, undeclared rooms)
    notes: tuple[str, ...] = ()  # about the run, not changes (bot accounts not checked)
    homeserver: str = ""  # the client API URL the live state was read from (the CLI sets it)
    # Servers whose part could not be planned (server name -> why): the home server or a mirror that
    # did not answer, a mirror whose token is not set. The others' parts are planned all the same.
    server_errors: Mapping[str, str] = field(default_factory=dict)

    @property
    def removals(self) -> int:
        """Things taken away; an upgrade counts as one (the old room is left behind)."""
        rooms = sum(1 for r in self.rooms if not r.errors for c in r.changes if c.is_removal)
        rooms += sum(1 for r in self.rooms if not r.errors and r.upgrade)
        return rooms + sum(1 for b in self.bots for c in b.changes if c.is_removal)

    def count(self, status: str) -> int:
        return sum(1 for r in self.rooms if r.status == status)

    @property
    def has_changes(self) -> bool:
        return any(r.actions for r in self.rooms) or any(b.actions for b in self.bots) or bool(self.well_known)

    @property
    def has_errors(self) -> bool:
        return any(r.errors for r in self.rooms) or any(b.errors for b in self.bots) or bool(self.server_errors)
