"""Matrix identifier grammar, checked offline so that the homeserver never sees a bad one."""

from __future__ import annotations

import re

MAX_ID_BYTES = 255  # the spec's limit for room aliases and user ids

_SERVER_NAME = re.compile(
    r"""^(?:
        \[[0-9A-Fa-f:.]{2,45}\]        # IPv6 literal
      | [A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*
    )(?::[0-9]{1,5})?$""",
    re.VERBOSE,
)
# The historical grammar allowed more, but new user ids and sane aliases use only these.
_LOCALPART = re.compile(r"^[a-z0-9._=/+-]+$")


def server_name_problem(server_name: str) -> str | None:
    if not _SERVER_NAME.match(server_name):
        return f"server_name '{server_name}' is not valid: use a host name or IP literal, with optional :port"
    return None


def alias_localpart_problem(localpart: str, server_name: str) -> str | None:
    """Why '#localpart:server_name' is not an alias roomsync will manage, or None."""
    if localpart.startswith("#") or ":" in localpart:
        bare = localpart.lstrip("#").split(":", 1)[0] or "name"
        return f"alias '{localpart}' must be the local part only, e.g. '{bare}'"
    if not _LOCALPART.match(localpart):
        return f"alias '{localpart}' may only contain lowercase letters, digits and . _ = / + -"
    full = full_alias(localpart, server_name)
    if len(full.encode()) > MAX_ID_BYTES:
        return f"alias '{full[:40]}...' is {len(full.encode())} bytes long; Matrix allows {MAX_ID_BYTES}"
    return None


def user_id_problem(user_id: str) -> str | None:
    if user_id[:1] in ("#", "!"):
        return f"user id '{user_id}' is a room id or alias; user ids start with '@', e.g. '@alice:example.org'"
    if not user_id.startswith("@"):
        return f"user id '{user_id}' must start with '@', e.g. '@{user_id or 'alice:example.org'}'"
    localpart, sep, server = user_id[1:].partition(":")
    if not sep or not localpart or not server:
        return f"user id '{user_id}' must look like @name:server.example"
    if not _LOCALPART.match(localpart):
        return f"user id '{user_id}': the name may only contain lowercase letters, digits and . _ = / + -"
    if server_name_problem(server):
        return f"user id '{user_id}': '{server}' is not a valid server name"
    if len(user_id.encode()) > MAX_ID_BYTES:
        return f"user id '{user_id[:40]}...' is {len(user_id.encode())} bytes long; Matrix allows {MAX_ID_BYTES}"
    return None


def full_alias(localpart: str, server_name: str) -> str:
    return f"#{localpart}:{server_name}"


def localpart_of(alias: str) -> str:
    """'#zuul:opendev.org' -> 'zuul' (a local part never holds ':')."""
    return alias.split(":", 1)[0].lstrip("#")
