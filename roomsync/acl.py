"""Server ACLs (m.room.server_acl): the declared content, the spec's glob matching, and the guard
that never lets an ACL shut out the community's own server or people. Pure.

The spec: `*` matches zero or more characters, `?` exactly one; patterns match the server name
without its port; `deny` is checked first, then `allow`; a server matching nothing in `allow` is
denied; with `allow_ip_literals` false, IP literals are denied.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

EVENT = "m.room.server_acl"


def content(declared: Mapping[str, Any]) -> dict[str, Any]:
    """The m.room.server_acl content a `server_acl:` field stands for (defaults filled in)."""
    return {
        "allow": list(declared.get("allow", ["*"])),
        "deny": list(declared.get("deny", [])),
        "allow_ip_literals": bool(declared.get("allow_ip_literals", False)),
    }


@cache
def _pattern(glob: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob), re.S)


def glob_matches(glob: str, host: str) -> bool:
    return _pattern(glob).fullmatch(host) is not None


def host_of(server_name: str) -> str:
    """A server name without its port: `localhost:8448` -> `localhost`, `[::1]:80` -> `[::1]`."""
    if server_name.startswith("["):
        return server_name[: server_name.index("]") + 1] if "]" in server_name else server_name
    return server_name.rsplit(":", 1)[0] if server_name.count(":") == 1 else server_name


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def allows(acl: Mapping[str, Any], server_name: str) -> bool:
    """Does this ACL content let `server_name` take part in the room (the spec's algorithm)?"""
    host = host_of(server_name)
    if _is_ip_literal(host) and not acl.get("allow_ip_literals", True):
        return False
    if any(glob_matches(glob, host) for glob in acl.get("deny") or [] if isinstance(glob, str)):
        return False
    return any(glob_matches(glob, host) for glob in acl.get("allow") or [] if isinstance(glob, str))


def server_of(user_id: str) -> str:
    return user_id.split(":", 1)[1] if ":" in user_id else ""


def shut_out(acl: Mapping[str, Any], ours: Mapping[str, str]) -> list[str]:
    """Why this ACL may not be sent: each of our servers it would deny (`ours`: server -> whose it
    is, e.g. "the homeserver opendev.org", "the bot @gerrit:opendev.org"), or an `allow` that
    matches nothing."""
    if not acl.get("allow"):
        return ["its allow list matches no server: it would shut every server out of the room, ours too"]
    return [f"it would deny {who} (server {server})" for server, who in ours.items() if not allows(acl, server)]


def our_servers(server_name: str, account: str | None, people: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The servers an ACL must never deny, each with the first reason found: `people` are
    (user id, what they are), e.g. ("@gerrit:opendev.org", "the bot gerritbot")."""
    ours = {server_name: f"the homeserver {server_name}"}
    if account:
        ours.setdefault(server_of(account), f"the provisioning account {account}")
    for user, what in people:
        if server := server_of(user):
            ours.setdefault(server, f"{what} {user}")
    return ours
