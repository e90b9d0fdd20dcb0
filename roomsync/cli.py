"""Thin click commands: load, plan, apply, render; errors become exit codes.

Exit codes: 0 success, 1 any error (config, network, permission, partial
failure, usage), 2 only for `plan --detailed-exitcode` with changes pending.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import editor, wellknown
from .actions import BOTS, ROOMS, JoinAs, Plan, SetProfile
from .cligroup import VERBOSE_HELP, RoomsyncGroup, log_level
from .config import homeserver_problem, load_config
from .errors import ConfigError, RoomsyncError
from .ids import localpart_of
from .model import Config
from .validation import validation_json

if TYPE_CHECKING:
    from .client import Homeserver

# The network stack (matrix-nio, aiohttp) and the planner are imported by the commands that use
# them: validate, run by pre-commit hooks on every commit, starts without them.

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
    if problem := homeserver_problem(url):
        raise RoomsyncError(problem)
    return url


def access_token() -> str:
    token, token_file = os.environ.get(ENV_TOKEN), os.environ.get(ENV_TOKEN_FILE)
    if token and token_file:
        raise RoomsyncError(f"set only one of {ENV_TOKEN} and {ENV_TOKEN_FILE}")
    if token_file:
        try:
            return _secret(Path(token_file).read_text(encoding="utf-8")) or ""
        except (OSError, UnicodeDecodeError) as exc:
            raise RoomsyncError(
                f"cannot read {ENV_TOKEN_FILE} ({token_file}): {getattr(exc, 'strerror', exc)}"
            ) from None
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


class Progress:
    """Progress for people, on stderr. On a terminal: one status line, rewritten in place.
    Off a terminal (CI logs): nothing transient, and one plain line per event worth a line
    (a room done, a wait), so that a long sync is never silent."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()

    def status(self, message: str) -> None:
        if self.tty:
            click.echo(f"\r\033[K{message}", err=True, nl=False)

    def line(self, message: str) -> None:
        if self.tty:
            self.status(message)
        else:
            click.echo(f"roomsync: {message}", err=True)

    def done(self) -> None:
        if self.tty:
            click.echo("\r\033[K", err=True, nl=False)


PROGRESS = Progress()


def bot_tokens_set(config: Config) -> set[str]:
    """Names of the bots' token variables that are set here (their values are not looked at)."""
    return {bot.token_env for bot in config.bots if bot.token_env and (os.environ.get(bot.token_env) or "").strip()}


async def _plan_live(config: Config, hs: Homeserver, only: str | None, rooms: tuple[str, ...]) -> Plan:
    from .observe import read_snapshot
    from .plan import make_plan

    PROGRESS.status(f"reading {hs.base_url} ...")
    snapshot = await read_snapshot(hs, config, progress=PROGRESS.status)
    PROGRESS.done()
    return make_plan(config, snapshot, only, rooms_selected=rooms or None, tokens=bot_tokens_set(config))


def _run(config: Config, work: Callable[[Homeserver], Any], client: type[Homeserver] | None = None) -> Any:
    import asyncio

    from .client import Homeserver

    async def main() -> Any:
        async with (client or Homeserver)(homeserver_url(config), access_token()) as hs:
            hs.on_wait = PROGRESS.line
            return await work(hs)

    return asyncio.run(main())


# --- commands --------------------------------------------------------------------------------


def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    # The version is looked up only when asked for: see roomsync/__init__.py.
    if value and not ctx.resilient_parsing:
        import roomsync

        click.echo(f"roomsync, version {roomsync.__version__}")
        ctx.exit()


@click.group(cls=RoomsyncGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "-C",
    "directory",
    default=".",
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Config directory holding roomsync.yaml and rooms/ (default: the current directory).",
)
@click.option("-v", "--verbose", count=True, help=VERBOSE_HELP + " Also accepted after the command.")
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_show_version,
    help="Show the version and exit.",
)
@click.pass_context
def main(ctx: click.Context, directory: Path, verbose: int) -> None:
    """Keep a Matrix homeserver's rooms as declared in git.

    Start with `roomsync validate` (offline), then `roomsync plan` (read-only), then
    `roomsync sync`. The homeserver URL comes from roomsync.yaml or ROOMSYNC_HOMESERVER; the access
    token from ROOMSYNC_ACCESS_TOKEN or ROOMSYNC_ACCESS_TOKEN_FILE, never from the
    command line. Exit codes: 0 ok, 1 error, 2 changes pending (plan --detailed-exitcode).
    """
    logging.basicConfig(level=log_level(verbose), stream=sys.stderr, format="roomsync: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactTokens())
    logging.getLogger("nio").setLevel(logging.ERROR)  # nio warns on every error answer
    ctx.obj = directory


ONLY = click.option(
    "--only",
    type=click.Choice([ROOMS, BOTS]),
    help="Limit the run to the rooms (rooms/*.yaml) or to the bots (bots.yaml).",
)
ROOM = click.option(
    "--room",
    "rooms",
    multiple=True,
    metavar="ALIAS",
    help="Limit the run to this room (#zuul:opendev.org or zuul), and the space links it needs. Repeatable.",
)


def _config(ctx: click.Context) -> Config:
    return load_config(ctx.obj)


def _selected(config: Config, rooms: tuple[str, ...]) -> tuple[str, ...]:
    """--room values as declared local parts; an unknown one is a usage error."""
    selected = []
    for value in rooms:
        localpart = localpart_of(value)
        if config.room(localpart) is None or (":" in value and value.split(":", 1)[1] != config.server_name):
            raise click.BadParameter(f"{value} is not a declared room", param_hint="--room")
        selected.append(localpart)
    return tuple(selected)


@main.command(short_help="Check the config files offline (no token, no network).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json prints one document on stdout, problems included (file, line, column, message); "
    'see README, "validate --format json".',
)
@click.pass_context
def validate(ctx: click.Context, fmt: str) -> None:
    """Check roomsync.yaml, rooms/*.yaml and bots.yaml offline (no token, no network).

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


FORMATS = {"text": "plan_text", "json": "plan_json", "markdown": "plan_markdown"}


def rendered(plan: Plan, fmt: str) -> str:
    from . import render

    return getattr(render, FORMATS[fmt])(plan)


EXTENSION_FORMATS = {".json": "json", ".md": "markdown", ".markdown": "markdown", ".txt": "text"}


@main.command(short_help="Show what sync would change (read-only).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(FORMATS)),
    default="text",
    show_default=True,
    help="Output format. json is versioned (format_version) and lists every change; "
    "markdown is a summary fit for a review comment.",
)
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 2 when changes are pending, 0 when the homeserver already matches."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    multiple=True,
    metavar="FILE",
    help="Also write the plan to FILE (repeatable): .json, .md and .txt files get that format, "
    "any other name gets --format. The text plan then goes to stdout.",
)
@ONLY
@ROOM
@click.pass_context
def plan(
    ctx: click.Context,
    fmt: str,
    detailed_exitcode: bool,
    out: tuple[Path, ...],
    only: str | None,
    rooms: tuple[str, ...],
) -> None:
    """Show what sync would change. Read-only: nothing is written to the homeserver.

    Invites that only a bot can accept (it has no token_env) are listed as notes and are
    not changes, so a periodic drift check does not fail forever because of them.
    """
    config = _config(ctx)
    selected = _selected(config, rooms)
    result: Plan = _run(config, lambda hs: _plan_live(config, hs, only, selected))
    for path in out:
        try:
            path.write_text(rendered(result, EXTENSION_FORMATS.get(path.suffix.lower(), fmt)), encoding="utf-8")
        except OSError as exc:
            raise RoomsyncError(f"cannot write {path}: {exc.strerror}") from None
    click.echo(rendered(result, "text" if out else fmt), nl=False)
    if result.has_errors:
        ctx.exit(EXIT_ERROR)
    if detailed_exitcode and result.has_changes:
        ctx.exit(EXIT_CHANGES)


class Duration(click.ParamType):
    """A duration such as 50m, 1h30m, 90s or 600 (seconds)."""

    name = "duration"
    _PART = re.compile(r"(\d+(?:\.\d+)?)([hms]?)")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        text, seconds, position = str(value).strip().lower(), 0.0, 0
        for match in self._PART.finditer(text):
            if match.start() != position or (not match.group(2) and (position or match.end() != len(text))):
                break
            seconds += float(match.group(1)) * {"h": 3600, "m": 60, "s": 1, "": 1}[match.group(2)]
            position = match.end()
        if not text or position != len(text) or seconds <= 0:
            self.fail(f"{value!r} is not a duration such as 50m, 1h30m or 90s", param, ctx)
        return seconds


def _room_progress() -> Callable[[int, int, str, str], None]:
    """A progress line per room done, with an estimate of the time left."""
    began = time.monotonic()

    def report(done: int, total: int, alias: str, status: str) -> None:
        left = (time.monotonic() - began) / done * (total - done)
        estimate = f", about {_duration(left)} left" if total > done and left >= 5 else ""
        PROGRESS.line(f"[{done}/{total}] {alias} {status}{estimate}")

    return report


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _missing_bot_tokens(planned: Plan) -> list[str]:
    """Token variables that sync would need for the plan's joins and profiles but are not set."""
    actions = [a for room in planned.rooms if not room.errors for a in room.actions]
    actions += [a for bot in planned.bots for a in bot.actions]
    needed = {a.token_env for a in actions if isinstance(a, (JoinAs, SetProfile))}
    return sorted(name for name in needed if not (os.environ.get(name) or "").strip())


@main.command(short_help="Make the homeserver match the config (alias: apply).")
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing (any account's token will do).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before changing anything (off a terminal it never asks).")
@click.option(
    "--allow-removals",
    is_flag=True,
    help="Apply even when the plan removes more than max_removals (roomsync.yaml, default 10) things.",
)
@click.option(
    "--time-budget",
    type=Duration(),
    metavar="DURATION",
    help="Start no new room after this long (e.g. 50m, 1h30m, 90s); rooms in flight finish, the rest "
    "is left for the next sync (exit 1). For CI jobs with a timeout on a rate-limited server.",
)
@ONLY
@ROOM
@click.pass_context
def sync(
    ctx: click.Context,
    dry_run: bool,
    yes: bool,
    allow_removals: bool,
    time_budget: float | None,
    only: str | None,
    rooms: tuple[str, ...],
) -> None:
    """Make the homeserver match the config, then print what was done.

    The plan is printed first; on a terminal, sync then asks before it changes anything
    (--yes skips the question; in CI, off a terminal, it never asks). Rooms that cannot be
    changed (not joined, not enough power) are reported and skipped; the others still go
    through, and the exit code is 1. `roomsync apply` is the same command.
    """
    config = _config(ctx)
    selected = _selected(config, rooms)
    started = time.monotonic()

    async def work(hs: Homeserver) -> bool:
        planned = await _plan_live(config, hs, only, selected)
        click.echo(rendered(planned, "text"), nl=False)
        if dry_run:
            click.echo("Dry run: nothing was changed.")
            if config.account and planned.reader != config.account:
                click.echo(f"(This token belongs to {planned.reader}; a real sync needs {config.account}'s.)")
            return not planned.has_errors
        if config.account and planned.reader != config.account:
            raise RoomsyncError(
                f"roomsync.yaml names the account {config.account}, but the token belongs to "
                f"{planned.reader}; sync only runs with the provisioning account's token"
            )
        if not planned.has_changes and not planned.has_errors:
            return True
        if planned.removals > planned.max_removals and not allow_removals:
            raise RoomsyncError(
                f"the plan removes {planned.removals} things (power-level users, bots, aliases, space links), "
                f"more than max_removals {planned.max_removals}; nothing was changed. Check the plan, then "
                "run sync --allow-removals (or raise max_removals in roomsync.yaml)"
            )
        if missing := _missing_bot_tokens(planned):
            raise RoomsyncError(
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set, but the plan needs "
                f"{'it' if len(missing) == 1 else 'them'} for bots to join or set their profile (see the notes); "
                "nothing was changed. Set the variables, or remove token_env from bots.yaml to only invite"
            )
        if (
            planned.has_changes
            and not yes
            and sys.stdin.isatty()
            and not click.confirm(f"\nApply these changes to {hs.base_url}?", err=True)
        ):
            raise RoomsyncError("sync cancelled; nothing was changed")
        click.echo("")
        import asyncio

        from .apply import apply_plan
        from .render import results_text

        loop = asyncio.get_running_loop()
        deadline = None if time_budget is None else loop.time() + time_budget - (time.monotonic() - started)

        async def carry_out(what: Plan) -> list:
            results = await apply_plan(
                hs,
                what,
                bot_token=lambda name: _secret(os.environ.get(name)),
                progress=_room_progress(),
                deadline=deadline,
            )
            PROGRESS.done()
            click.echo(results_text(results), nl=False)
            return results

        results = await carry_out(planned)
        if any(r.status == "upgraded" for r in results):
            # An upgrade copies some of the old room's state and not the rest: read the new rooms and
            # bring them (and the links that named the old ones) to the declared state.
            again = await _plan_live(config, hs, only, selected)
            click.echo("\nAfter the upgrades, as the homeserver is now:\n" + rendered(again, "text"), nl=False)
            if again.has_changes or again.has_errors:
                click.echo("")
                results += await carry_out(again)
        if planned.well_known:
            click.echo(".well-known: sync does not change the web server; deploy `roomsync well-known` output.")
        return all(r.status not in ("failed", "skipped", "not started") for r in results)

    if not _run(config, work):
        ctx.exit(EXIT_ERROR)


# Terraform's word for it, for the hands that type it.
apply_alias = copy.copy(sync)
apply_alias.short_help = "The same as sync."
main.add_command(apply_alias, "apply")


@main.command("well-known", short_help="Write the .well-known/matrix files offline.")
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


@main.command("docs", short_help="Write the community's join page (HTML or Markdown) offline.")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Write DIR/index.html (DIR/index.md with --format markdown); DIR is created if need be.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "markdown"]),
    default="html",
    show_default=True,
    help="html: one self-contained page (inline CSS, no script, nothing fetched), fit to publish "
    "as a static file. markdown: a page for a Sphinx (MyST) or MkDocs site.",
)
@click.pass_context
def docs_cmd(ctx: click.Context, out_dir: Path, fmt: str) -> None:
    """Write the community's join page: how to join, then every space and room with its link.

    \b
    For each room: name, #alias:server_name, topic, a matrix.to link, how to get in
    (public, ask to join, members of a space, invite only), an "encrypted" mark and
    the bots that serve it. Spaces are nested sections in the order clients show
    them; rooms in no space come under "Other rooms". Rooms that are invite-only
    and not in the room directory are left out unless roomsync.yaml says
    docs: {include_private: true}; docs: also sets the title and an intro (Markdown).

    Offline: no token, no network. An invalid config writes nothing.
    """
    from .docs import write_page

    config = _config(ctx)
    click.echo(f"wrote {write_page(config, out_dir, fmt)}")


@main.command(short_help="Run a throwaway Synapse holding the rooms, for bots' tests.")
@click.option(
    "--port", type=click.IntRange(1, 65535), metavar="PORT", help="Listen on 127.0.0.1:PORT (default: a free port)."
)
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=".roomsync-local.env",
    show_default=True,
    metavar="FILE",
    help="Write ROOMSYNC_HOMESERVER, ROOMSYNC_ACCESS_TOKEN and each bot's token here (mode 0600) "
    "once the sync is done; removed again when it stops.",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Keep Synapse's data in DIR and do not remove it; a later run with the same DIR starts "
    "from it (same rooms, same accounts, fresh tokens). Default: a temporary directory.",
)
@click.pass_context
def local(ctx: click.Context, port: int | None, env_file: Path, data_dir: Path | None) -> None:
    """Run a throwaway Synapse holding this config's rooms, for testing bots against them.

    Starts Synapse on 127.0.0.1 with roomsync.yaml's server_name (SQLite, no federation,
    rate limits lifted), registers the provisioning account (`account`, default
    @roomsync:<server_name>) as a server admin and every bot of bots.yaml on that server
    (bots of other servers are skipped), and syncs the config with the bots' tokens, so
    every bot is already joined. Then it writes FILE as KEY=VALUE lines: ROOMSYNC_HOMESERVER,
    ROOMSYNC_ACCESS_TOKEN and each bot's token under its token_env (or
    ROOMSYNC_BOT_<NAME>_TOKEN when it has none). A script can wait for FILE, then source it.

    Stays in the foreground until SIGTERM or Ctrl-C, then stops Synapse and removes its
    data (unless --data) and FILE; exit 0. Any failure on the way stops Synapse too and
    exits 1. Needs Synapse: pip install 'roomsync[local]'.
    """
    from .localserver import run_local  # Synapse is only needed (and imported) here

    run_local(ctx.obj, port=port, env_file=env_file, data_dir=data_dir, say=click.echo, remember_secret=_secret)


@main.command("schema", short_help="Write the JSON Schemas for editors, offline.")
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


@main.command("bot-token", short_help="Mint a new access token for a bot and write it to a file.")
@click.argument("name")
@click.option(
    "--out",
    "out_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write the token to FILE (created with mode 0600; nothing else is written to it).",
)
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@click.pass_context
def bot_token_cmd(ctx: click.Context, name: str, out_file: Path, force: bool) -> None:
    """Mint a fresh access token for the bot NAME of bots.yaml and write it to FILE.

    \b
    For an operator to hand to the bot's deployment. The bot must be an account on
    server_name, and the access token roomsync runs with (ROOMSYNC_ACCESS_TOKEN) a
    Synapse server admin's: the token comes from the admin API. It is never printed
    or logged. Tokens minted earlier stay valid. A minted token has no device and no
    expiry, and ends when the minting account logs out of all sessions or is
    deactivated.
    """
    from .bottoken import check_target, local_bot, mint_to_file

    config = _config(ctx)
    bot = local_bot(config, name)
    check_target(out_file, force)
    _run(config, lambda hs: mint_to_file(hs, bot, out_file, force, _secret))
    click.echo(f"wrote a new access token for {bot.name} ({bot.user}) to {out_file} (mode 0600)")


# --- adopting rooms made by hand: adopt and import ------------------------------------------------


@main.command("adopt", short_help="Join the account to rooms made by hand, at power 100.")
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
    from .adopt import NOT_ADOPTED, adopt, summary

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


@main.command("import", short_help="Write existing rooms as a rooms file (read-only).")
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
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write the rooms file to FILE (never over an existing file) instead of stdout.",
)
@click.pass_context
def import_cmd(
    ctx: click.Context, aliases: tuple[str, ...], spaces: tuple[str, ...], joined: bool, out: Path | None
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
    from .client import ReadOnlyHomeserver
    from .importer import config_defaults
    from .importread import Selection, check_out_file, run_import, write_out_file

    config = load_config(ctx.obj, partial=True)
    selection = Selection(aliases, spaces, joined)
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
    for message in result.skipped:
        click.echo(f"roomsync: skipped {message}", err=True)
    for message in result.warnings:
        click.echo(f"roomsync: warning: {message}", err=True)
    if result.text is not None:
        if out:
            write_out_file(out, result.text)
            click.echo(f"roomsync: wrote {result.rooms} {'room' if result.rooms == 1 else 'rooms'} to {out}", err=True)
        else:
            click.echo(result.text, nl=False)
            click.echo(f"roomsync: imported {result.rooms} {'room' if result.rooms == 1 else 'rooms'}", err=True)
    for message in result.notes:
        click.echo(f"roomsync: {message}", err=True)
    for message in result.errors:
        click.echo(f"roomsync: error: {message}", err=True)
    if result.errors:
        ctx.exit(EXIT_ERROR)


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
        PROGRESS.done()
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
