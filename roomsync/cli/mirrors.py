"""The mirror homeservers' part of plan and sync: a client per mirror, with its own token, and
the live state read from the home server and every mirror at once, each failing on its own."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from ..errors import HomeserverError, MatrixError
from ..model import Config
from .common import _secret

if TYPE_CHECKING:
    from ..client import Homeserver
    from ..live import Snapshot
    from ..observe import Progress

Clients = dict[str, "Homeserver | str"]  # server name -> its client, or why there is none


@asynccontextmanager
async def mirror_clients(config: Config) -> AsyncIterator[Clients]:
    """A client per mirror whose token variable is set; for the others, why not."""
    from ..client import Homeserver

    clients: Clients = {}
    async with AsyncExitStack() as stack:
        for mirror in config.mirrors:
            token = _secret(os.environ.get(mirror.token_env))
            if not token or not token.strip():
                clients[mirror.server_name] = (
                    f"{mirror.token_env} is not set: plan and sync read and change {mirror.server_name} "
                    f"with its account's token ({mirror.account})"
                )
                continue
            client = Homeserver(mirror.homeserver.rstrip("/"), token.strip(), token_source=mirror.token_env)
            clients[mirror.server_name] = await stack.enter_async_context(client)
        yield clients


def usable(clients: Clients) -> dict[str, Homeserver]:
    return {name: client for name, client in clients.items() if not isinstance(client, str)}


async def read_everything(hs: Homeserver, config: Config, clients: Clients, say: Progress) -> Snapshot:
    """The home server's snapshot with the mirrors' views. With mirrors declared, a home server that
    does not answer is the snapshot's home_error, not the end of the run: the mirrors still count."""
    from ..live import Snapshot
    from ..observe import read_snapshot
    from ..observe_mirrors import read_mirrors

    async def home() -> Snapshot:
        try:
            return await read_snapshot(hs, config, progress=say)
        except HomeserverError as exc:
            answered = isinstance(exc, MatrixError) and exc.status < 500
            if not config.mirrors or answered:
                raise
            account = config.account or ""
            return Snapshot(account=account, reader=account, home_error=str(exc))

    snapshot, views = await asyncio.gather(home(), read_mirrors(clients, config))
    return dataclasses.replace(snapshot, mirrors=views)
