"""roomsync.yaml's `mirrors:`: other homeservers that keep the community's rooms reachable.

A mirror's account is joined in every declared room and holds power there; the mirror
publishes its own aliases for each room and lists it in its own directory. When the home
server is down, the rooms still resolve, take joins and can be moderated from the mirror
(the guide: "Mirror homeservers"). This module reads and checks the declaration; the planner
(plan/mirrors.py) and the reads (observe_mirrors.py) do the rest.
"""

from __future__ import annotations

from typing import Any

from . import ids
from .acl import server_of
from .errors import Problem
from .model import MirrorSpec
from .yamlfile import LoadedFile


def load(settings: LoadedFile, data: dict[str, Any], server_name: str) -> tuple[tuple[MirrorSpec, ...], list[Problem]]:
    """The declared mirrors and what is wrong with them (the schema has checked the shapes)."""
    entries = data.get("mirrors")
    if not isinstance(entries, list):
        return (), []
    mirrors, problems, seen = [], [], {server_name}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        found = _entry_problems(settings, ("mirrors", index), entry, server_name, seen)
        problems += found
        name = entry.get("server_name")
        if isinstance(name, str):
            seen.add(name)
        if not found and _complete(entry):
            mirrors.append(
                MirrorSpec(
                    server_name=entry["server_name"],
                    homeserver=entry["homeserver"],
                    account=entry["account"],
                    token_env=entry["token_env"],
                    power_level=entry.get("power_level", 100),
                    aliases=entry.get("aliases", True),
                    directory=entry.get("directory", True),
                )
            )
    return tuple(mirrors), problems


def _complete(entry: dict[str, Any]) -> bool:
    return all(isinstance(entry.get(key), str) for key in ("server_name", "homeserver", "account", "token_env"))


def _entry_problems(
    settings: LoadedFile, at: tuple[Any, ...], entry: dict[str, Any], home: str, seen: set[str]
) -> list[Problem]:
    from .config import homeserver_problem  # config imports this module

    problems = []
    name = entry.get("server_name")
    if isinstance(name, str):
        if problem := ids.server_name_problem(name):
            problems.append(settings.problem((*at, "server_name"), problem))
        elif name == home:
            message = f"mirror server_name '{name}' is the home server's own name: a mirror is another server"
            problems.append(settings.problem((*at, "server_name"), message))
        elif name in seen:
            problems.append(settings.problem((*at, "server_name"), f"mirror server_name '{name}' is declared twice"))
    account = entry.get("account")
    if isinstance(account, str):
        if problem := ids.user_id_problem(account):
            problems.append(settings.problem((*at, "account"), problem))
        elif isinstance(name, str) and name != home and server_of(account) != name:
            message = f"the mirror's account {account} must be an account of the mirror, {name}"
            problems.append(settings.problem((*at, "account"), message))
    url = entry.get("homeserver")
    if isinstance(url, str) and (problem := homeserver_problem(url)):
        problems.append(settings.problem((*at, "homeserver"), problem))
    return problems


def people(mirrors: tuple[MirrorSpec, ...]) -> list[tuple[str, str]]:
    """The mirrors' accounts as (user id, what it is): never denied by an ACL, banned or matched by a rule."""
    return [(m.account, f"the account of the mirror {m.server_name}") for m in mirrors]
