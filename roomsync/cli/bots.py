"""`roomsync bot-token`: mint a bot's access token with the admin API and write it to a file."""

from __future__ import annotations

from pathlib import Path

import click

from .common import _config, _run, _secret


@click.command("bot-token", short_help="Mint a new access token for a bot and write it to a file.")
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
    from ..bottoken import check_target, local_bot, mint_to_file

    config = _config(ctx)
    bot = local_bot(config, name)
    check_target(out_file, force)
    _run(config, lambda hs: mint_to_file(hs, bot, out_file, force, _secret))
    click.echo(f"wrote a new access token for {bot.name} ({bot.user}) to {out_file} (mode 0600)")
