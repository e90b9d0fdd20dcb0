"""`roomsync local`'s pure parts and the ways it fails before any Synapse starts.

The running server is tested in tests/integration/test_local.py.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from roomsync.config import load_config
from roomsync.errors import RoomsyncError
from roomsync.localserver import bot_env_name, env_file_text, prepare, write_env_file

REPO = Path(__file__).resolve().parents[2]


def config_dir(tmp_path: Path, bots: list[dict], **settings: object) -> Path:
    (tmp_path / "rooms").mkdir(parents=True)
    (tmp_path / "roomsync.yaml").write_text(yaml.safe_dump({"server_name": "opendev.org", **settings}))
    (tmp_path / "rooms" / "rooms.yaml").write_text(yaml.safe_dump({"rooms": [{"alias": "zuul"}]}))
    (tmp_path / "bots.yaml").write_text(yaml.safe_dump({"bots": bots}))
    return tmp_path


def run(*args: str, cwd: Path, code: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROOMSYNC_")}
    argv = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "roomsync", *args]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    "name, token_env, expected",
    [
        ("gerritbot", None, "ROOMSYNC_BOT_GERRITBOT_TOKEN"),
        ("irc-logger.2", None, "ROOMSYNC_BOT_IRC_LOGGER_2_TOKEN"),
        ("statusbot", "STATUSBOT_TOKEN", "STATUSBOT_TOKEN"),
    ],
)
def test_bot_env_name(name, token_env, expected):
    assert bot_env_name(name, token_env) == expected


def test_prepare_gives_every_local_bot_a_token_env_and_skips_other_servers(tmp_path):
    config = load_config(
        config_dir(
            tmp_path,
            [
                {"name": "gerritbot", "user": "@gerrit:opendev.org", "rooms": ["zuul"]},
                {"name": "observer", "user": "@observer:opendev.org", "rooms": ["*"], "token_env": "OBSERVER_TOKEN"},
                {"name": "bridge", "user": "@bridge:matrix.org", "rooms": ["zuul"]},
            ],
            well_known={"server": "matrix.opendev.org:443"},
        )
    )
    local, account, bots, notes = prepare(config)
    assert account == "@roomsync:opendev.org" and local.account == account  # the default account
    assert [(b.name, b.user, b.env) for b in bots] == [
        ("gerritbot", "@gerrit:opendev.org", "ROOMSYNC_BOT_GERRITBOT_TOKEN"),
        ("observer", "@observer:opendev.org", "OBSERVER_TOKEN"),
    ]
    assert [(b.name, b.token_env) for b in local.bots] == [
        ("gerritbot", "ROOMSYNC_BOT_GERRITBOT_TOKEN"),
        ("observer", "OBSERVER_TOKEN"),
    ]
    assert notes == ["note: bot bridge (@bridge:matrix.org) is on another server: skipped"]
    assert local.well_known == {} and local.rooms == config.rooms


def test_prepare_keeps_the_configured_account(tmp_path):
    config = load_config(config_dir(tmp_path, [], account="@provisioner:opendev.org"))
    assert prepare(config)[1] == "@provisioner:opendev.org"


@pytest.mark.parametrize(
    "bots, settings, message",
    [
        (
            [
                {"name": "a-b", "user": "@ab:opendev.org", "rooms": ["zuul"]},
                {"name": "a_b", "user": "@a_b:opendev.org", "rooms": ["zuul"]},
            ],
            {},
            "bots a-b and a_b would both get their token as ROOMSYNC_BOT_A_B_TOKEN",
        ),
        (
            [{"name": "x", "user": "@x:opendev.org", "rooms": ["zuul"], "token_env": "ROOMSYNC_ACCESS_TOKEN"}],
            {},
            "bot x's token variable ROOMSYNC_ACCESS_TOKEN is one of roomsync's own",
        ),
        ([], {"account": "@roomsync:matrix.org"}, "is not on server_name opendev.org"),
    ],
)
def test_prepare_refuses_what_it_cannot_export(tmp_path, bots, settings, message):
    with pytest.raises(RoomsyncError, match=message):
        prepare(load_config(config_dir(tmp_path, bots, **settings)))


def test_env_file_is_sourceable_key_value_lines():
    text = env_file_text("http://127.0.0.1:8008", "syt_cm9vbXN5bmM_abc_1", {"GERRITBOT_TOKEN": "syt_Z2Vycml0_x_2"})
    assert text == (
        "ROOMSYNC_HOMESERVER=http://127.0.0.1:8008\nROOMSYNC_ACCESS_TOKEN=syt_cm9vbXN5bmM_abc_1\n"
        "GERRITBOT_TOKEN=syt_Z2Vycml0_x_2\n"
    )
    out = subprocess.run(["sh", "-c", f"set -a; {text.replace(chr(10), '; ')} env"], capture_output=True, text=True)
    assert "GERRITBOT_TOKEN=syt_Z2Vycml0_x_2" in out.stdout.splitlines()
    with pytest.raises(RoomsyncError) as raised:
        env_file_text("http://127.0.0.1:8008", "token; rm -rf /", {})
    assert "rm -rf" not in str(raised.value)  # the value (a token) is never part of the message


def test_env_file_is_written_atomically_with_mode_0600(tmp_path):
    path = tmp_path / "local.env"
    path.write_text("OLD=1\n")
    os.chmod(path, 0o644)
    write_env_file(path, "A=1\n")
    assert path.read_text() == "A=1\n" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["local.env"]  # no temp file left behind


def test_without_synapse_it_says_how_to_install_it(tmp_path):
    # Synapse made unimportable, as in an installation without the `local` extra.
    code = "import sys; sys.modules['synapse'] = None; from roomsync.cli import run; run(sys.argv[1:])"
    result = run("-C", str(REPO), "local", cwd=tmp_path, code=code)
    assert result.returncode == 1
    assert result.stderr == "roomsync: error: roomsync local needs Synapse: pip install 'roomsync[local]'\n"
    assert result.stdout == "" and list(tmp_path.iterdir()) == []


def test_a_port_in_use_is_one_line_and_exit_1(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("-C", str(REPO), "local", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == f"roomsync: error: cannot listen on 127.0.0.1:{port}: the port is in use\n"
    assert list(tmp_path.iterdir()) == []


def test_an_invalid_config_is_reported_before_anything_starts(tmp_path):
    bad = config_dir(tmp_path / "config", [{"name": "x", "user": "@x:opendev.org", "rooms": ["nope"]}])
    result = run("-C", str(bad), "local", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == "config/bots.yaml:4:5: unknown room 'nope': no room has that alias\n"
    assert list(tmp_path.iterdir()) == [bad]  # no env file, no data


def test_help_explains_the_command(tmp_path):
    result = run("local", "--help", cwd=tmp_path)
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for words in (
        "--port PORT",
        "--env-file FILE",
        "--data DIR",
        "ROOMSYNC_BOT_<NAME>_TOKEN",
        "SIGTERM",
        "pip install 'roomsync[local]'",
        "no federation",
    ):
        assert words in text, words
