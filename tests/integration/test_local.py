"""`roomsync local`, run as a user (or a bot's CI job) would: a subprocess, its env file, SIGTERM.

The test acts as a bot would, with plain HTTP (urllib, never roomsync's client) and only what
the env file gives it. One `roomsync local` serves the module's first tests; the last of
them stops it. --data and a failing sync have their own runs.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.helpers import alive, roomsync, write_config
from tests.synapse import q

SERVER = "opendev.org"
ACCOUNT = "@roomsync:opendev.org"  # roomsync.yaml names no account: the default
NEWSBOT, LOGGER, ALICE = "@newsbot:opendev.org", "@logger:opendev.org", "@alice:opendev.org"
CLIENT = "/_matrix/client/v3"
READY_TIMEOUT = 180  # Synapse's start and the sync take a few seconds
STOP_TIMEOUT = 20  # the bound for SIGTERM
ENV_FILE = ".roomsync-local.env"  # the default, in the working directory

ROOMS = [
    {"alias": "lobby", "name": "Lobby", "topic": "Say hello", "join_rule": "public", "directory": "public"},
    {
        "alias": "ops",
        "name": "Ops",
        "join_rule": "invite",
        "directory": "private",
        "power_levels": {"users": {ALICE: 100}},
    },
    {"alias": "announce", "name": "Announcements", "power_levels": {"events_default": 50}},
]
BOTS = [
    # No token_env: roomsync local still joins it, and exports ROOMSYNC_BOT_NEWS_BOT_TOKEN.
    {"name": "news-bot", "user": NEWSBOT, "rooms": ["lobby", "announce"], "power_level": 50, "display_name": "News"},
    {"name": "logger", "user": LOGGER, "rooms": ["*"], "token_env": "LOGGER_TOKEN"},
]


def make_config(directory: Path, rooms: list[dict] = ROOMS) -> Path:
    write_config(directory, SERVER, rooms)
    (directory / "bots.yaml").write_text(yaml.safe_dump({"bots": BOTS}, sort_keys=False))
    return directory


@dataclass
class Local:
    proc: subprocess.Popen
    cwd: Path
    env_file: Path

    @property
    def out(self) -> str:
        return (self.cwd / "local.out").read_text()

    @property
    def err(self) -> str:
        return (self.cwd / "local.err").read_text()

    def env(self) -> dict[str, str]:
        return dict(line.split("=", 1) for line in self.env_file.read_text().splitlines())

    @property
    def port(self) -> int:
        return int(re.search(r"Synapse is up at http://127\.0\.0\.1:(\d+)", self.out).group(1))

    @property
    def data_dir(self) -> Path:
        return Path(re.search(r"data in (\S+),", self.out).group(1))

    def wait_ready(self) -> dict[str, str]:
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.env_file.exists():
            assert self.proc.poll() is None, f"roomsync local exited {self.proc.returncode}\n{self.out}\n{self.err}"
            assert time.monotonic() < deadline, f"not ready within {READY_TIMEOUT} s\n{self.out}\n{self.err}"
            time.sleep(0.1)
        return self.env()

    def stop(self) -> int:
        """SIGTERM, and the exit code within STOP_TIMEOUT seconds (a TimeoutExpired fails the test)."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=STOP_TIMEOUT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # Synapse dies with it (PR_SET_PDEATHSIG)
            self.proc.wait(timeout=30)


def start_local(config: Path, cwd: Path, *args: str) -> Local:
    cwd.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROOMSYNC_")}
    with open(cwd / "local.out", "wb") as out, open(cwd / "local.err", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "roomsync", "-C", str(config), "local", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
    env_file = cwd / (args[args.index("--env-file") + 1] if "--env-file" in args else ENV_FILE)
    return Local(proc, cwd, env_file)


def http(
    env: dict[str, str], method: str, path: str, token: str | None = None, body: Any = None, query: dict | None = None
) -> tuple[int, Any]:
    """What a bot does: plain HTTP to ROOMSYNC_HOMESERVER."""
    url = env["ROOMSYNC_HOMESERVER"] + path + ("?" + urllib.parse.urlencode(query) if query else "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def ok(env: dict[str, str], method: str, path: str, token: str | None = None, **kw: Any) -> Any:
    status, answer = http(env, method, path, token, **kw)
    assert status == 200, (method, path, status, answer)
    return answer


def room_id(env: dict[str, str], alias: str) -> str:
    return ok(env, "GET", f"{CLIENT}/directory/room/{q(f'#{alias}:{SERVER}')}")["room_id"]


def joined(env: dict[str, str], token: str) -> set[str]:
    return set(ok(env, "GET", f"{CLIENT}/joined_rooms", token)["joined_rooms"])


def port_is_closed(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except OSError:
        return True
    return False


def process_gone(pid: int) -> bool:
    return not alive(pid)


# --- one roomsync local for the module -------------------------------------------------------


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    root = tmp_path_factory.mktemp("local")
    running = start_local(make_config(root / "config"), root / "work", "--user", "alice", "--user", "bob.smith")
    try:
        running.wait_ready()
        yield running
    finally:
        if running.proc.poll() is None:
            try:
                running.stop()
            finally:
                running.kill()


def test_the_env_file_holds_the_homeserver_and_every_token(local):
    env = local.env()
    assert list(env) == [
        "ROOMSYNC_HOMESERVER",
        "ROOMSYNC_ACCESS_TOKEN",
        "ROOMSYNC_BOT_NEWS_BOT_TOKEN",
        "LOGGER_TOKEN",
        "ROOMSYNC_USER_ALICE_TOKEN",
        "ROOMSYNC_USER_BOB_SMITH_TOKEN",
    ]
    assert env["ROOMSYNC_HOMESERVER"] == f"http://127.0.0.1:{local.port}"
    assert stat.S_IMODE(local.env_file.stat().st_mode) == 0o600
    assert sorted(p.name for p in local.cwd.iterdir()) == sorted([ENV_FILE, "local.out", "local.err"])  # no temp file
    for name, user in (
        ("ROOMSYNC_ACCESS_TOKEN", ACCOUNT),
        ("ROOMSYNC_BOT_NEWS_BOT_TOKEN", NEWSBOT),
        ("LOGGER_TOKEN", LOGGER),
        ("ROOMSYNC_USER_ALICE_TOKEN", f"@alice:{SERVER}"),
        ("ROOMSYNC_USER_BOB_SMITH_TOKEN", f"@bob.smith:{SERVER}"),
    ):
        assert ok(env, "GET", f"{CLIENT}/account/whoami", env[name])["user_id"] == user
    # A plain user, in no room: a bot's test acts as a person with it.
    alice = env["ROOMSYNC_USER_ALICE_TOKEN"]
    assert joined(env, alice) == set()
    assert http(env, "GET", f"/_synapse/admin/v2/users/{q(ACCOUNT)}", alice)[0] == 403
    account = ok(env, "GET", f"/_synapse/admin/v2/users/{q(ACCOUNT)}", env["ROOMSYNC_ACCESS_TOKEN"])
    assert account["admin"] is True


def test_a_bot_finds_its_room_by_alias_posts_and_reads_it_back(local):
    env = local.env()
    token = env["ROOMSYNC_BOT_NEWS_BOT_TOKEN"]  # the bot without token_env: joined all the same
    lobby, announce, ops = room_id(env, "lobby"), room_id(env, "announce"), room_id(env, "ops")
    assert {lobby, announce} <= joined(env, token) and ops not in joined(env, token)

    sent = ok(
        env,
        "PUT",
        f"{CLIENT}/rooms/{q(announce)}/send/m.room.message/news-1",
        token,
        body={"msgtype": "m.text", "body": "Release 1.0 is out"},
    )
    messages = ok(env, "GET", f"{CLIENT}/rooms/{q(announce)}/messages", token, query={"dir": "b", "limit": 20})
    mine = [e for e in messages["chunk"] if e["event_id"] == sent["event_id"]]
    assert [(e["sender"], e["content"]["body"]) for e in mine] == [(NEWSBOT, "Release 1.0 is out")]
    assert ok(env, "GET", f"{CLIENT}/profile/{q(NEWSBOT)}/displayname", token)["displayname"] == "News"

    # logger (rooms: ["*"], power 0) may not post in #announce (events_default 50), only read.
    status, answer = http(
        env,
        "PUT",
        f"{CLIENT}/rooms/{q(announce)}/send/m.room.message/log-1",
        env["LOGGER_TOKEN"],
        body={"msgtype": "m.text", "body": "hi"},
    )
    assert status == 403, answer


def test_power_levels_and_memberships_are_as_declared(local):
    env = local.env()
    admin = env["ROOMSYNC_ACCESS_TOKEN"]

    def power(alias: str) -> dict:
        return ok(env, "GET", f"{CLIENT}/rooms/{q(room_id(env, alias))}/state/m.room.power_levels/", admin)

    assert power("announce")["events_default"] == 50
    assert power("announce")["users"].get(NEWSBOT) == 50 and power("lobby")["users"].get(NEWSBOT) == 50
    assert power("ops")["users"].get(ALICE) == 100 and NEWSBOT not in power("ops")["users"]
    assert all(power(alias)["users"].get(LOGGER, 0) == 0 for alias in ("lobby", "ops", "announce"))
    ops = room_id(env, "ops")
    assert ok(env, "GET", f"{CLIENT}/rooms/{q(ops)}/state/m.room.join_rules/", admin)["join_rule"] == "invite"
    assert {room_id(env, r["alias"]) for r in ROOMS} <= joined(env, env["LOGGER_TOKEN"])


def test_a_plan_against_it_has_no_changes(local):
    env = local.env()
    config = local.cwd.parent / "config"
    plan = roomsync(
        config,
        "plan",
        "--detailed-exitcode",
        "--format",
        "json",
        url=env["ROOMSYNC_HOMESERVER"],
        token=env["ROOMSYNC_ACCESS_TOKEN"],
    )
    assert plan.code == 0, plan.out + plan.err
    summary = plan.json["summary"]
    assert summary["has_changes"] is False and summary["errors"] == 0 and summary["unchanged"] == len(ROOMS)
    # No invite is pending: every bot has joined, with or without token_env.
    assert not any(r.get("notes") for r in plan.json["rooms"]) and not any(b.get("notes") for b in plan.json["bots"])


def test_sigterm_stops_it_frees_the_port_and_removes_everything(local):
    env, port, data_dir = local.env(), local.port, local.data_dir
    synapse_pid = int(re.search(r"Synapse is up at \S+ \(pid (\d+)\)", local.out).group(1))
    assert not port_is_closed(port) and not process_gone(synapse_pid)

    assert local.stop() == 0  # within 20 s, or TimeoutExpired fails the test
    assert port_is_closed(port)
    assert process_gone(synapse_pid)
    assert not data_dir.exists() and not local.env_file.exists()
    assert local.out.rstrip().endswith("Stopped: Synapse is down, its data removed."), local.out
    tokens = [v for k, v in env.items() if k != "ROOMSYNC_HOMESERVER"]
    assert not any(t in local.out or t in local.err for t in tokens), "a token was printed"


# --- its own runs ---------------------------------------------------------------------------------


def test_data_dir_is_kept_and_a_later_run_starts_from_it(tmp_path):
    config, data = make_config(tmp_path / "config"), tmp_path / "data"
    first = start_local(config, tmp_path / "first", "--data", str(data), "--env-file", "first.env")
    try:
        env = first.wait_ready()
        lobby = room_id(env, "lobby")
        sent = ok(
            env,
            "PUT",
            f"{CLIENT}/rooms/{q(lobby)}/send/m.room.message/1",
            env["LOGGER_TOKEN"],
            body={"msgtype": "m.text", "body": "from the first run"},
        )
        signing_key = (data / "signing.key").read_text()
        assert first.stop() == 0
    finally:
        first.kill()
    assert first.data_dir == data.resolve() and (data / "homeserver.db").is_file()
    assert not first.env_file.exists()
    assert f"data kept in {data.resolve()}" in first.out

    second = start_local(config, tmp_path / "second", "--data", str(data), "--env-file", "second.env")
    try:
        again = second.wait_ready()
        assert room_id(again, "lobby") == lobby  # the same rooms ...
        assert "No changes." in second.out and "created" not in second.out, second.out  # ... nothing to create
        assert again["LOGGER_TOKEN"] != env["LOGGER_TOKEN"]  # the same accounts, fresh tokens
        event = ok(again, "GET", f"{CLIENT}/rooms/{q(lobby)}/event/{q(sent['event_id'])}", again["LOGGER_TOKEN"])
        assert event["content"]["body"] == "from the first run" and event["sender"] == LOGGER
        assert (data / "signing.key").read_text() == signing_key
        assert second.stop() == 0
    finally:
        second.kill()
    assert port_is_closed(second.port)


def test_a_failed_sync_stops_synapse_and_exits_1_with_one_line(tmp_path):
    # Valid YAML, but a plan error: the config would lower the provisioning account's own power.
    # (a room version 10 room, where the creator's power is not unlimited but what the config says).
    lobby = {"alias": "lobby", "room_version": "10", "power_levels": {"users": {ACCOUNT: 50}}}
    rooms = [lobby if room["alias"] == "lobby" else room for room in ROOMS]
    failing = start_local(make_config(tmp_path / "config", rooms), tmp_path / "work")
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while (code := failing.proc.poll()) is None:
            assert not failing.env_file.exists(), "roomsync local got ready with a config it cannot sync"
            assert time.monotonic() < deadline, f"still running after {READY_TIMEOUT} s\n{failing.out}"
            time.sleep(0.1)
    finally:
        failing.kill()
    assert code == 1, failing.out + failing.err
    assert failing.err.startswith("roomsync: error: ") and len(failing.err.splitlines()) == 1, failing.err
    assert "#lobby:opendev.org" in failing.err
    assert not failing.env_file.exists()
    assert port_is_closed(failing.port) and not failing.data_dir.exists()
