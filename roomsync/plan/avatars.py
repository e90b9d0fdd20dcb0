"""Avatars from files: a room's (or space's) m.room.avatar and a bot's profile picture, when the
config names an image file rather than an mxc:// URI.

A file is uploaded once. A room's marker records the file's sha256 and the URI it got; a file
already recorded anywhere (another room's marker, a bot whose current avatar has that sha256) is
reused, so only a new or changed file is uploaded, and plan shows it. An avatar set by hand in a
room whose file is unchanged is drift: the recorded URI is put back, nothing is uploaded.
"""

from __future__ import annotations

from typing import Any

from .. import avatars, fields
from ..actions import MediaRef, PutState, Upload
from ..avatars import AvatarFile
from ..live import LiveRoom
from ..model import MANAGED_MARKER, BotSpec, RoomSpec
from .scope import Draft, Scope

AVATAR_EVENT = "m.room.avatar"


def file_of(scope: Scope, value: Any) -> AvatarFile | None:
    """The avatar file an `avatar:` value names (None: an mxc:// URI, or none)."""
    return scope.config.avatars.get(value) if avatars.is_file(value) else None


def _source(scope: Scope, file: AvatarFile) -> str:
    return str(scope.config.root / file.path)


def url_for(scope: Scope, file: AvatarFile, draft_actions: list[Any] | list[Upload]) -> str | MediaRef:
    """The URI a file has (recorded in some room, or a bot's current avatar), or one it gets from
    an upload added to the actions."""
    known = scope.media_urls.get(file.sha256)
    if known is not None:
        return known
    draft_actions.append(Upload(file.path, _source(scope, file), file.sha256, file.mime))
    return MediaRef(file.sha256)


def shown(file: AvatarFile, changed: bool = False) -> str:
    return f"{file.path} {'changed ' if changed else ''}(sha256 {file.short})"


def for_new_room(scope: Scope, spec: RoomSpec, draft: Draft) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A new room's avatar file: its m.room.avatar event for initial_state, and the record its
    marker starts with."""
    file = file_of(scope, spec.get("avatar"))
    if file is None:
        return None
    url = url_for(scope, file, draft.actions)
    draft.change("avatar", None, shown(file))
    return {"type": AVATAR_EVENT, "state_key": "", "content": {"url": url}}, file.record(url)


def plan_room_avatar(scope: Scope, spec: RoomSpec, live: LiveRoom, draft: Draft) -> None:
    """An existing room's avatar file: m.room.avatar and the marker's record, when the file is new,
    changed, or the avatar was set by hand."""
    file = file_of(scope, spec.get("avatar"))
    if file is None:
        return
    record = avatars.recorded(live)
    have = fields.read("avatar", live)
    same_file = record is not None and record["sha256"] == file.sha256
    if same_file and record is not None and have == record["url"]:
        return
    url = record["url"] if same_file and record is not None else url_for(scope, file, draft.actions)
    marker: dict[str, Any] = {**(live.content(MANAGED_MARKER) or {}), "alias": scope.config.alias(spec.alias)}
    marker[avatars.RECORD] = file.record(url)
    after = shown(file, changed=record is not None and not same_file)
    draft.change("avatar", have, after, PutState(AVATAR_EVENT, "", {"url": url}), PutState(MANAGED_MARKER, "", marker))


def bot_avatar(scope: Scope, bot: BotSpec, have: str | None) -> tuple[bool, Any, str | None, list[Upload]]:
    """A bot's avatar against the one it has: (differs, the value to set, what plan shows, uploads).
    A file is compared by the sha256 of the bot's current avatar, read from the media repository."""
    file = file_of(scope, bot.avatar)
    if file is None:
        return bot.avatar is not None and have != bot.avatar, bot.avatar, bot.avatar, []
    if have is not None and scope.snapshot.media.get(have) == file.sha256:
        return False, have, None, []
    uploads: list[Upload] = []
    return True, url_for(scope, file, uploads), shown(file), uploads
