"""The on-ramp for rooms made by hand: `adopt` puts them in the account's hands, `import` writes them down."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from .. import editor
from ..config import load_config
from .common import EXIT_ERROR, _run

if TYPE_CHECKING:
    from ..importread import Imported


@click.command("adopt", short_help="Join the account to rooms made by hand, at power 100.")
@click.argument("aliases", nargs=-1, metavar="[ALIAS]...")
@click.pass_context
def adopt_cmd(ctx: click.Context, aliases: tuple[str, ...]) -> None:
    """Put rooms made by hand in the provisioning account's hands: joined, at power 100.

    \b
    ALIAS is #local:server_name or the local part; any room on server_name, declared or
    not (adopt comes before import). Without ALIAS: every declared room that plan reports
    as not manageable (the account is not joined, or lacks the power the config needs).

    \b
    With a Synapse server admin's token, each room gets make_room_admin (the account at
    power 100, with a local room admin's authority, invited where the room is not public;
    nobody else's power changes), then the account joins. Without one, adopt changes
    nothing but accepting invites the account already has, prints for each room what one
    of its admins must type in it (/invite and /op in Element), and exits 1.

    One line per room: adopted, already managed, or why not. A second run changes nothing
    and exits 0.
    """
    from ..adopt import NOT_ADOPTED, adopt, summary

    config = load_config(ctx.obj, partial=True)
    outcomes, admin = _run(config, lambda hs: adopt(hs, config, aliases))
    for outcome in outcomes:
        for line in outcome.lines():
            click.echo(line)
    click.echo(summary(outcomes))
    if any(o.status == NOT_ADOPTED for o in outcomes):
        if not admin and any(o.steps for o in outcomes):
            click.echo("With a Synapse server admin's token, roomsync adopt does all of this by itself.")
        ctx.exit(EXIT_ERROR)


@click.command("import", short_help="Write existing rooms as a rooms file (read-only).")
@click.argument("aliases", nargs=-1, metavar="[ALIAS]...")
@click.option(
    "--space",
    "spaces",
    multiple=True,
    metavar="ALIAS",
    help="The space and every room and space below it (through m.space.child). Repeatable.",
)
@click.option(
    "--joined",
    is_flag=True,
    help="Every room the account has joined that has an alias on server_name (others are listed on stderr as skipped).",
)
@click.option(
    "--all-state",
    is_flag=True,
    help="Also write, as each room's `state:` list, the state events no field covers (retention, widgets, "
    "pinned events, bridge settings...).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write the rooms file to FILE (never over an existing file) instead of stdout.",
)
@click.pass_context
def import_cmd(
    ctx: click.Context,
    aliases: tuple[str, ...],
    spaces: tuple[str, ...],
    joined: bool,
    all_state: bool,
    out: Path | None,
) -> None:
    """Write rooms that exist on the homeserver as a rooms file, every managed field at its live value.

    \b
    Read-only: it sends nothing but GET requests. ALIAS is #local:server_name or the local
    part. The document has a top-level rooms: list (spaces before the rooms they hold), the
    room id as a comment on each alias line, and only rooms that are not declared yet.
    Fields equal to roomsync.yaml's defaults are left out; declared bots' power stays in
    bots.yaml and the account's own entry is never listed. Output is deterministic: the
    same server state gives the same bytes. Put it in rooms/ (e.g. --out rooms/zuul.yaml)
    and the next plan has no changes; what a rooms file cannot say, and what plan would
    still show, is printed on stderr.

    \b
    With a Synapse server admin's token it also reads rooms the account has not joined
    (import can run before adopt); without one, such a room is an error naming
    `roomsync adopt`. A room that does not exist, is on another server or cannot be read
    is one line on stderr and exit 1; the other rooms are still written.
    """
    from ..client import ReadOnlyHomeserver
    from ..importer import config_defaults
    from ..importread import Selection, check_out_file, run_import

    config = load_config(ctx.obj, partial=True)
    selection = Selection(aliases, spaces, joined, all_state)
    if selection.empty:
        raise click.UsageError("name the rooms to import: ALIAS ..., --space ALIAS or --joined")
    check_out_file(out)
    root = Path(ctx.obj).resolve()
    target = out.resolve() if out else root / "rooms" / "imported.yaml"
    line = editor.modeline(target, root)
    result = _run(
        config,
        lambda hs: run_import(hs, config, selection, line, str(out or "the output"), config_defaults(root)),
        client=ReadOnlyHomeserver,
    )
    _report(result, out)
    if result.errors:
        ctx.exit(EXIT_ERROR)


def _report(result: Imported, out: Path | None) -> None:
    """What import found, on stderr; the rooms file on stdout or in FILE."""
    from ..importread import write_out_file

    for message in result.skipped:
        click.echo(f"roomsync: skipped {message}", err=True)
    for message in result.warnings:
        click.echo(f"roomsync: warning: {message}", err=True)
    if result.text is not None:
        rooms = f"{result.rooms} {'room' if result.rooms == 1 else 'rooms'}"
        if out:
            write_out_file(out, result.text)
            click.echo(f"roomsync: wrote {rooms} to {out}", err=True)
        else:
            click.echo(result.text, nl=False)
            click.echo(f"roomsync: imported {rooms}", err=True)
    for message in result.notes:
        click.echo(f"roomsync: {message}", err=True)
    for message in result.errors:
        click.echo(f"roomsync: error: {message}", err=True)
