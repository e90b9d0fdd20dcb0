"""The reconcile commands: `plan` shows what would change, `sync` (alias `apply`) makes it so."""

from __future__ import annotations

import copy
import dataclasses
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..actions import BOTS, ROOMS, JoinAs, Plan, SetProfile
from ..errors import RoomsyncError
from ..ids import localpart_of
from ..model import Config
from .common import EXIT_CHANGES, EXIT_ERROR, PROGRESS, _config, _run, _secret, homeserver_url
from .mirrors import Clients, mirror_clients, read_everything, usable

if TYPE_CHECKING:
    from ..apply import RoomResult
    from ..client import Homeserver
    from ..savedplan import Made, Saved

    _FloatParamType = click.ParamType[float]
else:  # ParamType is generic from click 8.4 on; older ones do not take the parameter
    _FloatParamType = click.ParamType


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


def _selected(config: Config, rooms: tuple[str, ...]) -> tuple[str, ...]:
    """--room values as declared local parts; an unknown one is a usage error."""
    selected = []
    for value in rooms:
        localpart = localpart_of(value)
        if config.room(localpart) is None or (":" in value and value.split(":", 1)[1] != config.server_name):
            raise click.BadParameter(f"{value} is not a declared room", param_hint="--room")
        selected.append(localpart)
    return tuple(selected)


def bot_tokens_set(config: Config) -> set[str]:
    """Names of the bots' token variables that are set here (their values are not looked at)."""
    return {bot.token_env for bot in config.bots if bot.token_env and (os.environ.get(bot.token_env) or "").strip()}


async def _plan_live(
    config: Config, hs: Homeserver, only: str | None, rooms: tuple[str, ...], mirrors: Clients | None = None
) -> Plan:
    from ..plan import make_plan

    PROGRESS.status(f"reading {hs.base_url} ...")
    snapshot = await read_everything(hs, config, mirrors or {}, PROGRESS.status)
    PROGRESS.done()
    planned = make_plan(config, snapshot, only, rooms_selected=rooms or None, tokens=bot_tokens_set(config))
    return dataclasses.replace(planned, homeserver=hs.base_url)


FORMATS = {"text": "plan_text", "json": "plan_json", "markdown": "plan_markdown"}


def rendered(plan: Plan, fmt: str, made: Made | None = None) -> str:
    """The plan in a format; JSON carries `made`, what sync --plan needs to apply it."""
    from .. import render

    if fmt == "json":
        return render.plan_json(plan, made.document() if made else None)
    text: str = getattr(render, FORMATS[fmt])(plan)
    return text


def made_here(config: Config, account: str, only: str | None, rooms: tuple[str, ...]) -> Made:
    """What a plan made (or applied) here is for and from: see roomsync/savedplan.py."""
    import roomsync

    from ..config import config_files
    from ..savedplan import Made, config_digest

    return Made(
        homeserver=homeserver_url(config).rstrip("/"),
        server_name=config.server_name,
        account=account,
        version=roomsync.__version__,
        config_digest=config_digest(config_files(config.root), config.root),
        only=only,
        rooms=rooms,
    )


EXTENSION_FORMATS = {".json": "json", ".md": "markdown", ".markdown": "markdown", ".txt": "text"}


@click.command(short_help="Show what sync would change (read-only).")
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

    async def work(hs: Homeserver) -> Plan:
        async with mirror_clients(config, public=True) as mirrors:
            return await _plan_live(config, hs, only, selected, mirrors)

    result: Plan = _run(config, work)
    made = made_here(config, result.account, only, selected)
    for path in out:
        try:
            text = rendered(result, EXTENSION_FORMATS.get(path.suffix.lower(), fmt), made)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise RoomsyncError(f"cannot write {path}: {exc.strerror}") from None
    click.echo(rendered(result, "text" if out else fmt, made), nl=False)
    if result.has_errors:
        ctx.exit(EXIT_ERROR)
    if detailed_exitcode and result.has_changes:
        ctx.exit(EXIT_CHANGES)


class Duration(_FloatParamType):
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


SAVED_PLAN = click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Apply this saved plan (from plan --out FILE.json) and nothing else. Changes already made are "
    "skipped; if anything else moved since, or the config or roomsync differ, nothing is sent (exit 1).",
)


@click.command(short_help="Make the homeserver match the config (alias: apply).")
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
@SAVED_PLAN
@ONLY
@ROOM
@click.pass_context
def sync(
    ctx: click.Context,
    dry_run: bool,
    yes: bool,
    allow_removals: bool,
    time_budget: float | None,
    plan_file: Path | None,
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
    saved = _saved_plan(config, plan_file, only, selected) if plan_file else None
    if saved is not None:
        only, selected = saved.made.only, saved.made.rooms

    async def work(hs: Homeserver) -> bool:
        async with mirror_clients(config) as mirrors:
            return await _sync(hs, mirrors)

    async def _sync(hs: Homeserver, mirrors: Clients) -> bool:
        planned = await _plan_live(config, hs, only, selected, mirrors)
        if saved is not None:
            _check_current(saved, planned)
        click.echo(rendered(planned, "text"), nl=False)
        if dry_run:
            click.echo("Dry run: nothing was changed.")
            if config.account and planned.reader != config.account:
                click.echo(f"(This token belongs to {planned.reader}; a real sync needs {config.account}'s.)")
            return not planned.has_errors
        _refuse_another_account(config, planned)
        if not planned.has_changes and not planned.has_errors:
            return True
        _check_before_changes(planned, allow_removals)
        if (
            planned.has_changes
            and not yes
            and sys.stdin.isatty()
            and not click.confirm(f"\nApply these changes to {hs.base_url}?", err=True)
        ):
            raise RoomsyncError("sync cancelled; nothing was changed")
        click.echo("")
        budget_left = None if time_budget is None else time_budget - (time.monotonic() - started)
        return await _apply(hs, config, planned, only, selected, budget_left, mirrors)

    if not _run(config, work):
        ctx.exit(EXIT_ERROR)


def _refuse_another_account(config: Config, planned: Plan) -> None:
    if config.account and planned.reader != config.account:
        raise RoomsyncError(
            f"roomsync.yaml names the account {config.account}, but the token belongs to "
            f"{planned.reader}; sync only runs with the provisioning account's token"
        )


def _saved_plan(config: Config, plan_file: Path, only: str | None, selected: tuple[str, ...]) -> Saved:
    """The saved plan, refused before any request when it was made for another server or account,
    from another config, by another roomsync, or for another --only/--room."""
    from ..savedplan import load, refusal

    saved = load(plan_file)
    here = made_here(config, config.account or "", only or saved.made.only, selected or saved.made.rooms)
    if reason := refusal(saved, here):
        raise RoomsyncError(reason)
    return saved


def _check_current(saved: Saved, planned: Plan) -> None:
    """The saved plan against the server as it is now: nothing is sent when anything moved."""
    from ..savedplan import STALE, compare

    if planned.account != saved.made.account:
        raise RoomsyncError(
            f"{saved.path} was made for the account {saved.made.account}, not {planned.account}; nothing was sent"
        )
    comparison = compare(saved, planned)
    if comparison.moved:
        raise RoomsyncError(f"{STALE}; nothing was sent. Since the plan was made:\n  " + "\n  ".join(comparison.moved))
    if comparison.done:
        PROGRESS.line(f"{comparison.done} changes of {saved.path} are made already: skipped")


def _check_before_changes(planned: Plan, allow_removals: bool) -> None:
    """Refuse, changing nothing, a plan that removes too much or needs bot tokens that are not set."""
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


async def _apply(
    hs: Homeserver,
    config: Config,
    planned: Plan,
    only: str | None,
    selected: tuple[str, ...],
    budget_left: float | None,
    mirrors: Clients,
) -> bool:
    """Carry out the plan, then settle the rooms it upgraded; True when no room failed or was left out."""
    import asyncio

    from ..apply import apply_plan
    from ..render import results_text

    loop = asyncio.get_running_loop()
    deadline = None if budget_left is None else loop.time() + budget_left

    async def carry_out(what: Plan) -> list[RoomResult]:
        results = await apply_plan(
            hs,
            what,
            bot_token=lambda name: _secret(os.environ.get(name)),
            progress=_room_progress(),
            deadline=deadline,
            mirrors=usable(mirrors),
        )
        PROGRESS.done()
        click.echo(results_text(results), nl=False)
        return results

    results = await carry_out(planned)
    if any(r.status == "upgraded" for r in results):
        # An upgrade copies some of the old room's state and not the rest: read the new rooms and
        # bring them (and the links that named the old ones) to the declared state.
        again = await _plan_live(config, hs, only, selected, mirrors)
        click.echo("\nAfter the upgrades, as the homeserver is now:\n" + rendered(again, "text"), nl=False)
        if again.has_changes or again.has_errors:
            click.echo("")
            results += await carry_out(again)
    if planned.well_known:
        click.echo(".well-known: sync does not change the web server; deploy `roomsync well-known` output.")
    for server, why in planned.server_errors.items():  # its part was not planned, so not synced either
        click.echo(f"NOT SYNCED [{server}]: {why}")
    return all(r.status not in ("failed", "skipped", "not started") for r in results) and not planned.server_errors


# Terraform's word for it, for the hands that type it.
apply_alias = copy.copy(sync)
apply_alias.short_help = "The same as sync."
