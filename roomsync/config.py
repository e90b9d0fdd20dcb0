"""Load roomsync.yaml and rooms/*.yaml into a Config, or fail with every problem found.

Three layers of checks, all offline: YAML itself (yamlfile), the JSON Schemas in
schema/, then what a schema cannot say (identifier grammar, duplicates across
files, combinations Matrix would refuse).
"""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

from . import acl, avatars, docsettings, ids, otherstate, people, schemas
from .errors import ConfigError, Mark, Problem, unknown_room
from .model import ALL_ROOMS, BotSpec, Config, RoomSpec
from .policies import Policies
from .policyfile import POLICIES_FILE, load_policies
from .yamlfile import LoadedFile, load_yaml

SETTINGS_FILE = "roomsync.yaml"
ROOMS_DIR = "rooms"
ROOMS_SUFFIXES = (".yaml", ".yml")
BOTS_FILE = "bots.yaml"
MAX_TOPIC_BYTES = 32_000  # well inside Matrix's 64 KiB event limit
JOIN_RULE_MIN_VERSION = {"knock": 7, "restricted": 8}
CREATORS_MIN_VERSION = 12  # MSC4289: creators besides the sender of m.room.create


def display_path(path: Path) -> str:
    """The path as a user should see it: relative to the working directory when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


# --- checks a schema cannot express ------------------------------------------------------


def _placed(loaded: LoadedFile, found: list[people.Found]) -> list[Problem]:
    return [loaded.problem(f.path, f.message, key=f.key) for f in found]


def _people_fields(
    loaded: LoadedFile,
    path: tuple[Any, ...],
    own: dict[str, Any],
    merged: dict[str, Any],
    groups: dict[str, frozenset[str]],
) -> tuple[dict[str, Any], frozenset[str], list[Problem]]:
    """The fields that name people, with groups resolved to user ids; the user ids the entry's
    own power_levels.users names by id; and the problems of what the entry writes itself."""
    resolved: dict[str, Any] = {}
    found: list[people.Found] = []
    for name in ("creators", "members"):
        if isinstance(merged.get(name), list):
            users, problems = people.people(merged[name], groups, (*path, name))
            resolved[name] = tuple(sorted(users))
            found += problems if name in own else []
    creators = frozenset(resolved.get("creators", ()))
    levels = merged.get("power_levels")
    named: frozenset[str] = frozenset()
    if isinstance(levels, dict) and isinstance(levels.get("users"), dict):
        own_users = (own.get("power_levels") or {}).get("users") or {}
        levels_of, problems = people.power_users(levels["users"], groups, (*path, "power_levels", "users"), own_users)
        found += problems
        named = frozenset(u for u in own_users if not people.is_group(u) and own_users[u] is not None)
        for creator in sorted(creators & named):
            found.append(
                people.Found(
                    (*path, "power_levels", "users", creator),
                    f"{creator} is one of this room's creators, who have unlimited power and may not be listed "
                    "in power_levels.users; remove it here",
                    key=True,
                )
            )
        resolved["power_levels"] = {**levels, "users": {u: lvl for u, lvl in levels_of.items() if u not in creators}}
    return resolved, named, _placed(loaded, found)


def _room_field_problems(
    loaded: LoadedFile, path: tuple[Any, ...], own: dict[str, Any], merged: dict[str, Any]
) -> list[Problem]:
    """Checks on the fields a room (or defaults) sets itself, and on the merged combination."""
    problems = [
        loaded.problem((*path, "state", *where), message)
        for where, message in (otherstate.problems(own["state"]) if isinstance(own.get("state"), list) else [])
    ]
    topic = own.get("topic")
    if isinstance(topic, str) and len(topic.encode()) > MAX_TOPIC_BYTES:
        problems.append(loaded.problem((*path, "topic"), f"topic is longer than {MAX_TOPIC_BYTES} bytes"))
    version = merged.get("room_version")
    rule = merged.get("join_rule")
    needed = JOIN_RULE_MIN_VERSION.get(rule) if isinstance(rule, str) else None
    # Reported where the combination is made: not again in every room that merely inherits both.
    if (
        needed
        and isinstance(version, str)
        and version.isdigit()
        and int(version) < needed
        and ("join_rule" in own or "room_version" in own)
    ):
        problems.append(
            loaded.problem(
                (*path, "join_rule" if "join_rule" in own else "room_version"),
                f"join_rule {rule} needs room_version {needed} or later (room_version is {version})",
            )
        )
    if (
        "creators" in merged
        and isinstance(version, str)
        and version.isdigit()
        and int(version) < CREATORS_MIN_VERSION
        and ("creators" in own or "room_version" in own)
    ):
        problems.append(
            loaded.problem(
                (*path, "creators" if "creators" in own else "room_version"),
                f"creators needs room_version {CREATORS_MIN_VERSION} or later (room_version is {version}); "
                "older versions have a single creator",
            )
        )
    if merged.get("members_exclusive") is True and ("members_exclusive" in own or "join_rule" in own):
        at = (*path, "members_exclusive" if "members_exclusive" in own else "join_rule")
        if rule == "public":
            problems.append(
                loaded.problem(at, "members_exclusive is for rooms people cannot join by themselves, not a public room")
            )
        elif "members" not in merged:
            problems.append(loaded.problem(at, "members_exclusive needs members: the people who may stay"))
    return problems


class _AvatarFiles:
    """The avatar files the config names, each read and checked once however many rooms use it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, avatars.AvatarFile] = {}
        self.refused: dict[str, str] = {}

    def check(self, loaded: LoadedFile, path: tuple[Any, ...], value: Any) -> list[Problem]:
        if not avatars.is_file(value) or value in self.files:
            return []
        if value not in self.refused:
            found = avatars.load(self.root, value)
            if isinstance(found, str):
                self.refused[value] = found
            else:
                self.files[value] = found
                return []
        return [loaded.problem(path, self.refused[value])]


class _AliasRegistry:
    """Every alias (primary or alt) belongs to exactly one room across all files."""

    def __init__(self) -> None:
        self.seen: dict[str, Mark] = {}

    def claim(self, loaded: LoadedFile, path: tuple[Any, ...], localpart: str, server_name: str) -> list[Problem]:
        problem = ids.alias_localpart_problem(localpart, server_name)
        if problem:
            return [loaded.problem(path, problem)]
        mark = loaded.mark(path)
        if localpart in self.seen:
            return [Problem(mark, f"alias '{localpart}' is already declared at {self.seen[localpart]}")]
        self.seen[localpart] = mark
        return []


def _rooms_files(root: Path) -> tuple[list[Path], list[Problem]]:
    """rooms/*.yaml and rooms/*.yml; a rooms file anywhere else is an error, never ignored."""
    directory = root / ROOMS_DIR
    settings = display_path(root / SETTINGS_FILE)
    if not directory.is_dir():
        return [], [
            Problem(
                Mark(settings, 1, 1),
                f"there is no {ROOMS_DIR}/ directory next to this file: declare the rooms in {ROOMS_DIR}/*.yaml",
            )
        ]
    files, problems = [], _misplaced(root)
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        if path.suffix.lower() not in ROOMS_SUFFIXES:
            if any(f"{suffix}." in path.name.lower() for suffix in ROOMS_SUFFIXES) or path.name.endswith("~"):
                problems.append(
                    Problem(Mark(display_path(path), 1, 1), "not read: a rooms file's name ends in .yaml or .yml")
                )
            continue
        if path.parent != directory:
            problems.append(
                Problem(
                    Mark(display_path(path), 1, 1),
                    f"not read: rooms files must be directly in {ROOMS_DIR}/, not in a subdirectory",
                )
            )
        else:
            files.append(path)
    if not files and not problems:
        problems.append(
            Problem(
                Mark(settings, 1, 1),
                f"{ROOMS_DIR}/ holds no .yaml or .yml file: declare the "
                f"rooms there, each file with a top-level 'rooms:' list",
            )
        )
    return files, problems


# Files people put next to roomsync.yaml meaning something roomsync reads elsewhere.
MISPLACED = {
    "rooms.yaml": f"not read: rooms files go in {ROOMS_DIR}/ (move this one to {ROOMS_DIR}/rooms.yaml)",
    "rooms.yml": f"not read: rooms files go in {ROOMS_DIR}/ (move this one to {ROOMS_DIR}/rooms.yml)",
    "bots.yml": f"not read: the bots file is {BOTS_FILE} (rename this one)",
    "roomsync.yml": f"not read: the settings file is {SETTINGS_FILE} (rename this one)",
    "policies.yml": f"not read: the policies file is {POLICIES_FILE} (rename this one)",
}


def _misplaced(root: Path) -> list[Problem]:
    problems = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        why = MISPLACED.get(path.name.lower())
        if why and path.is_file() and path.name not in (SETTINGS_FILE, BOTS_FILE, POLICIES_FILE):
            problems.append(Problem(Mark(display_path(path), 1, 1), why))
    return problems


def config_files(root: Path) -> list[Path]:
    """The files a config is read from: roomsync.yaml, the rooms files, bots.yaml and policies.yaml."""
    files = [root / SETTINGS_FILE, *_rooms_files(root)[0]]
    return files + [root / name for name in (BOTS_FILE, POLICIES_FILE) if (root / name).is_file()]


def homeserver_problem(url: str) -> str | None:
    """The client-server API's base URL: a request path is added to it, so it must have none of its own."""
    if "/_matrix" in url:
        base = url.split("/_matrix", 1)[0] or "https://matrix.example.org"
        return f"homeserver must be the base URL without /_matrix/...: '{base}'"
    return None


def load_config(root: Path, *, partial: bool = False) -> Config:
    """Read and check the whole config directory. Raises ConfigError listing every problem."""
    # A config is a tree of fresh objects, many of them (20,000 rooms: a million): the cycle
    # collector would walk them again and again while they are made, for nothing to collect.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _load_config(root, partial=partial)
    finally:
        if collecting:
            gc.enable()


def _load_config(root: Path, *, partial: bool = False) -> Config:
    """load_config's work.

    A problem that only follows from an earlier one is not reported: when a rooms file cannot
    be read, its rooms are unknown, so "unknown room" in bots.yaml or "unknown space" would be
    false; when server_name is missing, nothing that depends on it is checked.

    `partial` is for `roomsync adopt` and `roomsync import`, which run while the rooms are being
    declared: rooms/ may be missing or empty, and bots.yaml may name rooms not declared yet.
    """
    root = Path(root)
    settings, data, server_name, problems = _read_settings(root)
    groups, group_problems = people.resolve_groups(data["groups"] if isinstance(data.get("groups"), dict) else {})
    problems += _placed(settings, group_problems)
    defaults: dict[str, Any] = data["defaults"] if isinstance(data.get("defaults"), dict) else {}
    problems += _room_field_problems(settings, ("defaults",), defaults, defaults)
    problems += _people_fields(settings, ("defaults",), defaults, defaults, groups)[2]

    paths, file_problems = _rooms_files(root)
    if not (root / SETTINGS_FILE).exists() and not (root / ROOMS_DIR).is_dir():
        file_problems = []  # neither is there: the wrong directory, which roomsync.yaml's problem says
    if partial:  # no rooms/, or nothing in it, is where adopting a homeserver starts
        file_problems = [p for p in file_problems if p.mark.file != settings.display]
    problems += file_problems
    located, faulty, aliases, room_problems, all_read = _read_rooms(paths, defaults, server_name, groups)
    problems += room_problems
    complete = bool(server_name) and not file_problems and all_read  # every declared room is known
    rooms = [spec for spec, _loaded, _at in located]

    problems += _space_problems(located, complete, faulty)
    problems += _lifecycle_problems(located, aliases, complete, faulty)
    account: str | None = data["account"] if isinstance(data.get("account"), str) else None
    avatar_files = _AvatarFiles(root)
    problems += avatar_files.check(settings, ("defaults", "avatar"), defaults.get("avatar"))
    for spec, loaded, at in located:
        problems += avatar_files.check(loaded, (*at, "avatar"), spec.get("avatar")) if "avatar" in spec.own else []
    known_rooms = {spec.alias for spec in rooms if not spec.retired} | faulty if complete and not partial else None
    retired = {spec.alias: f"room '{spec.alias}' is retired: bots no longer serve it" for spec in rooms if spec.retired}
    bots, bot_problems = _load_bots(root, server_name, known_rooms, account, retired, avatar_files)
    problems += bot_problems
    policies, everyone = Policies(), _everyone(account, bots, groups, rooms)
    if server_name:
        ours = acl.our_servers(server_name, account, _our_people(bots, groups))
        problems += _acl_problems(settings, ("defaults",), defaults, ours)
        for spec, loaded, at in located:
            problems += _room_acl_problems(spec, loaded, at, ours, "server_acl" in defaults)
        by_alias = {spec.alias: spec for spec in rooms} if complete and not partial else None
        policies, policy_problems = load_policies(
            root, display_path(root / POLICIES_FILE), server_name, by_alias, everyone
        )
        problems += policy_problems
    problems += docsettings.check(settings, root, data.get("docs"), display_path)
    if problems:
        raise ConfigError(problems)
    return Config(
        root=root,
        server_name=server_name,
        homeserver=data.get("homeserver"),
        rooms=tuple(rooms),
        bots=bots,
        account=account,
        well_known=data.get("well_known") or {},
        min_admins=data.get("min_admins", 0),
        max_removals=data.get("max_removals", 10),
        docs=docsettings.load(data.get("docs") or {}),
        policies=policies,
        ours=everyone,
        avatars=avatar_files.files,
    )


def _read_settings(root: Path) -> tuple[LoadedFile, dict[str, Any], str, list[Problem]]:
    """roomsync.yaml: the file, its mapping ({} if unusable), the server name ("" if unusable), problems."""
    settings = load_yaml(root / SETTINGS_FILE, display_path(root / SETTINGS_FILE))
    if not (root / SETTINGS_FILE).exists():
        settings.problems = [
            Problem(
                Mark(settings.display, 1, 1),
                "file not found: run roomsync in the config directory, or name it with -C DIR",
            )
        ]
    problems = list(settings.problems)
    if settings.data is not None or not settings.problems:
        problems += schemas.schema_problems(settings, "roomsync.schema.json")
    data: dict[str, Any] = settings.data if isinstance(settings.data, dict) else {}
    server_name: str = data["server_name"] if isinstance(data.get("server_name"), str) else ""
    if server_name and (problem := ids.server_name_problem(server_name)):
        problems.append(settings.problem(("server_name",), problem))
        server_name = ""
    if isinstance(data.get("account"), str) and (problem := ids.user_id_problem(data["account"])):
        problems.append(settings.problem(("account",), problem))
    if isinstance(data.get("homeserver"), str) and (problem := homeserver_problem(data["homeserver"])):
        problems.append(settings.problem(("homeserver",), problem))
    delegated: dict[str, Any] = data["well_known"] if isinstance(data.get("well_known"), dict) else {}
    if isinstance(delegated.get("server"), str) and ids.server_name_problem(delegated["server"]):
        message = f"well_known.server '{delegated['server']}' must be host or host:port"
        problems.append(settings.problem(("well_known", "server"), message))
    return settings, data, server_name, problems


Located = list[tuple[RoomSpec, LoadedFile, tuple[Any, ...]]]


def _read_rooms(
    paths: list[Path], defaults: dict[str, Any], server_name: str, groups: dict[str, frozenset[str]]
) -> tuple[Located, set[str], _AliasRegistry, list[Problem], bool]:
    """The rooms of every rooms file, each with where it was declared; the aliases of the rooms
    whose entries have problems of their own; the aliases claimed; the problems; and whether every
    room's alias is known (else a reference to an unknown room may be one of them).

    A problem in one room's entry leaves the other rooms of its file usable, so that validate
    reports every independent problem in one run."""
    located: Located = []
    faulty: set[str] = set()
    aliases = _AliasRegistry()
    problems: list[Problem] = []
    all_read = True
    for path in paths:
        loaded = load_yaml(path, display_path(path))
        problems += loaded.problems
        if loaded.data is None and loaded.problems:
            all_read = False
            continue
        schema_problems = schemas.schema_problems(loaded, "rooms.schema.json")
        problems += schema_problems
        entries = loaded.data.get("rooms") if isinstance(loaded.data, dict) else None
        if not server_name or not isinstance(entries, list):
            all_read = False
            continue
        for index, entry in enumerate(entries):
            at = ("rooms", index)
            if schema_problems and not _entry_is_valid(entry):
                if isinstance(entry, dict) and isinstance(entry.get("alias"), str):
                    faulty.add(entry["alias"])  # known, so that a reference to it is not "unknown"
                else:
                    all_read = False
                continue
            problems += _claim_aliases(aliases, loaded, at, entry, server_name)
            merged = _merged(defaults, entry)
            problems += _room_field_problems(loaded, at, entry, merged)
            resolved, named, people_problems = _people_fields(loaded, at, entry, merged, groups)
            problems += people_problems
            spec = RoomSpec(
                alias=entry["alias"],
                fields={**merged, **resolved},
                mark=loaded.mark(at),
                own=frozenset(entry) - {"alias"},
                named_users=named,
            )
            located.append((spec, loaded, at))
    return located, faulty, aliases, problems, all_read


def _entry_is_valid(entry: Any) -> bool:
    """Does one room entry pass the rooms schema (its problems were reported with its file's)?"""
    check = schemas.quick_check("rooms.schema.json")
    if check is not None:
        return check({"rooms": [entry]})
    return not any(True for _ in schemas.validator("rooms.schema.json").iter_errors({"rooms": [entry]}))


def _our_people(bots: tuple[BotSpec, ...], groups: dict[str, frozenset[str]]) -> list[tuple[str, str]]:
    """The people and bots no server ACL may shut out, as (user id, what they are)."""
    people = [(bot.user, f"the bot {bot.name}") for bot in bots]
    return people + [(user, f"the member of group {name}") for name in sorted(groups) for user in sorted(groups[name])]


def _everyone(
    account: str | None, bots: tuple[BotSpec, ...], groups: dict[str, frozenset[str]], rooms: list[RoomSpec]
) -> dict[str, str]:
    """Every user id the config names as one of ours, with what it is: no policy rule may match one."""
    found = {account: "the provisioning account"} if account else {}
    for user, what in _our_people(bots, groups):
        found.setdefault(user, what)
    for spec in rooms:
        for what, users in (("a creator", spec.creators or ()), ("a member", spec.members or ())):
            for user in sorted(users):
                found.setdefault(user, f"{what} of room '{spec.alias}'")
    return found


def _acl_problems(
    loaded: LoadedFile, at: tuple[Any, ...], fields: dict[str, Any], ours: dict[str, str]
) -> list[Problem]:
    declared = fields.get("server_acl")
    if not isinstance(declared, dict):
        return []
    return [
        loaded.problem(
            (*at, "server_acl"), f"server_acl refused: {why}; roomsync never locks its own server or people out"
        )
        for why in acl.shut_out(acl.content(declared), ours)
    ]


def _room_acl_problems(
    spec: RoomSpec, loaded: LoadedFile, at: tuple[Any, ...], ours: dict[str, str], in_defaults: bool
) -> list[Problem]:
    """A room's own server_acl against every one of ours; one it inherits (said once, at the
    defaults) against the room's own people only: its creators and members."""
    own = {
        server: f"{what} {user}"
        for what, users in (("the creator", spec.creators or ()), ("the member", spec.members or ()))
        for user in sorted(users)
        if (server := acl.server_of(user)) not in ours
    }
    if "server_acl" in spec.own:
        return _acl_problems(loaded, at, dict(spec.fields), {**ours, **own})
    if in_defaults and own and isinstance(spec.get("server_acl"), dict):
        return [
            loaded.problem(at, f"the server_acl of the defaults {why} in this room")
            for why in acl.shut_out(acl.content(spec.get("server_acl")), own)
        ]
    return []


def _merged(defaults: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """A room's fields over the defaults: each field replaces the defaults' whole value, except
    power_levels.users, merged entry by entry (people.merge_power_users)."""
    merged = {**defaults, **{k: v for k, v in entry.items() if k != "alias"}}
    default_levels, own_levels = defaults.get("power_levels"), entry.get("power_levels")
    if isinstance(default_levels, dict) and isinstance(own_levels, dict):
        users = people.merge_power_users(default_levels.get("users"), own_levels.get("users"))
        if users or "users" in default_levels or "users" in own_levels:
            merged["power_levels"] = {**own_levels, "users": users}
    elif isinstance(merged.get("power_levels"), dict) and "users" in merged["power_levels"]:
        users = people.merge_power_users(merged["power_levels"]["users"], {})
        merged["power_levels"] = {**merged["power_levels"], "users": users}
    return merged


def _claim_aliases(
    aliases: _AliasRegistry, loaded: LoadedFile, at: tuple[Any, ...], entry: dict[str, Any], server_name: str
) -> list[Problem]:
    problems = aliases.claim(loaded, (*at, "alias"), entry["alias"], server_name)
    for alt_index, alt in enumerate(entry.get("alt_aliases", [])):
        if alt == entry["alias"]:
            problems.append(
                loaded.problem((*at, "alt_aliases", alt_index), f"alt alias '{alt}' is the room's own alias")
            )
        else:
            problems += aliases.claim(loaded, (*at, "alt_aliases", alt_index), alt, server_name)
    return problems


def _lifecycle_problems(
    located: list[tuple[RoomSpec, LoadedFile, tuple[Any, ...]]],
    aliases: _AliasRegistry,
    complete: bool,
    faulty: set[str],
) -> list[Problem]:
    """Retired rooms, their successors, and the former aliases of renamed rooms."""
    problems = []
    by_alias = {spec.alias: spec for spec, _, _ in located}
    for spec, loaded, at in located:
        if spec.retired and "spaces" in loaded.data["rooms"][at[1]]:
            problems.append(
                loaded.problem((*at, "spaces"), "a retired room is taken out of its spaces: remove 'spaces'", key=True)
            )
        # From the defaults, directory: public is what the room had; retiring it takes it out.
        if spec.retired and spec.get("directory") == "public" and "directory" in spec.own:
            problems.append(
                loaded.problem(
                    (*at, "directory"),
                    "a retired room is taken out of the room directory: directory: public contradicts retired: true",
                )
            )
        if spec.successor is not None:
            target = by_alias.get(spec.successor)
            path = (*at, "successor")
            if not spec.retired:
                problems.append(loaded.problem(path, "successor only goes with retired: true"))
            elif spec.successor == spec.alias:
                problems.append(loaded.problem(path, "a room cannot be its own successor"))
            elif target is None:
                if complete and spec.successor not in faulty:
                    problems.append(loaded.problem(path, unknown_room("successor", spec.successor, by_alias)))
            elif target.retired:
                problems.append(
                    loaded.problem(
                        path, f"successor '{spec.successor}' is retired too; name the room people should go to"
                    )
                )
        own = {spec.alias, *(spec.alt_aliases or ())}
        for index, former in enumerate(spec.formerly):
            path = (*at, "formerly", index)
            if problem := ids.alias_localpart_problem(former, "x"):
                problems.append(loaded.problem(path, problem.replace("alias", "former alias", 1)))
            elif former == spec.alias:
                problems.append(loaded.problem(path, f"'{former}' is the room's own alias"))
            elif former in aliases.seen and former not in own:
                problems.append(
                    loaded.problem(
                        path,
                        f"former alias '{former}' is declared at "
                        f"{aliases.seen[former]}; a room's former alias is no other room's",
                    )
                )
    return problems


def _space_problems(
    located: list[tuple[RoomSpec, LoadedFile, tuple[Any, ...]]], complete: bool, faulty: set[str]
) -> list[Problem]:
    """Space references must name declared spaces, restricted rooms need one, and no cycles.

    When some rooms could not be read (`complete` is false), an unknown space may well be one of
    them: that is not reported."""
    problems = []
    by_alias = {spec.alias: spec for spec, _, _ in located}
    for spec, loaded, at in located:
        seen: set[str] = set()
        for index, link in enumerate(spec.spaces):
            path = (*at, "spaces", index)
            target = by_alias.get(link.space)
            if link.space in seen:
                problems.append(loaded.problem(path, f"space '{link.space}' is listed twice"))
            elif target is None:
                if complete and link.space not in faulty:
                    spaces = {a for a, s in by_alias.items() if s.is_space}
                    problems.append(loaded.problem(path, unknown_room("space", link.space, spaces)))
            elif not target.is_space:
                problems.append(loaded.problem(path, f"'{link.space}' is not a space (it has no 'type: space')"))
            elif link.space == spec.alias:
                problems.append(loaded.problem(path, f"space '{link.space}' cannot contain itself"))
            elif target.retired and spec.get("join_rule") == "restricted":
                problems.append(
                    loaded.problem(
                        path,
                        f"space '{link.space}' is retired: a restricted room cannot "
                        "let its members in; name another space",
                    )
                )
            seen.add(link.space)
        if spec.get("join_rule") == "restricted" and not spec.spaces:
            problems.append(
                loaded.problem(
                    (*at, "join_rule"), "join_rule restricted needs 'spaces': members of those spaces may join"
                )
            )

    # A cycle of spaces (a inside b inside a) would make the hierarchy endless.
    parents = {spec.alias: [link.space for link in spec.spaces if link.space in by_alias] for spec, _, _ in located}
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(alias: str, trail: list[str]) -> list[str] | None:
        state[alias] = 1
        for parent in parents.get(alias, []):
            if state.get(parent) == 1:
                return [*trail, alias, parent]
            if parent not in state and (cycle := visit(parent, [*trail, alias])):
                return cycle
        state[alias] = 2
        return None

    for spec, loaded, at in located:
        if spec.alias not in state and (cycle := visit(spec.alias, [])):
            start = cycle.index(cycle[-1])
            problems.append(loaded.problem((*at, "spaces"), "spaces form a cycle: " + " -> ".join(cycle[start:])))
            break
    return problems


def _load_bots(
    root: Path,
    server_name: str,
    room_aliases: set[str] | None,
    account: str | None,
    retired_rooms: dict[str, str] | None = None,
    avatar_files: _AvatarFiles | None = None,
) -> tuple[tuple[BotSpec, ...], list[Problem]]:
    """bots.yaml. room_aliases (the rooms a bot may serve) is None when not every declared room is
    known (a rooms file has a problem): then a bot's rooms are not checked, since "unknown room"
    could be false. retired_rooms: why each retired room may not be named."""
    retired_rooms = retired_rooms or {}
    path = root / BOTS_FILE
    if not path.exists():
        return (), []
    loaded = load_yaml(path, display_path(path))
    problems = list(loaded.problems)
    if loaded.data is None and problems:
        return (), problems
    schema_problems = schemas.schema_problems(loaded, "bots.schema.json")
    if schema_problems:
        return (), problems + schema_problems
    bots = []
    names: dict[str, Mark] = {}
    users: dict[str, Mark] = {}
    for index, entry in enumerate(loaded.data["bots"]):
        at = ("bots", index)
        for key, registry in (("name", names), ("user", users)):
            mark = loaded.mark((*at, key))
            if entry[key] in registry:
                problems.append(
                    Problem(mark, f"bot {key} '{entry[key]}' is already declared at {registry[entry[key]]}")
                )
            registry.setdefault(entry[key], mark)
        if problem := ids.user_id_problem(entry["user"]):
            problems.append(loaded.problem((*at, "user"), problem))
        elif entry["user"] == account:
            problems.append(
                loaded.problem(
                    (*at, "user"),
                    f"{account} is the provisioning account (roomsync.yaml "
                    "account), not a bot; roomsync never changes its own membership or power",
                )
            )
        elif server_name and not entry["user"].endswith(f":{server_name}"):
            for key, why in (
                ("token_env", "a bot on another homeserver joins by itself"),
                ("create_account", "roomsync cannot create accounts on another homeserver"),
                ("rate_limit", "its rate limits are another homeserver's business"),
            ):
                if key in entry:
                    problems.append(loaded.problem((*at, key), f"{key} only works for bots on {server_name}; {why}"))
        problems += avatar_files.check(loaded, (*at, "avatar"), entry.get("avatar")) if avatar_files else []
        rooms = entry["rooms"]
        if ALL_ROOMS in rooms and len(rooms) > 1:
            problems.append(loaded.problem((*at, "rooms"), "'*' means every room; list nothing else with it"))
        for room_index, alias in enumerate(rooms):
            if alias != ALL_ROOMS and room_aliases is not None and alias not in room_aliases:
                problems.append(
                    loaded.problem(
                        (*at, "rooms", room_index),
                        retired_rooms.get(alias) or unknown_room("room", alias, room_aliases),
                    )
                )
        bots.append(
            BotSpec(
                name=entry["name"],
                user=entry["user"],
                rooms=tuple(rooms),
                power_level=entry.get("power_level", 0),
                display_name=entry.get("display_name"),
                avatar=entry.get("avatar"),
                token_env=entry.get("token_env"),
                mark=loaded.mark(at),
                create_account=entry.get("create_account", False),
                rate_limit=entry.get("rate_limit"),
            )
        )
    return tuple(bots), problems
