"""People in the config: groups of user ids, and the fields that name people (power_levels.users
keys, creators, members), where a group name may stand for a user id.

Pure: config.py reads the files, gives the values here, and places each problem on its line.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import ids

GROUP_NAME = re.compile(r"^[a-z0-9][a-z0-9._=-]*$")


@dataclass(frozen=True)
class Found:
    """A problem with one entry, to be placed on the line of `path`."""

    path: tuple[Any, ...]
    message: str
    key: bool = False


def is_group(name: str) -> bool:
    """A name that does not start with '@' names a group."""
    return not name.startswith("@")


def resolve_groups(declared: Mapping[str, Any]) -> tuple[dict[str, frozenset[str]], list[Found]]:
    """roomsync.yaml's groups, each resolved to its user ids (nested groups followed).

    Problems are at ("groups", name) or ("groups", name, index). A group with a problem resolves
    to what could be resolved, so later checks do not repeat the problem."""
    problems: list[Found] = []
    entries = {name: value for name, value in declared.items() if isinstance(value, list)}
    for name in declared:
        if not GROUP_NAME.match(name):
            problems.append(
                Found(
                    ("groups", name),
                    f"group name '{name}' may only contain lowercase letters, digits and . _ = - "
                    "(names starting with '@' are user ids)",
                    key=True,
                )
            )
    resolved: dict[str, frozenset[str]] = {}

    def visit(name: str, trail: tuple[str, ...]) -> frozenset[str]:
        if name in resolved:
            return resolved[name]
        users: set[str] = set()
        for index, entry in enumerate(entries.get(name, [])):
            if not isinstance(entry, str):
                continue
            where = ("groups", name, index)
            if not is_group(entry):
                if problem := ids.user_id_problem(entry):
                    problems.append(Found(where, problem))
                else:
                    users.add(entry)
            elif entry not in entries:
                problems.append(Found(where, unknown_group(entry, entries)))
            elif entry in trail or entry == name:
                loop = (*trail[trail.index(entry) :], name, entry) if entry in trail else (name, name)
                cycle = " -> ".join(loop)
                problems.append(Found(where, f"groups form a cycle: {cycle}"))
            else:
                users |= visit(entry, (*trail, name))
        resolved[name] = frozenset(users)
        return resolved[name]

    for name in entries:
        visit(name, ())
    return resolved, problems


def unknown_group(name: str, groups: Mapping[str, Any]) -> str:
    if ":" in name or name[:1] in ("#", "!"):  # no group name has these: a user id gone wrong
        return ids.user_id_problem(name) or f"unknown group '{name}'"
    hint = difflib.get_close_matches(name, list(groups), n=1)
    if hint:
        return f"unknown group '{name}'; did you mean '{hint[0]}'? (a user id starts with '@')"
    known = "roomsync.yaml has no groups" if not groups else f"groups: {', '.join(sorted(groups))}"
    return f"unknown group '{name}' ({known}; a user id starts with '@')"


def people(
    names: Any, groups: Mapping[str, frozenset[str]], path: tuple[Any, ...]
) -> tuple[frozenset[str], list[Found]]:
    """The user ids a creators or members list names (groups resolved), with its problems."""
    users: set[str] = set()
    problems: list[Found] = []
    for index, name in enumerate(names if isinstance(names, list) else []):
        if not isinstance(name, str):
            continue
        found, problem = _one(name, groups)
        users |= found
        if problem:
            problems.append(Found((*path, index), problem))
    return frozenset(users), problems


def power_users(
    merged: Mapping[str, Any], groups: Mapping[str, frozenset[str]], path: tuple[Any, ...], own: Mapping[str, Any]
) -> tuple[dict[str, int], list[Found]]:
    """power_levels.users resolved to user ids: a user reached twice gets the highest level.
    Problems are reported only for the keys the room (or defaults) writes itself (`own`)."""
    users: dict[str, int] = {}
    problems: list[Found] = []
    for name, level in merged.items():
        if level is None:
            continue
        found, problem = _one(name, groups)
        if problem and name in own:
            problems.append(Found((*path, name), problem, key=True))
        for user in found:
            users[user] = max(users.get(user, level), level)
    return users, problems


def merge_power_users(defaults: Any, room: Any) -> dict[str, Any]:
    """The defaults' users and a room's, entry by entry: the room's entry wins; null removes one."""
    merged = dict(defaults) if isinstance(defaults, Mapping) else {}
    merged.update(room if isinstance(room, Mapping) else {})
    return {name: level for name, level in merged.items() if level is not None}


def _one(name: str, groups: Mapping[str, frozenset[str]]) -> tuple[frozenset[str], str | None]:
    if not is_group(name):
        problem = ids.user_id_problem(name)
        return (frozenset() if problem else frozenset({name})), problem
    if name not in groups:
        return frozenset(), unknown_group(name, groups)
    return groups[name], None
