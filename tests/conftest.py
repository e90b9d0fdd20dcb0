"""Shared fixtures: one real Synapse for the whole test session (for each worker, under xdist)."""

from __future__ import annotations

import dataclasses
import pathlib
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.synapse import SynapseServer

SERVER_NAME = "opendev.org"
PROVISIONER_LOCALPART = "roomsync"

# Hypothesis judges examples by how long they take, which depends on the machine and its load:
# no deadline, and no health check on the speed of generating them (tests that name their own
# health checks to suppress list too_slow themselves).
settings.register_profile("roomsync", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("roomsync")

# Under pytest-xdist (./scripts/test runs the suite on several workers, --dist loadgroup), each
# test goes to whichever worker is free, and each worker starts its own session Synapse. The
# tests of these modules share something costly of the module's own (a Synapse, a `roomsync
# local`, a browser, a community built by hand, the two federating Synapses, a wheel built and
# installed) or run in order: they stay on one worker.
ONE_WORKER_MODULES = {
    "test_adopt_import.py",
    "test_mirrors.py",
    "test_docs_browser.py",
    "test_local.py",
    "test_people.py",
    "test_rate_limits.py",
    "test_release.py",
}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """--dist loadgroup, with the modules above as groups of their own. Not xdist_group marks added
    at collection: xdist reads those from node ids, which pytest 9.2 no longer lets it change."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ModuleGroups(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module.rsplit("/", 1)[-1] in ONE_WORKER_MODULES else super()._split_scope(nodeid)

    return ModuleGroups(config, log)


@dataclasses.dataclass(frozen=True)
class Account:
    user_id: str
    token: str


@pytest.fixture(scope="session")
def fact_cache(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Ansible's fact cache for the Zuul job tests' playbooks (one a worker: the node is this machine)."""
    return tmp_path_factory.mktemp("ansible-facts")


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
    from tests.federation import federating_pair

    with federating_pair(tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("people")) as (home, people):
        admin = Account(home.user_id(PROVISIONER_LOCALPART), home.register(PROVISIONER_LOCALPART, admin=True))
        yield Federation(home, people, admin)
