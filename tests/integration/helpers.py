"""Running the real roomsync CLI against the test Synapse, and reading back what it did."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.synapse import SynapseServer, q

CLIENT = "/_matrix/client/v3"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


def write_config(directory: Path, server_name: str, rooms: list[dict], **settings: Any) -> Path:
    """A config dir: roomsync.yaml plus rooms/rooms.yaml holding `rooms`."""
    (directory / "rooms").mkdir(parents=True, exist_ok=True)
    (directory / "roomsync.yaml").write_text(
        yaml.safe_dump({"server_name": server_name, **settings}, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    (directory / "rooms" / "rooms.yaml").write_text(
        yaml.safe_dump({"rooms": rooms}, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    return directory


def roomsync(
    config_dir: Path, *args: str, url: str, token: str | None, timeout: float = 300, env: dict[str, str] | None = None
) -> Result:
    """Run `python -m roomsync -C config_dir ARGS` as a user would, with only the documented env
    (plus `env`, e.g. bots' tokens)."""
    extra = env or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROOMSYNC_")}
    env.update(extra)
    env["ROOMSYNC_HOMESERVER"] = url
    if token is not None:
        env["ROOMSYNC_ACCESS_TOKEN"] = token
    proc = subprocess.run(
        [sys.executable, "-m", "roomsync", "-C", str(config_dir), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def resolve(synapse: SynapseServer, alias: str) -> str | None:
    status, answer = synapse.request("GET", f"{CLIENT}/directory/room/{q(alias)}")
    return answer["room_id"] if status == 200 else None


def state(synapse: SynapseServer, token: str, room_id: str) -> dict[tuple[str, str], dict]:
    status, events = synapse.request("GET", f"{CLIENT}/rooms/{q(room_id)}/state", token)
    assert status == 200, events
    return {(e["type"], e["state_key"]): e["content"] for e in events}


def published(synapse: SynapseServer, room_id: str) -> bool:
    status, answer = synapse.request("GET", f"{CLIENT}/directory/list/room/{q(room_id)}")
    assert status == 200, answer
    return answer["visibility"] == "public"


def joined_rooms(synapse: SynapseServer, token: str) -> set[str]:
    status, answer = synapse.request("GET", f"{CLIENT}/joined_rooms", token)
    assert status == 200, answer
    return set(answer["joined_rooms"])


def put_state(synapse: SynapseServer, token: str, room_id: str, event_type: str, content: dict) -> None:
    status, answer = synapse.request("PUT", f"{CLIENT}/rooms/{q(room_id)}/state/{q(event_type)}/", token, body=content)
    assert status == 200, answer


def alive(pid: int) -> bool:
    """Is the process running (a zombie, exited but not reaped, is not)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())
