"""Moderation policy lists (m.policy.rule.*): the rules of policies.yaml, the rules read from a
list room, how a rule matches, and the guard that keeps a rule off the community's own server and
people. Pure: policyfile.py reads the file, the planner applies the rules.

A rule's entity is a glob (`*`, `?`) on a whole user id (user rules), a server name without its
port (server rules, matched as server ACLs match), or a room alias or id (room rules). roomsync
acts on `m.ban` rules only: it bans matching members and denies matching servers; room rules are
published for moderation bots, never acted on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from . import acl
from .errors import Mark
from .live import LiveRoom, Unreadable

KINDS = ("user", "server", "room")
EVENT = {kind: f"m.policy.rule.{kind}" for kind in KINDS}
KIND_OF = {event_type: kind for kind, event_type in EVENT.items()}
BAN = "m.ban"
BAN_RECOMMENDATIONS = frozenset({BAN, "org.matrix.mjolnir.ban"})  # the older name moderation bots still write


@dataclass(frozen=True)
class Rule:
    kind: str  # user | server | room
    entity: str  # a glob
    reason: str = ""
    recommendation: str = BAN
    mark: Mark | None = field(default=None, compare=False)

    @property
    def event_type(self) -> str:
        return EVENT[self.kind]

    @property
    def state_key(self) -> str:
        """The state key of a rule roomsync writes: stable, so a rule is found again by its entity."""
        return f"rule:{self.entity}"

    @property
    def content(self) -> dict[str, Any]:
        return {"entity": self.entity, "recommendation": self.recommendation, "reason": self.reason}

    @property
    def bans(self) -> bool:
        return self.recommendation in BAN_RECOMMENDATIONS

    def __str__(self) -> str:
        return f"{self.kind} rule {self.entity}"


@dataclass(frozen=True)
class PolicyList:
    """A list this community keeps: a declared room whose state is its rules."""

    room: str  # alias local part
    rules: tuple[Rule, ...] = ()
    enforce: bool = False
    mark: Mark | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Policies:
    """policies.yaml: the lists kept here, and the lists of others followed (aliases or room ids)."""

    lists: tuple[PolicyList, ...] = ()
    follow: tuple[str, ...] = ()

    @property
    def enforcing(self) -> bool:
        """Are any rules applied to the managed rooms (an enforced list, or a followed one)?"""
        return bool(self.follow) or any(lst.enforce for lst in self.lists)

    def list_for(self, room: str) -> PolicyList | None:
        return next((lst for lst in self.lists if lst.room == room), None)

    @property
    def enforced_rules(self) -> tuple[Rule, ...]:
        return tuple(rule for lst in self.lists if lst.enforce for rule in lst.rules)


# --- matching ------------------------------------------------------------------------------


def matches(rule: Rule, entity: str) -> bool:
    """Does a rule match a user id (user rule), a server name (server rule, port ignored) or a
    room alias or id (room rule)?"""
    if rule.kind == "server":
        return acl.glob_matches(rule.entity, acl.host_of(entity))
    return acl.glob_matches(rule.entity, entity)


_ANY_LOCALPART = object()  # in an id pattern: any run of characters but ':'


def _reaches_server(glob: str, sigil: str, server_name: str) -> bool:
    """Could a user (`@`) or room alias (`#`) glob match some id on this server? Exact: it asks
    whether the glob and `SIGIL<any local part>:server_name` have a string in common."""
    pattern: list[object] = [sigil, _ANY_LOCALPART, ":", *server_name]

    @cache
    def meet(i: int, j: int) -> bool:
        if i == len(glob) and j == len(pattern):
            return True
        if i < len(glob) and glob[i] == "*" and meet(i + 1, j):
            return True
        if j < len(pattern) and pattern[j] is _ANY_LOCALPART and meet(i, j + 1):
            return True
        if i == len(glob) or j == len(pattern):
            return False
        g, p = glob[i], pattern[j]
        fits = g in "*?" or (g != ":" if p is _ANY_LOCALPART else g == p)  # a local part has no ':'
        after = (i if g == "*" else i + 1, j if p is _ANY_LOCALPART else j + 1)
        return fits and after != (i, j) and meet(*after)  # both repeating: nothing gained by a character

    return meet(0, 0)


def hits(rule: Rule, server_name: str, people: Mapping[str, str], rooms: Iterable[str] = ()) -> str | None:
    """What of ours a rule would hit, or None. `people`: user id -> what they are ("the bot
    gerritbot"); `rooms`: the full aliases of the declared rooms."""
    if rule.kind == "server":
        for server, who in acl.our_servers(server_name, None, people.items()).items():
            if matches(rule, server):
                return f"it matches the server of {who}" if server != server_name else f"it matches {who}"
        return None
    if rule.kind == "user":
        for user, what in people.items():
            if matches(rule, user):
                return f"it matches {what} {user}"
        if _reaches_server(rule.entity, "@", server_name):
            return f"it matches accounts on {server_name}, this community's own homeserver"
        return None
    for room in rooms:
        if matches(rule, room):
            return f"it matches the room {room}, one of ours"
    if _reaches_server(rule.entity, "#", server_name):
        return f"it matches rooms on {server_name}, this community's own homeserver"
    return None


# --- rules in a room -----------------------------------------------------------------------


@dataclass(frozen=True)
class LiveRule:
    """A rule as a list room holds it: the state key it is at, and what it says."""

    state_key: str
    rule: Rule


def rules_in(room: LiveRoom) -> list[LiveRule]:
    """Every policy rule a room holds (an emptied rule is gone), in a stable order."""
    found = []
    for (event_type, state_key), content in sorted(room.state.items()):
        kind = KIND_OF.get(event_type)
        entity = content.get("entity")
        if kind is None or not isinstance(entity, str) or not entity:
            continue
        reason, recommendation = content.get("reason"), content.get("recommendation")
        found.append(
            LiveRule(
                state_key,
                Rule(
                    kind,
                    entity,
                    reason if isinstance(reason, str) else "",
                    recommendation if isinstance(recommendation, str) else "",
                ),
            )
        )
    return found


# --- what is enforced ----------------------------------------------------------------------


@dataclass(frozen=True)
class Enforcement:
    """The rules applied to every managed room in one plan: the enforced lists' own, and the
    followed lists' that could be read, less those that would hit one of ours."""

    users: tuple[Rule, ...] = ()
    servers: tuple[Rule, ...] = ()
    skipped: tuple[str, ...] = ()  # warnings: followed rules never applied
    unread: tuple[str, ...] = ()  # notes: followed lists that could not be read
    complete: bool = True  # every followed list was read (else nothing is lifted this run)

    def ban_rule(self, user: str) -> Rule | None:
        return next((rule for rule in self.users if matches(rule, user)), None)


def enforcement(
    declared: Policies,
    followed: Mapping[str, LiveRoom | Unreadable],
    server_name: str,
    people: Mapping[str, str],
    rooms: Iterable[str],
) -> Enforcement:
    """`followed`: each followed list's room as read, or why it could not be read."""
    rules = list(declared.enforced_rules)
    seen = {(rule.kind, rule.entity) for rule in rules}
    skipped, unread = [], []
    for target in declared.follow:
        room = followed.get(target)
        if not isinstance(room, LiveRoom):
            reason = room.reason if isinstance(room, Unreadable) else "it was not read"
            unread.append(
                f"the followed policy list {target} is not applied in this run ({reason}); "
                "until it is read, no server is lifted from a room's deny list"
            )
            continue
        for found in rules_in(room):
            rule = found.rule
            if rule.kind == "room" or not rule.bans:
                continue  # room rules and other recommendations are for moderation bots
            if why := hits(rule, server_name, people, rooms):
                skipped.append(f"{rule} of the followed list {target} is skipped: {why}")
            elif (rule.kind, rule.entity) not in seen:
                seen.add((rule.kind, rule.entity))
                rules.append(rule)
    return Enforcement(
        users=tuple(rule for rule in rules if rule.kind == "user"),
        servers=tuple(rule for rule in rules if rule.kind == "server"),
        skipped=tuple(skipped),
        unread=tuple(unread),
        complete=not unread,
    )
