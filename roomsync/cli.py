"""Thin click commands: load, plan, apply, render; errors become exit codes.

Exit codes: 0 success, 1 any error (config, network, permission, partial
failure, usage), 2 only for `plan --detailed-exitcode` with changes pending.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable

import click

from . import __version__, editor, render, wellknown
from .actions import BOTS, ROOMS
from .apply import apply_plan
from .client import Homeserver
from .cligroup import VERBOSE_HELP, RoomsyncGroup, log_level
from .config import load_config
from .errors import ConfigError, RoomsyncError
from .model import Config
from .observe import read_snapshot
from .plan import Plan, make_plan
from .validation import validation_json

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
ENV_HOMESERVER = "ROOMSYNC_HOMESERVER"
ENV_TOKEN = "ROOMSYNC_ACCESS_TOKEN"
ENV_TOKEN_FILE = "ROOMSYNC_ACCESS_TOKEN_FILE"


# --- connecting ----------------------------------------------------------------------------


def homeserver_url(config: Config) -> str:
    url = os.environ.get(ENV_HOMESERVER) or config.homeserver
    if not url:
        raise RoomsyncError(f"no homeserver to talk to: set 'homeserver' in roomsync.yaml or {ENV_HOMESERVER}")
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", url):
        raise RoomsyncError(f"homeserver '{url}' is not an http:// or https:// URL")
    return url


def access_token() -> str:
    token, token_file = os.environ.get(ENV_TOKEN), os.environ.get(ENV_TOKEN_FILE)
    if token and token_file:
        raise RoomsyncError(f"set only one of {ENV_TOKEN} and {ENV_TOKEN_FILE}")
    if token_file:
        try:
            return _secret(Path(token_file).read_text(encoding="utf-8")) or ""
        except (OSError, UnicodeDecodeError) as exc:
            raise RoomsyncError(f"cannot read {ENV_TOKEN_FILE} ({token_file}): {getattr(exc, 'strerror', exc)}")
    if not token:
        raise RoomsyncError(f"no access token: set {ENV_TOKEN} or {ENV_TOKEN_FILE}")
    return _secret(token) or ""


SECRETS: set[str] = set()  # every token this process has read, for RedactTokens


def _secret(token: str | None) -> str | None:
    if token and token.strip():
        SECRETS.add(token.strip())
    return token


def redact(text: str) -> str:
    for secret in SECRETS:
        text = text.replace(secret, "[redacted]")
    return text


class RedactTokens(logging.Filter):
    """Belt and braces: roomsync never logs a token, and this filter makes sure no library does."""

    def filter(self, record: logging.LogRecord) -> bool:
        if SECRETS:
            record.msg, record.args = redact(record.getMessage()), ()
        return True


def _status(message: str) -> None:
    """Progress for people: only on a terminal, only on stderr."""
    if sys.stderr.isatty():
        click.echo(f"\r\033[K{message}", err=True, nl=False)


def _status_done() -> None:
    if sys.stderr.isatty():
        click.echo("\r\033[K", err=True, nl=False)


async def _plan_live(config: Config, hs: Homeserver, only: str | None) -> Plan:
    _status(f"reading {hs.base_url} ...")
    snapshot = await read_snapshot(hs, config, progress=_status)
    _status_done()
    return make_plan(config, snapshot, only)


def _run(config: Config, work: Callable[[Homeserver], Any]) -> Any:
    async def main() -> Any:
        async with Homeserver(homeserver_url(config), access_token()) as hs:
            return await work(hs)

    return asyncio.run(main())


# --- commands --------------------------------------------------------------------------------


@click.group(cls=RoomsyncGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "-C", "directory", default=".", metavar="DIR", type=click.Path(file_okay=False, path_type=Path),
    help="Config directory holding roomsync.yaml and rooms/ (default: the current directory).",
)
@click.option("-v", "--verbose", count=True, help=VERBOSE_HELP + " Also accepted after the command.")
@click.version_option(__version__, prog_name="roomsync")
@click.pass_context
def main(ctx: click.Context, directory: Path, verbose: int) -> None:
    """Keep a Matrix homeserver's rooms as declared in git.

    \b
    roomsync validate   check the config files offline
    roomsync plan       show what sync would change (read-only)
    roomsync sync       make the homeserver match the config

    The homeserver URL comes from roomsync.yaml or ROOMSYNC_HOMESERVER; the access
    token from ROOMSYNC_ACCESS_TOKEN or ROOMSYNC_ACCESS_TOKEN_FILE, never from the
    command line. Exit codes: 0 ok, 1 error, 2 changes pending (plan --detailed-exitcode).
    """
    logging.basicConfig(level=log_level(verbose), stream=sys.stderr, format="roomsync: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactTokens())
    logging.getLogger("nio").setLevel(logging.ERROR)  # nio warns on every error answer
    ctx.obj = directory


ONLY = click.option(
    "--only", type=click.Choice([ROOMS, BOTS]),
    help="Limit the run to the rooms (rooms/*.yaml) or to the bots (bots.yaml).",
)


def _config(ctx: click.Context) -> Config:
    return load_config(ctx.obj)


@main.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json prints one document on stdout, problems included (file, line, column, message); "
                   "see README, \"validate --format json\".")
@click.pass_context
def validate(ctx: click.Context, fmt: str) -> None:
    """Check roomsync.yaml and rooms/*.yaml offline (no token, no network).

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
    bots = f", {len(config.bots)} bot{'s' if len(config.bots) != 1 else ''}" if config.bots else ""
    click.echo(f"ok: {len(config.rooms)} rooms{bots} for {config.server_name}")


FORMATS = {"text": render.plan_text, "json": render.plan_json, "markdown": render.plan_markdown}
EXTENSION_FORMATS = {".json": "json", ".md": "markdown", ".markdown": "markdown", ".txt": "text"}


@main.command()
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), default="text", show_default=True,
              help="Output format. json is versioned (format_version) and lists every change; "
                   "markdown is a summary fit for a review comment.")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 2 when changes are pending, 0 when the homeserver already matches.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), multiple=True, metavar="FILE",
              help="Also write the plan to FILE (repeatable): .json, .md and .txt files get that format, "
                   "any other name gets --format. The text plan then goes to stdout.")
@ONLY
@click.pass_context
def plan(ctx: click.Context, fmt: str, detailed_exitcode: bool, out: tuple[Path, ...], only: str | None) -> None:
    """Show what sync would change. Read-only: nothing is written to the homeserver.

    Invites that only a bot can accept (it has no token_env) are listed as notes and are
    not changes, so a periodic drift check does not fail forever because of them.
    """
    config = _config(ctx)
    result: Plan = _run(config, lambda hs: _plan_live(config, hs, only))
    for path in out:
        rendered = FORMATS[EXTENSION_FORMATS.get(path.suffix.lower(), fmt)](result)
        try:
            path.write_text(rendered, encoding="utf-8")
        except OSError as exc:
            raise RoomsyncError(f"cannot write {path}: {exc.strerror}")
    click.echo(FORMATS["text" if out else fmt](result), nl=False)
    if result.has_errors:
        ctx.exit(EXIT_ERROR)
    if detailed_exitcode and result.has_changes:
        ctx.exit(EXIT_CHANGES)


@main.command()
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@click.option("--allow-removals", is_flag=True,
              help="Apply even when the plan removes more than max_removals (roomsync.yaml, default 10) things.")
@ONLY
@click.pass_context
def sync(ctx: click.Context, dry_run: bool, allow_removals: bool, only: str | None) -> None:
    """Make the homeserver match the config, then print what was done.

    Rooms that cannot be changed (not joined, not enough power) are reported and
    skipped; the others still go through, and the exit code is 1.
    """
    config = _config(ctx)

    async def work(hs: Homeserver) -> bool:
        planned = await _plan_live(config, hs, only)
        if config.account and planned.reader != config.account:
            raise RoomsyncError(f"roomsync.yaml names the account {config.account}, but the token belongs to "
                                f"{planned.reader}; sync only runs with the provisioning account's token")
        click.echo(render.plan_text(planned), nl=False)
        if dry_run:
            click.echo("Dry run: nothing was changed.")
            return not planned.has_errors
        if not planned.has_changes and not planned.has_errors:
            return True
        if planned.removals > planned.max_removals and not allow_removals:
            raise RoomsyncError(
                f"the plan removes {planned.removals} things (power-level users, bots, aliases, space links), "
                f"more than max_removals {planned.max_removals}; nothing was changed. Check the plan, then "
                "run sync --allow-removals (or raise max_removals in roomsync.yaml)")
        click.echo("")
        results = await apply_plan(hs, planned, bot_token=lambda name: _secret(os.environ.get(name)),
                                   progress=lambda n, total, alias: _status(f"[{n}/{total}] {alias}"))
        _status_done()
        click.echo(render.results_text(results), nl=False)
        if planned.well_known:
            click.echo(".well-known: sync does not change the web server; deploy `roomsync well-known` output.")
        return all(r.status not in ("failed", "skipped") for r in results)

    if not _run(config, work):
        ctx.exit(EXIT_ERROR)


@main.command("well-known")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Write DIR/.well-known/matrix/server and .../client there.")
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
        raise RoomsyncError(f"cannot write into {out_dir}: {exc.strerror}")
    for path in written:
        click.echo(f"wrote {path}")


@main.command("schema")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), metavar="DIR",
              help="Write roomsync.schema.json, rooms.schema.json and bots.schema.json there (created if needed).")
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
        raise RoomsyncError(f"cannot write the schemas into {out_dir}: {exc.strerror or exc}")
    for path in written:
        click.echo(f"wrote {path}")


# --- entry point -------------------------------------------------------------------------------


def run(argv: list[str] | None = None) -> None:
    """Console entry point: every error is one line on stderr and exit 1, never a traceback."""
    try:
        code = main.main(args=argv, prog_name="roomsync", standalone_mode=False)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        code = EXIT_ERROR
    except click.ClickException as exc:  # usage errors: never 2, which means "changes pending"
        exc.show()
        code = EXIT_ERROR
    except click.exceptions.Abort:
        click.echo("roomsync: aborted", err=True)
        code = EXIT_ERROR
    except RoomsyncError as exc:
        _status_done()
        click.echo(f"roomsync: error: {redact(str(exc))}", err=True)
        code = EXIT_ERROR
    except KeyboardInterrupt:
        click.echo("roomsync: interrupted", err=True)
        code = 130
    except Exception as exc:  # a bug: say so in one line; ROOMSYNC_DEBUG=1 shows the traceback
        if os.environ.get("ROOMSYNC_DEBUG"):
            raise
        click.echo(f"roomsync: internal error ({exc.__class__.__name__}): {redact(str(exc))}", err=True)
        code = EXIT_ERROR
    sys.exit(code if isinstance(code, int) else EXIT_OK)
