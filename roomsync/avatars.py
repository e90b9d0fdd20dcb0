"""Avatars kept as files in the config directory (`avatar: avatars/zuul.png`): the checks a file
must pass, and what the planner knows of it (its sha256, its type). Reading the files is the
config's job; the planner only compares hashes.

A file is uploaded once: the room's marker (dev.roomsync.managed) records the sha256 and the mxc
URI it got, so the next plan finds the same file already there; for a bot, whose profile has no
place for a record, the plan reads the bot's current avatar and compares its sha256.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .live import LiveRoom

MAX_BYTES = 1024 * 1024
MARKER = "dev.roomsync.managed"  # model.MANAGED_MARKER (model imports this module)
MXC_PREFIX = "mxc://"
RECORD = "avatar"  # the key of the marker's content that records a room's avatar file

# The image types clients show, told by their first bytes (not by the file's name).
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def is_file(value: object) -> bool:
    """Does an `avatar:` value name a file (rather than an mxc:// URI)?"""
    return isinstance(value, str) and not value.startswith(MXC_PREFIX)


@dataclass(frozen=True)
class AvatarFile:
    path: str  # as the config writes it, relative to the config directory
    sha256: str
    mime: str
    size: int

    @property
    def short(self) -> str:
        return self.sha256[:12]

    def record(self, url: Any) -> dict[str, Any]:
        """What a room's marker keeps of the file once it is uploaded (url: its mxc:// URI, or the
        plan's reference to the upload that gives it one)."""
        return {"file": self.path, "sha256": self.sha256, "url": url}


def recorded(live: LiveRoom | None) -> Mapping[str, Any] | None:
    """The avatar file a room's marker records: {file, sha256, url}."""
    record = (live.content(MARKER) or {}).get(RECORD) if live else None
    if isinstance(record, Mapping) and isinstance(record.get("sha256"), str) and isinstance(record.get("url"), str):
        return record
    return None


def image_type(data: bytes) -> str | None:
    for signature, mime in _SIGNATURES:
        if data.startswith(signature):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def load(root: Path, value: str) -> AvatarFile | str:
    """The avatar file `value` names under the config directory `root`, or why it cannot be one."""
    if Path(value).is_absolute() or value.startswith("~"):
        return f"avatar '{value}' must be a path inside the config directory, such as avatars/zuul.png"
    base = root.resolve()
    path = base / value
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return f"avatar file '{value}' does not exist (paths are relative to the config directory)"
    if not real.is_relative_to(base):
        return f"avatar '{value}' leads outside the config directory; keep the image in the rooms repo"
    if not real.is_file():
        return f"avatar '{value}' is not a file"
    size = os.stat(real).st_size
    if size > MAX_BYTES:
        return f"avatar file '{value}' is {size:,} bytes; at most {MAX_BYTES:,} (1 MiB) is allowed"
    data = real.read_bytes()
    mime = image_type(data)
    if mime is None:
        return f"avatar file '{value}' is not a PNG, JPEG, GIF or WebP image (by its contents)"
    return AvatarFile(value, hashlib.sha256(data).hexdigest(), mime, size)


def read_checked(source: str, sha256: str, shown: str) -> bytes:
    """A file's bytes for an upload: the same file the plan hashed, or an error."""
    data = Path(source).read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ValueError(f"{shown} changed since the plan was made; run plan again")
    return data
