"""`roomsync docs`: the community's join page, made from the declared rooms.

page.py builds the page model from a Config (pure), markup.py parses the intro's
safe Markdown subset, to_html.py and to_markdown.py render the model. Only
write_page touches the file system, and only once rendering has succeeded.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import RoomsyncError
from ..model import Config
from . import to_html, to_markdown
from .page import Page, build_page

FORMATS = {"html": to_html.render, "markdown": to_markdown.render}
FILE_NAMES = {"html": "index.html", "markdown": "index.md"}

__all__ = ["FILE_NAMES", "FORMATS", "Page", "build_page", "render", "write_page"]


def render(config: Config, fmt: str = "html") -> str:
    return FORMATS[fmt](build_page(config))


def write_page(config: Config, out_dir: Path, fmt: str = "html") -> Path:
    """Render the page, then write DIR/index.html or DIR/index.md (atomically). Returns the path."""
    content = render(config, fmt).encode("utf-8")
    path = Path(out_dir) / FILE_NAMES[fmt]
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
    return path
