"""The publishing commands, offline: `well-known` writes the delegation files, `docs` the join page."""

from __future__ import annotations

from pathlib import Path

import click

from .. import wellknown
from ..errors import RoomsyncError
from .common import _config


@click.command("well-known", short_help="Write the .well-known/matrix files offline.")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Write DIR/.well-known/matrix/server and .../client there.",
)
@click.pass_context
def well_known_cmd(ctx: click.Context, out_dir: Path) -> None:
    """Write the .well-known/matrix delegation files that roomsync.yaml's well_known describes.

    The files are for the web server of server_name to publish as static files; plan
    compares what that web server serves with them. Offline: no token, no network.
    """
    config = _config(ctx)
    if not config.well_known or not wellknown.documents(config.well_known):
        raise RoomsyncError("roomsync.yaml has no well_known section with server or client to write")
    try:
        written = wellknown.write(config.well_known, out_dir)
    except OSError as exc:
        raise RoomsyncError(f"cannot write into {out_dir}: {exc.strerror}") from None
    for path in written:
        click.echo(f"wrote {path}")


@click.command("docs", short_help="Write the community's join page (HTML or Markdown) offline.")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Write DIR/index.html and the avatars it shows into DIR/avatars/ (DIR/index.md with --format "
    "markdown); DIR is created if need be.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "markdown"]),
    default="html",
    show_default=True,
    help="html: one self-contained page (inline CSS, no script, nothing fetched but its own avatar "
    "files), fit to publish as a static file. markdown: a page for a Sphinx (MyST) or MkDocs site.",
)
@click.pass_context
def docs_cmd(ctx: click.Context, out_dir: Path, fmt: str) -> None:
    """Write the community's join page: how to join, then every space and room with its link.

    \b
    "How to join" links Matrix clients (docs.clients), says what a space is and whom
    to ask for an invitation (docs.contact). For each room: avatar (a file of the
    config directory), name, #alias:server_name, topic, a matrix.to link, how to get
    in (public, ask to join, members of a space, invite only), an "encrypted" mark
    and, with docs.show_bots, the bots that serve it. Spaces are nested sections in
    the order clients show them; rooms in no space come under "Other rooms". Rooms
    that are invite-only and not in the room directory are left out unless
    docs.include_private; docs: also sets the title, an intro (CommonMark) and the
    HTML page's own Jinja2 template (docs.template).

    Offline: no token, no network. An invalid config writes nothing.
    """
    from ..docs import write_page

    config = _config(ctx)
    click.echo(f"wrote {write_page(config, out_dir, fmt)}")
