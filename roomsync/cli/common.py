"""What the commands share: exit codes, the config, the homeserver and its token, redaction, progress.

The network stack (matrix-nio, aiohttp) and the planner are imported by the commands that use
them: validate, run by pre-commit hooks on every commit, starts without them.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..config import homeserver_problem, load_config
from ..errors import RoomsyncError
from ..model import Config

if TYPE_CHECKING:
    from ..client import Homeserver

T = TypeVar("T")

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
            text = Path(token_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RoomsyncError(
                f"cannot read {ENV_TOKEN_FILE} ({token_file}): {getattr(exc, 'strerror', exc)}"
            ) from None
        if not text.strip():
            raise RoomsyncError(f"{ENV_TOKEN_FILE} names {token_file}, which is empty: write the access token into it")
        return _secret(text) or ""
    if not token or not token.strip():
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


def _run(
    config: Config,
    work: Callable[[Homeserver], Coroutine[Any, Any, T]],
    client: type[Homeserver] | None = None,
) -> T:
    import asyncio

    from ..client import Homeserver

    async def main() -> T:
        async with (client or Homeserver)(homeserver_url(config), access_token()) as hs:
            hs.on_wait = PROGRESS.line
            return await work(hs)

    return asyncio.run(main())


def _config(ctx: click.Context) -> Config:
    return load_config(ctx.obj)
