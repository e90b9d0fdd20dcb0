"""policies.yaml: the moderation policy lists this community keeps and the ones it follows, read
and checked offline. Every problem is placed on its line; a rule that would hit the community's
own server, account, bots or people is refused here, before any plan."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import policies, schemas
from .errors import Mark, Problem, unknown_room
from .model import RoomSpec
from .policies import Policies, PolicyList, Rule
from .yamlfile import LoadedFile, load_yaml

POLICIES_FILE = "policies.yaml"

_SPACE = re.compile(r"[\s\x00-\x1f]")
# What each kind of entity must look like (globs allowed); the message says it when it does not.
_FORMS = {
    "user": (re.compile(r"^[@*?]"), "a user id glob such as @spammer*:example.net"),
    "server": (re.compile(r"^[^@#!:/]+$"), "a server name glob without a port, such as *.badhost.example"),
    "room": (re.compile(r"^[#!*?].+$"), "a room alias or id glob such as #spam:example.net"),
}
_FOLLOW = re.compile(r"^(#[^:\s]+:[^\s]+|![^\s]+)$")


def load_policies(
    root: Path,
    display: str,
    server_name: str,
    rooms: Mapping[str, RoomSpec] | None,
    people: Mapping[str, str],
) -> tuple[Policies, list[Problem]]:
    """Read policies.yaml (absent: no policies). `rooms`: the declared rooms by alias local part,
    None when not every one is known (then a list's room is not checked); `people`: the user ids
    no rule may match, each with what it is ("the bot gerritbot")."""
    path = root / POLICIES_FILE
    if not path.exists():
        return Policies(), []
    loaded = load_yaml(path, display)
    problems = list(loaded.problems)
    if loaded.data is None and problems:
        return Policies(), problems
    if loaded.data is None and not problems:
        message = f"{POLICIES_FILE} is empty: declare 'lists', 'follow' or both, or remove the file"
        return Policies(), [loaded.problem((), message)]
    problems += schemas.schema_problems(loaded, "policies.schema.json")
    if problems:
        return Policies(), problems
    ours = sorted(f"#{alias}:{server_name}" for alias in rooms or ())
    lists, seen_rooms = [], dict[str, Mark]()
    for index, entry in enumerate(loaded.data.get("lists") or []):
        at = ("lists", index)
        problems += _list_room_problems(loaded, at, entry["room"], rooms, seen_rooms)
        rules, rule_problems = _rules(loaded, at, entry.get("rules") or [], server_name, people, ours)
        problems += rule_problems
        lists.append(PolicyList(entry["room"], rules, entry.get("enforce", False), loaded.mark(at)))
    own_lists = {f"#{lst.room}:{server_name}" for lst in lists}
    for index, target in enumerate(loaded.data.get("follow") or []):
        if not _FOLLOW.match(target):
            message = f"follow: '{target}' must be a room alias such as #moderation:example.org, or a room id"
            problems.append(loaded.problem(("follow", index), message))
        elif target in own_lists:
            problems.append(loaded.problem(("follow", index), f"{target} is one of this community's own lists"))
    return Policies(tuple(lists), tuple(loaded.data.get("follow") or ())), problems


def _list_room_problems(
    loaded: LoadedFile,
    at: tuple[Any, ...],
    room: str,
    rooms: Mapping[str, RoomSpec] | None,
    seen: dict[str, Mark],
) -> list[Problem]:
    path = (*at, "room")
    if room in seen:
        return [loaded.problem(path, f"room '{room}' is already a policy list at {seen[room]}")]
    seen[room] = loaded.mark(path)
    if rooms is None:
        return []
    spec = rooms.get(room)
    if spec is None:
        return [loaded.problem(path, unknown_room("room", room, rooms))]
    if spec.retired:
        return [loaded.problem(path, f"room '{room}' is retired: a policy list must be a room in use")]
    return []


def _rules(
    loaded: LoadedFile,
    at: tuple[Any, ...],
    entries: list[dict[str, Any]],
    server_name: str,
    people: Mapping[str, str],
    rooms: list[str],
) -> tuple[tuple[Rule, ...], list[Problem]]:
    rules: list[Rule] = []
    problems: list[Problem] = []
    seen: dict[tuple[str, str], Mark] = {}
    for index, entry in enumerate(entries):
        path = (*at, "rules", index)
        kinds = [kind for kind in policies.KINDS if kind in entry]
        if len(kinds) != 1:
            named = " and ".join(kinds) if kinds else "none of them"
            problems.append(
                loaded.problem(path, f"a rule names exactly one of user, server or room (this one: {named})")
            )
            continue
        kind = kinds[0]
        entity: str = entry[kind]
        rule = Rule(kind, entity, entry["reason"], mark=loaded.mark((*path, kind)))
        form, example = _FORMS[kind]
        if _SPACE.search(entity) or not form.match(entity):
            problems.append(loaded.problem((*path, kind), f"{kind} rule '{entity}' must be {example}"))
        elif (kind, entity) in seen:
            problems.append(loaded.problem((*path, kind), f"the same {kind} rule is already at {seen[kind, entity]}"))
        elif why := policies.hits(rule, server_name, people, rooms):
            problems.append(
                loaded.problem(
                    (*path, kind),
                    f"{kind} rule '{entity}' refused: {why}; roomsync never turns a rule on its own server or people",
                )
            )
        else:
            rules.append(rule)
        seen.setdefault((kind, entity), loaded.mark((*path, kind)))
    return tuple(rules), problems
