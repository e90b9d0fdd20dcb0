"""`roomsync docs`: the community's join page, made from the declared rooms.

page.py builds the page model from a Config (pure); intro.py reads the intro as CommonMark
(markdown-it-py); to_html.py renders the model through a Jinja2 template (the built-in one
or docs.template), to_markdown.py as Markdown. Only write_page touches the file system,
and only once rendering has succeeded: the page, then the avatar files it shows.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import RoomsyncError
from ..model import Config
from . import to_html, to_markdown
from .page import AVATARS_DIR, Avatar, Page, build_page

FILE_NAMES = {"html": "index.html", "markdown": "index.md"}

__all__ = ["FILE_NAMES", "Page", "build_page", "render", "write_page"]


def render(config: Config, fmt: str = "html") -> str:
    page = build_page(config)
    if fmt == "markdown":
        return to_markdown.render(page)
    return to_html.render(page, config.docs.template, config.root)


def write_page(config: Config, out_dir: Path, fmt: str = "html") -> Path:
    """Render the page and read the avatar files it shows, then write them into DIR/avatars/ and the
    page as DIR/index.html (DIR/index.md for markdown, which shows no avatars), each file atomically.
    Nothing is written when something fails before. Returns the page's path."""
    page = build_page(config)
    if fmt == "markdown":
        content, images = to_markdown.render(page), []
    else:
        content = to_html.render(page, config.docs.template, config.root)
        images = [(avatar.name, _read(config.root, avatar)) for avatar in page.avatars()]
    for name, data in images:
        _write(Path(out_dir) / AVATARS_DIR / name, data)
    path = Path(out_dir) / FILE_NAMES[fmt]
    _write(path, content.encode("utf-8"))
    return path


def _read(root: Path, avatar: Avatar) -> bytes:
    """The avatar's bytes; its file must be inside the config directory."""
    try:
        real = avatar.source.resolve(strict=True)
        if not real.is_relative_to(root.resolve()) or not real.is_file():
            raise RoomsyncError(f"avatar {avatar.source} is not a file inside the config directory")
        return real.read_bytes()
    except OSError as exc:
        raise RoomsyncError(f"cannot read avatar {avatar.source}: {exc.strerror or exc}") from None


def _write(path: Path, content: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise RoomsyncError(f"cannot write {path}: {exc.strerror or exc}") from None
