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
async def mirror_clients(config: Config, public: bool = False) -> AsyncIterator[Clients]:
    """A client per mirror whose token variable is set; for the others, why not, or with `public`
    (plan) a read-only client without a token: a plan in a check pipeline needs no mirror's token."""
    from ..client import Homeserver, ReadOnlyHomeserver

    clients: Clients = {}
    async with AsyncExitStack() as stack:
        for mirror in config.mirrors:
            url = mirror.homeserver.rstrip("/")
            token = _secret(os.environ.get(mirror.token_env))
            if token and token.strip():
                client = Homeserver(url, token.strip(), token_source=mirror.token_env)
            elif public:
                client = ReadOnlyHomeserver(url, None, token_source=mirror.token_env)
            else:
                clients[mirror.server_name] = (
                    f"{mirror.token_env} is not set: sync changes {mirror.server_name} "
                    f"with its account's token ({mirror.account})"
                )
                continue
            clients[mirror.server_name] = await stack.enter_async_context(client)
        yield clients


def usable(clients: Clients) -> dict[str, Homeserver]:
    """The clients that can change their mirror: a token's."""
    return {name: client for name, client in clients.items() if not isinstance(client, str) and not client.public}


async def read_everything(hs: Homeserver, config: Config, clients: Clients, say: Progress) -> Snapshot:
    """The home server's snapshot with the mirrors' views. With mirrors declared, a home server that
    does not answer is the snapshot's home_error, not the end of the run: the mirrors still count."""
    from ..live import Snapshot
    from ..observe import read_snapshot
    from ..observe_mirrors import read_mirrors, read_public_mirrors

    async def home() -> Snapshot:
        try:
            return await read_snapshot(hs, config, progress=say)
        except HomeserverError as exc:
            answered = isinstance(exc, MatrixError) and exc.status < 500
            if not config.mirrors or answered:
                raise
            account = config.account or ""
            return Snapshot(account=account, reader=account, home_error=str(exc))

    own = {name: client for name, client in clients.items() if isinstance(client, str) or not client.public}
    snapshot, views = await asyncio.gather(home(), read_mirrors(own, config))
    public = {name: client for name, client in clients.items() if not isinstance(client, str) and client.public}
    views |= await read_public_mirrors(public, config, snapshot)  # after: they need the rooms' ids
    return dataclasses.replace(snapshot, mirrors=views)
