"""Shared fixtures: one real Synapse for the whole test session."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Iterator

import pytest

from tests.synapse import SynapseServer

SERVER_NAME = "opendev.org"
PROVISIONER_LOCALPART = "roomsync"


@dataclasses.dataclass(frozen=True)
class Account:
    user_id: str
    token: str


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynapseServer]:
    """A running Synapse without rate limits, shared by the session.

    A Synapse that does not start is an error (RuntimeError), never a skip.
    """
    server = SynapseServer(tmp_path_factory.mktemp("synapse"), server_name=SERVER_NAME)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def provisioner(synapse: SynapseServer) -> Account:
    """The server-admin account roomsync provisions with: @roomsync:opendev.org."""
    token = synapse.register(PROVISIONER_LOCALPART, admin=True)
    return Account(synapse.user_id(PROVISIONER_LOCALPART), token)


@pytest.fixture
def make_user(synapse: SynapseServer) -> Callable[..., Account]:
    """Factory: make_user(prefix="user") registers a fresh, unique non-admin user."""

    def _make_user(prefix: str = "user") -> Account:
        localpart = f"{prefix}-{secrets.token_hex(4)}"
        return Account(synapse.user_id(localpart), synapse.register(localpart))

    return _make_user


@pytest.fixture
def prefix() -> str:
    """A short unique lowercase namespace for aliases made by one test."""
    return "t" + secrets.token_hex(3)


@dataclasses.dataclass(frozen=True)
class Federation:
    """The community's homeserver (rooms and bots) and the people's homeserver, federating."""

    home: SynapseServer
    people: SynapseServer
    admin: Account  # the provisioning account on home, a server admin

    def person(self, prefix: str = "person") -> Account:
        """A fresh user of the people's server."""
        localpart = f"{prefix}-{secrets.token_hex(4)}"
        return Account(self.people.user_id(localpart), self.people.register(localpart))


@pytest.fixture(scope="session")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    """Two Synapses federating over loopback, started once; never a skip if they cannot start."""
    from tests.federation import FederatingSynapse

    home = FederatingSynapse(tmp_path_factory.mktemp("home"))
    people = FederatingSynapse(tmp_path_factory.mktemp("people"))
    home.start()
    try:
        people.start()
        try:
            admin = Account(home.user_id(PROVISIONER_LOCALPART), home.register(PROVISIONER_LOCALPART, admin=True))
            yield Federation(home, people, admin)
        finally:
            people.stop()
    finally:
        home.stop()
