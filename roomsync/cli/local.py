"""`roomsync local`: a throwaway Synapse holding the config's rooms, for bots' tests."""

from __future__ import annotations

from pathlib import Path

import click

from .common import _secret


@click.command(short_help="Run a throwaway Synapse holding the rooms, for bots' tests.")
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
@click.option(
    "--user",
    "users",
    multiple=True,
    metavar="NAME",
    help="Also register the plain user @NAME:<server_name> and write its token to FILE as "
    "ROOMSYNC_USER_<NAME>_TOKEN, so a bot's test can act as a person. Repeatable.",
)
@click.pass_context
def local(ctx: click.Context, port: int | None, env_file: Path, data_dir: Path | None, users: tuple[str, ...]) -> None:
    """Run a throwaway Synapse holding this config's rooms, for testing bots against them.

    Starts Synapse on 127.0.0.1 with roomsync.yaml's server_name (SQLite, no federation,
    rate limits lifted), registers the provisioning account (`account`, default
    @roomsync:<server_name>) as a server admin and every bot of bots.yaml on that server
    (bots of other servers are skipped), and syncs the config with the bots' tokens, so
    every bot is already joined. Then it writes FILE as KEY=VALUE lines: ROOMSYNC_HOMESERVER,
    ROOMSYNC_ACCESS_TOKEN and each bot's token under its token_env (or
    ROOMSYNC_BOT_<NAME>_TOKEN when it has none), and each --user's token as
    ROOMSYNC_USER_<NAME>_TOKEN. A script can wait for FILE, then source it.

    Stays in the foreground until SIGTERM or Ctrl-C, then stops Synapse and removes its
    data (unless --data) and FILE; exit 0. Any failure on the way stops Synapse too and
    exits 1. Needs Synapse: pip install 'roomsync[local]'.
    """
    from ..localserver import run_local  # Synapse is only needed (and imported) here

    run_local(
        ctx.obj, port=port, env_file=env_file, data_dir=data_dir, say=click.echo, remember_secret=_secret, users=users
    )
