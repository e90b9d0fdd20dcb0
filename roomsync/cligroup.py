"""The click group of roomsync: `-v/--verbose` is accepted after any command too.

`roomsync -v plan` and `roomsync plan -v` are the same; counts add up (`roomsync -v plan -v` is
-vv). The group's own option configures logging first; the commands' option, parsed after it,
raises the level further. Every command added to the group gets the option, so a new command
needs nothing for it.
"""

from __future__ import annotations

import logging

import click

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
