"""The offline config tools: `validate` checks the config files, `schema` writes the JSON Schemas for editors."""

from __future__ import annotations

from pathlib import Path

import click

from .. import editor
from ..errors import ConfigError, RoomsyncError
from ..validation import validation_json
from .common import EXIT_ERROR, _config


@click.command(short_help="Check the config files offline (no token, no network).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json prints one document on stdout, problems included (file, line, column, message); "
    'see "JSON validate format" in the guide.',
)
@click.pass_context
def validate(ctx: click.Context, fmt: str) -> None:
    """Check roomsync.yaml, rooms/*.yaml, bots.yaml and policies.yaml offline (no token, no network).

    Every problem is printed as FILE:LINE:COLUMN: message; exit 1 if there is any.
    """
    if fmt == "json":
        try:
            loaded = _config(ctx)
        except ConfigError as exc:
            click.echo(validation_json(exc.problems), nl=False)
            ctx.exit(EXIT_ERROR)
        click.echo(validation_json(config=loaded), nl=False)
        return
    config = _config(ctx)
    bots = f", {_count(len(config.bots), 'bot')}" if config.bots else ""
    lists, follows = config.policies.lists, config.policies.follow
    rules = sum(len(lst.rules) for lst in lists)
    policies = f", {_count(len(lists), 'policy list')} ({_count(rules, 'rule')})" if lists else ""
    policies += f", {_count(len(follows), 'followed list')}" if follows else ""
    click.echo(f"ok: {len(config.rooms)} rooms{bots}{policies} for {config.server_name}")


def _count(number: int, what: str) -> str:
    return f"{number} {what}{'s' if number != 1 else ''}"


@click.command("schema", short_help="Write the JSON Schemas for editors, offline.")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="Write roomsync.schema.json, rooms.schema.json and bots.schema.json there (created if needed).",
)
def schema_cmd(out_dir: Path) -> None:
    """Write the JSON Schemas this roomsync validates with, for editors.

    Files of the same names in DIR are replaced. A config file points at them with a first line
    such as `# yaml-language-server: $schema=../schema/rooms.schema.json` (relative to the
    file); `roomsync schema --out schema` in the config directory matches that. Offline.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise RoomsyncError(f"cannot write the schemas into {out_dir}: it is not a directory")
    try:
        written = editor.write_schemas(out_dir)
    except OSError as exc:
        raise RoomsyncError(f"cannot write the schemas into {out_dir}: {exc.strerror or exc}") from None
    for path in written:
        click.echo(f"wrote {path}")
