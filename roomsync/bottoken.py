"""`roomsync bot-token`: mint a fresh access token for a local bot and write it to a file.

The token comes from Synapse's admin API (POST /_synapse/admin/v1/users/{id}/login), so the
provisioning account's token must be a server admin's. It is written to a file created with
mode 0600, atomically (a temporary file in the same directory, then renamed), and is never
printed or logged. If it cannot be written, it is logged out again so that no unseen token
is left valid.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from .client import Homeserver
from .errors import HomeserverError, MatrixError, RoomsyncError
from .model import BotSpec, Config

FILE_MODE = 0o600


def local_bot(config: Config, name: str) -> BotSpec:
    """The bots.yaml entry named `name`, which must be an account on server_name."""
    bot = next((b for b in config.bots if b.name == name), None)
    if bot is None:
        known = ", ".join(b.name for b in config.bots) or "none"
        raise RoomsyncError(f"no bot named '{name}' in bots.yaml (bots: {known})")
    if not bot.user.endswith(f":{config.server_name}"):
        raise RoomsyncError(
            f"bot {name} ({bot.user}) is not on {config.server_name}; "
            "roomsync can only mint tokens for accounts on its own homeserver"
        )
    return bot


def check_target(path: Path, force: bool) -> None:
    """Refuse before minting anything: an existing file without --force, or a directory."""
    if path.is_dir():
        raise RoomsyncError(f"{path} is a directory; --out names the file to write")
    if path.exists() and not force:
        raise RoomsyncError(f"{path} already exists; use --force to replace it")
    if not path.parent.is_dir():
        raise RoomsyncError(f"cannot write {path}: the directory {path.parent} does not exist")


def write_secret(path: Path, secret: str, force: bool) -> None:
    """Write secret to path with mode 0600, atomically; without force an existing path is never replaced."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secret)
            handle.flush()
            os.fsync(handle.fileno())
        if force:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)  # fails if path appeared meanwhile: never replaced silently
            except FileExistsError:
                raise
            except OSError:  # a filesystem without hard links
                if path.exists():
                    raise FileExistsError(path) from None
                os.replace(temporary, path)
            else:
                os.unlink(temporary)
    except FileExistsError:
        _remove(temporary)
        raise RoomsyncError(f"{path} already exists; use --force to replace it") from None
    except OSError as exc:
        _remove(temporary)
        raise RoomsyncError(f"cannot write {path}: {exc.strerror or exc}") from None


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


async def mint_to_file(
    hs: Homeserver, bot: BotSpec, path: Path, force: bool, remember: Callable[[str], object]
) -> None:
    """Check the bot's account, mint a token for it and write it to path. `remember` is told the
    token at once, so that the caller can redact it from anything that might be printed."""
    reader = await hs.whoami()
    if reader == bot.user:
        raise RoomsyncError(
            f"the access token belongs to {bot.user} itself; mint its token with the provisioning account's token"
        )
    try:
        account = await hs.admin.user(bot.user)
    except MatrixError as exc:
        if exc.status in (403, 404):
            raise RoomsyncError(
                f"minting a bot's token needs Synapse's admin API, and {reader}'s token cannot use "
                "it (it must be a server admin's)"
            ) from None
        raise
    if account is None:
        raise RoomsyncError(
            f"the account {bot.user} does not exist; create it first (create_account: true in "
            "bots.yaml, then roomsync sync)"
        )
    if account.get("deactivated"):
        raise RoomsyncError(f"the account {bot.user} is deactivated; roomsync never reactivates an account")
    if account.get("admin"):
        raise RoomsyncError(
            f"the account {bot.user} is a server admin: roomsync does not hand out a token with "
            "server-wide power; take the admin right away first"
        )
    token = await hs.admin.login_as(bot.user)
    remember(token)
    try:
        write_secret(path, token, force)
    except RoomsyncError:
        try:  # nobody will ever see this token: do not leave it valid
            async with Homeserver(hs.base_url, token, hs.policy, token_source="the minted token") as minted:
                await minted.logout()
        except HomeserverError:
            pass
        raise
