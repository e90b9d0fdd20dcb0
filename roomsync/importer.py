"""`roomsync import` without the network: live rooms -> room entries -> one deterministic YAML document.

Import is the planner's inverse over the same table of fields (fields.py): every field is
written at the value the planner reads from the room, so the next plan finds nothing to change.
What a rooms file cannot say is left out and said on stderr:

- power_levels keys the schema does not know (Synapse's own defaults carry MSC2716's
  `historical`, left out silently); roomsync leaves such keys as they are in the room.
- `users` never lists the provisioning account (the planner keeps its entry by itself), the
  declared bots (bots.yaml holds their levels) or, in room versions where creators have
  unlimited power, the creators (listing them is an error for the planner). When a user entry
  cannot be declared at all (a user id validate refuses), `users` is left out, so nobody's power
  changes.
- fields equal to roomsync.yaml's `defaults` are left out (the default says the same).

check() then runs what a user would run next on the result, offline: the config with the new
file is validated (in a temporary copy of the config directory), and the planner plans the
imported rooms against the state just read. What
would still be a change (a space link that exists on one side only, an alias on another server,
a power level stored as a string ...) is returned as a warning, so the user knows before `plan`.

The reading (GET only) is in importread.py.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import fields, ids, otherstate
from .actions import BOTS, LACKS_POWER, NOT_JOINED, error_kinds
from .config import BOTS_FILE, ROOMS_DIR, ROOMS_SUFFIXES, SETTINGS_FILE, load_config
from .errors import ConfigError
from .live import LiveRoom, Snapshot, Unreadable
from .model import Config, SpaceLink

# The keys of m.room.power_levels a rooms file may declare, in the order import writes them.
POWER_KEYS = (
    "users",
    "users_default",
    "events",
    "events_default",
    "state_default",
    "invite",
    "kick",
    "ban",
    "redact",
    "notifications",
)
POWER_SCALARS = ("users_default", "events_default", "state_default", "invite", "kick", "ban", "redact")
NOTIFICATION_KEYS = ("room",)
SYNAPSE_LEFTOVERS = frozenset({"historical"})  # Synapse's default power levels still carry MSC2716's key
MAX_LEVEL = 2**53 - 1  # Matrix's canonical JSON integer range
SPACE_ORDER_MAX = 50  # m.space.child `order`: at most 50 printable ASCII characters


@dataclass(frozen=True)
class Known:
    """A room import may name in `spaces`: one it imports, or one rooms/ already declares."""

    alias: str  # local part
    is_space: bool
    live: LiveRoom | None  # None: not read (a declared room the account cannot read)


@dataclass
class Entry:
    """One imported room: its entry for the rooms file, and what could not go into it."""

    room_id: str
    fields: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    @property
    def alias(self) -> str:
        alias: str = self.fields["alias"]
        return alias

    @property
    def is_space(self) -> bool:
        return self.fields.get("type") == "space"


# --- one room ----------------------------------------------------------------------------------


def room_entry(
    live: LiveRoom,
    alias: str,
    config: Config,
    me: str,
    known: Mapping[str, Known],
    defaults: Mapping[str, Any],
    *,
    all_state: bool = False,
) -> Entry:
    """The rooms-file entry that declares `live` as it is, under the alias local part `alias`.

    `known`: room id -> Known for every room imported or declared, the only rooms `spaces` may name.
    `defaults`: roomsync.yaml's defaults (config_defaults): a field equal to its default is left out.
    `all_state`: also `state:`, the room's state that no field covers."""
    entry = Entry(live.room_id, {"alias": alias})
    for name in fields.ENTRY_ORDER[1:]:
        if name in fields.FIELDS:
            value = fields.read(name, live)
            if value is not None and not fields.FIELDS[name].valid(value):
                entry.warnings.append(f"{name} is {value!r}, which a rooms file cannot declare: left out")
                value = None
        elif name == "alt_aliases":
            value = alt_aliases(live, alias, config.server_name)
        elif name == "power_levels":
            value = power_levels(live, me, {bot.user for bot in config.bots}, entry.warnings)
        elif name == "creators":
            value = creators(live, me)
        elif name == "members":
            value = members(live, me, {bot.user for bot in config.bots})
        elif name == "state":
            value = (otherstate.unmanaged(live) or None) if all_state else None
        else:
            value = spaces(live, known)
        if value is not None:
            entry.fields[name] = value
    for name, default in defaults.items():
        if name in entry.fields and _same(name, entry.fields[name], default):
            del entry.fields[name]
    return entry


def config_defaults(root: Path) -> Mapping[str, Any]:
    """roomsync.yaml's `defaults` (Config keeps only the rooms they were merged into). The file has
    been loaded and checked by load_config already."""
    data = yaml.safe_load((Path(root) / SETTINGS_FILE).read_text(encoding="utf-8")) or {}
    defaults = data.get("defaults") if isinstance(data, dict) else None
    return defaults if isinstance(defaults, dict) else {}


def _same(name: str, value: Any, default: Any) -> bool:
    if name == "spaces":
        return _links(value) == _links(default)
    return bool(value == default)


def _links(value: Any) -> tuple[SpaceLink, ...] | None:
    if not isinstance(value, list):
        return None
    links = []
    for item in value:
        if isinstance(item, str):
            links.append(SpaceLink(item))
        elif isinstance(item, Mapping) and isinstance(item.get("space"), str):
            links.append(SpaceLink(item["space"], item.get("order"), bool(item.get("suggested", False))))
    return tuple(links)


def alt_aliases(live: LiveRoom, alias: str, server_name: str) -> list[str]:
    """The room's alt aliases on server_name that a rooms file can declare, in the event's order."""
    found: list[str] = []
    for full in live.alt_aliases:
        local, _, server = full.partition(":")
        local = local.removeprefix("#")
        if server != server_name or not full.startswith("#") or local == alias or local in found:
            continue
        if ids.alias_localpart_problem(local, server_name) is None:
            found.append(local)
    return found


def level(value: Any) -> int | None:
    """A power level a rooms file can declare: an integer in Matrix's range. Integers written as
    strings or floats (older room versions allowed them) become integers; anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and -MAX_LEVEL <= value <= MAX_LEVEL else None


def power_levels(live: LiveRoom, me: str, bots: set[str], warnings: list[str]) -> dict[str, Any] | None:
    """Every key of m.room.power_levels a rooms file can declare, normalised as the schema wants it."""
    content = live.power_levels
    if content is None:
        return None
    out: dict[str, Any] = {}
    for key in sorted(content):
        if key not in POWER_KEYS and key not in SYNAPSE_LEFTOVERS:
            warnings.append(f"power_levels.{key} is not a key roomsync manages: left out (and left as it is)")
    for key in POWER_KEYS:
        if key not in content:
            continue
        value = content[key]
        if key in POWER_SCALARS:
            if (converted := level(value)) is None:
                warnings.append(f"power_levels.{key} is {value!r}, not a power level: left out (and left as it is)")
            else:
                out[key] = converted
        elif key in ("events", "notifications"):
            if not isinstance(value, Mapping):
                warnings.append(f"power_levels.{key} is not a mapping: left out (and left as it is)")
                continue
            mapped = {}
            for name in sorted(value):
                converted = level(value[name])
                if key == "notifications" and name not in NOTIFICATION_KEYS:
                    warnings.append(
                        f"power_levels.notifications.{name} is not a key roomsync manages: left out (and left as it is)"
                    )
                elif converted is None:
                    warnings.append(
                        f"power_levels.{key}.{name} is {value[name]!r}, not a power level: left out (and left as it is)"
                    )
                else:
                    mapped[name] = converted
            out[key] = mapped
        else:
            users = _users(live, value, me, bots, warnings)
            if users is not None:
                out["users"] = users
    return out


def _users(live: LiveRoom, value: Any, me: str, bots: set[str], warnings: list[str]) -> dict[str, int] | None:
    if not isinstance(value, Mapping):
        warnings.append("power_levels.users is not a mapping: users left out (not managed)")
        return None
    users = {}
    for user in sorted(value):
        if user == me or user in bots or (live.privileged_creators and user in live.creators):
            continue
        converted = level(value[user])
        problem = ids.user_id_problem(user) if isinstance(user, str) else "not a user id"
        if problem or converted is None:
            why = problem or f"{user}'s level {value[user]!r} is not a power level"
            warnings.append(f"power_levels.users is left out (not managed, so nobody's power changes): {why}")
            return None
        users[user] = converted
    return users


def creators(live: LiveRoom, me: str) -> list[str] | None:
    """The creators besides the account, when there are any (version 12 and later)."""
    if not live.privileged_creators:
        return None
    people = live.creators - {me}
    return sorted(people) if people else None


def members(live: LiveRoom, me: str, bots: set[str]) -> list[str] | None:
    """Who is in (or invited into) an invite-only or knock room: its members, decided in review."""
    if fields.read("join_rule", live) not in ("invite", "knock"):
        return None
    people = set(live.members("join", "invite")) - {me} - bots
    return sorted(people) or None


def spaces(live: LiveRoom, known: Mapping[str, Known]) -> list[Any] | None:
    """The spaces this room belongs to, among the known ones: linked from either side (m.space.child
    in the space, m.space.parent here) or named by a restricted join rule. The canonical parent
    first, then by alias; the long form only where the space's link has an order or suggested."""
    members = {room_id for room_id, other in known.items() if other.is_space and room_id != live.room_id}
    linked: set[str] = set()
    child_content: dict[str, Mapping[str, Any]] = {}
    for room_id in members:
        other = known[room_id].live
        if other is not None and live.room_id in other.children():
            linked.add(room_id)
            child_content[room_id] = other.children()[live.room_id]
    parents = live.parents()
    linked |= {room_id for room_id in parents if room_id in members}
    rules = live.content("m.room.join_rules") or {}
    if rules.get("join_rule") == "restricted":
        for allowed in rules.get("allow") or []:
            if isinstance(allowed, Mapping) and allowed.get("room_id") in members:
                linked.add(allowed["room_id"])
    if not linked:
        return None
    canonical = sorted(
        (room_id for room_id in linked if (parents.get(room_id) or {}).get("canonical") is True),
        key=lambda r: known[r].alias,
    )
    rest = sorted((room_id for room_id in linked if room_id not in canonical), key=lambda r: known[r].alias)
    result: list[Any] = []
    for room_id in canonical + rest:
        content = child_content.get(room_id) or {}
        order, suggested = content.get("order"), content.get("suggested") is True
        long_form: dict[str, Any] = {"space": known[room_id].alias}
        if isinstance(order, str) and 0 < len(order) <= SPACE_ORDER_MAX and all(" " <= c <= "~" for c in order):
            long_form["order"] = order
        if suggested:
            long_form["suggested"] = True
        result.append(long_form if len(long_form) > 1 else known[room_id].alias)
    return result


# --- the document --------------------------------------------------------------------------------


def ordered(entries: list[Entry]) -> list[Entry]:
    """Spaces first, each after the spaces that hold it (then by alias); then the rooms, grouped
    by their first space in that order, then by alias; rooms in no space last."""
    spaces_ = {e.alias: e for e in entries if e.is_space}
    parents = {alias: [s for s in _space_names(e) if s in spaces_ and s != alias] for alias, e in spaces_.items()}
    placed: list[str] = []
    pending = sorted(spaces_)
    while pending:
        ready = [a for a in pending if all(p in placed for p in parents[a])] or pending[:1]  # a cycle: by alias
        placed.append(ready[0])
        pending.remove(ready[0])
    position = {alias: index for index, alias in enumerate(placed)}

    def room_key(entry: Entry) -> tuple[int, str]:
        firsts = [position[s] for s in _space_names(entry) if s in position]
        return (firsts[0] if firsts else len(placed), entry.alias)

    rooms = sorted((e for e in entries if not e.is_space), key=room_key)
    return [spaces_[a] for a in placed] + rooms


def _space_names(entry: Entry) -> list[str]:
    return [s if isinstance(s, str) else s["space"] for s in entry.fields.get("spaces") or []]


class _Flow(list[Any]):
    """A list written in flow style: alt_aliases: [zuul-ci], spaces: [{space: s, order: '10'}]."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _Flow, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)
)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    # A string with a line break or another character that is not printable goes in double quotes,
    # where YAML escapes it: every value stays on its line and reads back exactly (YAML would fold
    # a NEL or a line separator inside other styles).
    if not data.isprintable() or any(c in data for c in "\x85\u2028\u2029\ufeff"):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style='"')
    return dumper.represent_str(data)


_Dumper.add_representer(str, _represent_str)
HEADER = "# Written by `roomsync import`: each room's id is the comment on its alias line."


def render(entries: list[Entry], modeline: str) -> str:
    """The rooms file: the modeline, a header, then `rooms:` with one entry per room, in order."""
    lines = [modeline, HEADER, "rooms:"]
    for index, entry in enumerate(ordered(entries)):
        data = {k: _Flow(v) if k in ("alt_aliases", "creators", "spaces") else v for k, v in entry.fields.items()}
        text = yaml.dump(
            [data], Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1_000_000, default_flow_style=False
        )
        first, *rest = text.rstrip("\n").split("\n")
        if index:
            lines.append("")
        lines.append(f"  {first}  # {_printable(entry.room_id)}")
        lines += [f"  {line}" if line.strip() else "" for line in rest]
    return "\n".join(lines) + "\n"


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)


# --- the check: validate and plan, offline ------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """What import read, as the planner's snapshot needs it."""

    me: str  # the provisioning account
    reader: str  # whose token read it
    rooms: Mapping[str, LiveRoom | Unreadable]  # alias local part -> room, imported and declared
    alias_owner: Mapping[str, str]  # full alias -> room id, for the aliases the rooms claim


def check(config_root: Path, text: str, shown_as: str, reading: Reading, imported: list[str]) -> tuple[list[str], int]:
    """What `roomsync validate` and then `roomsync plan` would say about the imported rooms once `text`
    is in rooms/ next to the config: their problems, and every change or error the plan would still
    show for them (but `not joined` and `lacks power`, which `roomsync adopt` is for), as warnings;
    and the number of bot changes (memberships, bots' power) bots.yaml asks for there. Offline."""
    root = Path(config_root)
    with tempfile.TemporaryDirectory(prefix="roomsync-import-") as tmp:
        copy = Path(tmp)
        for name in (SETTINGS_FILE, BOTS_FILE):
            if (root / name).is_file():
                shutil.copyfile(root / name, copy / name)
        (copy / ROOMS_DIR).mkdir()
        if (root / ROOMS_DIR).is_dir():
            for path in (root / ROOMS_DIR).iterdir():
                if path.is_file() and path.suffix.lower() in ROOMS_SUFFIXES and not path.name.startswith("."):
                    shutil.copyfile(path, copy / ROOMS_DIR / path.name)
        target = copy / ROOMS_DIR / "zz-roomsync-import.yaml"
        target.write_text(text, encoding="utf-8")
        try:
            config = load_config(copy, partial=True)
        except ConfigError as exc:
            return [f"validate will report: {_shown(str(p), copy, target, shown_as)}" for p in exc.problems], 0
    from .plan import make_plan  # the planner is only needed here

    snapshot = Snapshot(account=reading.me, rooms=reading.rooms, alias_owner=reading.alias_owner, reader=reading.reader)
    plan = make_plan(config, snapshot, rooms_selected=imported)
    warnings = []
    from .render import transition

    bot_changes = 0
    for room in plan.rooms:  # the imported rooms, and declared rooms whose links with them differ
        for error in room.errors:
            if not error_kinds([error]) & {NOT_JOINED, LACKS_POWER}:
                warnings.append(f"{room.alias}: plan will report: {error}")
        for change in room.changes:
            if change.section == BOTS:
                bot_changes += 1
            else:
                warnings.append(f"{room.alias}: plan will show: {change.field}: {transition(change)}")
    return warnings, bot_changes


def _shown(text: str, copy: Path, target: Path, shown_as: str) -> str:
    for path in (str(target), str(target.resolve())):
        text = text.replace(path, shown_as)
    for path in (str(copy.resolve()), str(copy)):
        text = text.replace(path + "/", "")
    return text
