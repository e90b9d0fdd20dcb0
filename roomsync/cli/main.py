"""The click group of roomsync: its global options, its commands in order, and run(), the entry point.

`-v/--verbose` is accepted after any command too: `roomsync -v plan` and `roomsync plan -v` are
the same; counts add up (`roomsync -v plan -v` is -vv). The group's own option configures logging
first; the commands' option, parsed after it, raises the level further. Every command added to the
group gets the option, so a new command needs nothing for it.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from .. import __version__
from ..errors import ConfigError, RoomsyncError
from .bots import bot_token_cmd
from .common import EXIT_ERROR, EXIT_OK, PROGRESS, RedactTokens, redact
from .local import local
from .offline import schema_cmd, validate
from .onramp import adopt_cmd, import_cmd
from .publish import docs_cmd, well_known_cmd
from .reconcile import apply_alias, plan, sync

VERBOSE_HELP = "Log retries and rate-limit waits to stderr; -vv logs every request."


def log_level(verbose: int) -> int:
    return logging.WARNING - 10 * min(verbose, 2)


def _command_verbose(ctx: click.Context, _param: click.Parameter, value: int) -> None:
    if not value or ctx.resilient_parsing:
        return
    root = ctx.find_root()
    total = (root.params.get("verbose") or 0) + value
    ctx.meta["roomsync.verbose"] = total
    logging.getLogger().setLevel(log_level(total))


def verbose_option() -> click.Option:
    return click.Option(
        ["-v", "--verbose"], count=True, expose_value=False, callback=_command_verbose, help=VERBOSE_HELP
    )


class RoomsyncGroup(click.Group):
    """A click group whose commands also take -v/--verbose, listed in the order a newcomer uses
    them (the order they are added), not alphabetically."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not any(param.name == "verbose" for param in cmd.params):
            cmd.params.append(verbose_option())
        super().add_command(cmd, name)


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
@click.version_option(__version__, prog_name="roomsync")
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


# In the order a newcomer meets them: `roomsync --help` lists them so.
for _command, _name in (
    (validate, None),
    (plan, None),
    (sync, None),
    (apply_alias, "apply"),
    (well_known_cmd, None),
    (docs_cmd, None),
    (local, None),
    (schema_cmd, None),
    (bot_token_cmd, None),
    (adopt_cmd, None),
    (import_cmd, None),
):
    main.add_command(_command, _name)


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
