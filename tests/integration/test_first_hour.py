"""A newcomer's first hour: wrong URLs, missing bot tokens, the account in `users`, a reader
that cannot see a space, confirmation on a terminal, --room, apply, dry runs. Real Synapse."""

from __future__ import annotations

import http.server
import os
import pty
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import yaml

from tests.integration.helpers import joined_rooms, resolve, roomsync, state, write_config
from tests.synapse import q

SERVER = "opendev.org"
CLIENT = "/_matrix/client/v3"
BOUND = 40  # seconds: any of these runs taking longer is the hang this file guards against


def one_room(prefix: str, **fields) -> list[dict]:
    return [{"alias": f"{prefix}-room", "topic": "declared", **fields}]


# --- a wrong homeserver URL is said in seconds, in words that point at the mistake ------------


@contextmanager
def silent_listener():
    """A port that accepts connections and never answers (a firewall, a hung proxy)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        listener.close()


@contextmanager
def html_server():
    """A web server that answers everything with an HTML page, as a wrong vhost or proxy would."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html><body><h1>Not Found</h1><script>secret()</script></body></html>"
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def bounded(config: Path, *args: str, url: str, token: str):
    """A run that must end by itself well within BOUND (the subprocess is killed and the test
    fails otherwise): the hang these tests guard against took five minutes."""
    return roomsync(config, *args, url=url, token=token, timeout=BOUND)


def test_https_against_a_plain_http_homeserver_says_is_it_http(synapse, provisioner, prefix, tmp_path):
    config = write_config(tmp_path, SERVER, one_room(prefix))
    wrong = synapse.url.replace("http://", "https://")
    result = bounded(config, "-v", "plan", url=wrong, token=provisioner.token)
    assert result.code == 1, result.out + result.err
    assert f"is it http://127.0.0.1:{synapse.port}?" in result.err, result.err
    assert "Traceback" not in result.err and provisioner.token not in result.err


def test_a_host_that_accepts_and_never_answers_fails_in_seconds(provisioner, prefix, tmp_path):
    config = write_config(tmp_path, SERVER, one_room(prefix))
    with silent_listener() as host:
        for scheme in ("http", "https"):
            result = bounded(config, "plan", url=f"{scheme}://{host}", token=provisioner.token)
            assert result.code == 1, result.out + result.err
            error = result.err.strip().splitlines()[-1]
            assert error.startswith(f"roomsync: error: cannot reach {scheme}://{host}"), result.err
            assert ("sent no answer" if scheme == "http" else "no connection or TLS handshake") in error


def test_a_url_with_a_matrix_path_is_refused_before_any_request(synapse, provisioner, prefix, tmp_path):
    config = write_config(tmp_path, SERVER, one_room(prefix))
    result = roomsync(config, "plan", url=f"{synapse.url}/_matrix/client", token=provisioner.token)
    assert result.code == 1
    assert (
        result.err.strip() == f"roomsync: error: homeserver must be the base URL without /_matrix/...: '{synapse.url}'"
    )


def test_a_url_with_another_path_says_base_url(synapse, provisioner, prefix, tmp_path):
    config = write_config(tmp_path, SERVER, one_room(prefix))
    result = roomsync(config, "plan", url=f"{synapse.url}/foo", token=provisioner.token)
    assert result.code == 1
    assert "does not look like a Matrix homeserver" in result.err, result.err
    assert "base URL" in result.err and "without a path (/foo)" in result.err and "<" not in result.err


def test_an_html_answer_is_never_printed(provisioner, prefix, tmp_path):
    config = write_config(tmp_path, SERVER, one_room(prefix))
    with html_server() as url:
        result = roomsync(config, "plan", url=url, token=provisioner.token, timeout=BOUND)
    assert result.code == 1
    assert "<" not in result.err and "secret" not in result.err, result.err
    assert "does not look like a Matrix homeserver" in result.err and "text/html" in result.err


# --- a bot's token variable that is not set ---------------------------------------------------


def test_a_missing_bot_token_is_a_note_in_plan_and_stops_sync_before_anything(
    synapse, provisioner, make_user, prefix, tmp_path
):
    bot = make_user("gerrit")
    config = write_config(tmp_path, SERVER, one_room(prefix))
    (config / "bots.yaml").write_text(
        yaml.safe_dump(
            {
                "bots": [
                    {"name": "gerritbot", "user": bot.user_id, "rooms": [f"{prefix}-room"], "token_env": "GERRIT_T8"}
                ]
            }
        )
    )
    planned = roomsync(config, "plan", url=synapse.url, token=provisioner.token)
    assert planned.code == 0, planned.out + planned.err
    assert f"GERRIT_T8 is not set here; sync needs it to join {bot.user_id}" in planned.out
    # One line for the bot in the room: invite and join are one change.
    assert [line for line in planned.out.splitlines() if " member: " in line] == [
        f'    #{prefix}-room:{SERVER} member: (none) -> "join"'
    ]

    synced = roomsync(config, "sync", url=synapse.url, token=provisioner.token)
    assert synced.code == 1
    assert "GERRIT_T8 is not set" in synced.err and "nothing was changed" in synced.err
    assert resolve(synapse, f"#{prefix}-room:{SERVER}") is None, "nothing may be sent"

    env_before = os.environ.get("GERRIT_T8")
    os.environ["GERRIT_T8"] = bot.token
    try:
        synced = roomsync(config, "sync", url=synapse.url, token=provisioner.token)
    finally:
        os.environ.pop("GERRIT_T8") if env_before is None else os.environ.update(GERRIT_T8=env_before)
    assert synced.code == 0, synced.out + synced.err
    assert resolve(synapse, f"#{prefix}-room:{SERVER}") in joined_rooms(synapse, bot.token)


# --- the provisioning account in `users` ------------------------------------------------------


def test_listing_the_account_in_a_version_12_room_is_an_error(synapse, provisioner, make_user, prefix, tmp_path):
    alice = make_user("alice").user_id
    config = write_config(
        tmp_path, SERVER, one_room(prefix, power_levels={"users": {alice: 50}}), account=provisioner.user_id
    )
    assert roomsync(config, "sync", url=synapse.url, token=provisioner.token).code == 0
    for level in (50, 100):
        write_config(
            tmp_path,
            SERVER,
            one_room(prefix, power_levels={"users": {alice: 50, provisioner.user_id: level}}),
            account=provisioner.user_id,
        )
        planned = roomsync(config, "plan", url=synapse.url, token=provisioner.token)
        assert planned.code == 1, planned.out
        assert (
            f"the provisioning account {provisioner.user_id} is this room's creator in a version-12 room" in planned.out
        )
    # Whether the account is a creator depends on the live room: plan decides, validate cannot.
    assert roomsync(config, "validate", url=synapse.url, token=None).code == 0


# --- what the reading account cannot see ------------------------------------------------------


def test_a_reader_outside_the_space_sees_no_false_link_change(synapse, provisioner, make_user, prefix, tmp_path):
    reader = make_user("reader")
    rooms = [
        {"alias": f"{prefix}-space", "type": "space", "join_rule": "invite"},
        {"alias": f"{prefix}-room", "join_rule": "public", "spaces": [f"{prefix}-space"]},
    ]
    config = write_config(tmp_path, SERVER, rooms, account=provisioner.user_id)
    assert roomsync(config, "sync", url=synapse.url, token=provisioner.token).code == 0
    room_id = resolve(synapse, f"#{prefix}-room:{SERVER}")
    assert synapse.request("POST", f"{CLIENT}/join/{q(room_id)}", reader.token, body={})[0] == 200

    planned = roomsync(config, "plan", "--format", "json", url=synapse.url, token=reader.token)
    doc = planned.json
    by_alias = {r["alias"]: r for r in doc["rooms"]}
    assert by_alias[f"#{prefix}-space:{SERVER}"]["action"] == "error"  # cannot read: an error, said so
    assert by_alias[f"#{prefix}-room:{SERVER}"]["action"] == "ok"
    assert not [c for c in doc["changes"] if c["room_alias"] == f"#{prefix}-room:{SERVER}"], doc["changes"]


# --- sync on a terminal asks; --yes, off a terminal and --dry-run do not ------------------------


def run_on_terminal(config: Path, args: list[str], answer: bytes, url: str, token: str) -> tuple[int, str]:
    """Run roomsync with a pseudo-terminal as stdin/stdout/stderr and type `answer` at its question."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROOMSYNC_")}
    env.update(ROOMSYNC_HOMESERVER=url, ROOMSYNC_ACCESS_TOKEN=token, TERM="dumb")
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "roomsync", "-C", str(config), *args],
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
        close_fds=True,
    )
    os.close(child)
    seen, asked = b"", False
    deadline = time.monotonic() + BOUND
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(main, 4096)
            except OSError:
                break  # the child closed the terminal
            if not chunk:
                break
            seen += chunk
            if not asked and b"[y/N]" in seen:
                os.write(main, answer + b"\n")
                asked = True
        code = proc.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)
    return code, seen.decode(errors="replace")


def test_sync_on_a_terminal_asks_first(synapse, provisioner, prefix, tmp_path):
    config = write_config(tmp_path, SERVER, one_room(prefix))
    alias = f"#{prefix}-room:{SERVER}"
    code, seen = run_on_terminal(config, ["sync"], b"n", synapse.url, provisioner.token)
    assert "Apply these changes to" in seen and code == 1, seen
    assert "nothing was changed" in seen
    assert resolve(synapse, alias) is None

    code, seen = run_on_terminal(config, ["apply"], b"y", synapse.url, provisioner.token)
    assert code == 0, seen
    assert "Sync: 1 created" in seen and resolve(synapse, alias)

    write_config(tmp_path, SERVER, one_room(prefix, topic="changed"))
    code, seen = run_on_terminal(config, ["sync", "--yes"], b"n", synapse.url, provisioner.token)
    assert code == 0 and "[y/N]" not in seen, seen
    assert state(synapse, provisioner.token, resolve(synapse, alias))[("m.room.topic", "")]["topic"] == "changed"


def test_dry_run_takes_any_token_and_changes_nothing(synapse, provisioner, make_user, prefix, tmp_path):
    observer = make_user("observer")
    config = write_config(tmp_path, SERVER, one_room(prefix), account=provisioner.user_id)
    result = roomsync(config, "sync", "--dry-run", url=synapse.url, token=observer.token)
    assert result.code == 0, result.out + result.err
    assert "Dry run: nothing was changed." in result.out and provisioner.user_id in result.out
    assert resolve(synapse, f"#{prefix}-room:{SERVER}") is None
    # A real sync with that token is still refused.
    assert roomsync(config, "sync", url=synapse.url, token=observer.token).code == 1


# --- --room limits a run; apply is sync --------------------------------------------------------


def test_room_selection_limits_plan_and_sync(synapse, provisioner, prefix, tmp_path):
    p = prefix
    rooms = [
        {"alias": f"{p}-space", "type": "space", "topic": "all"},
        {"alias": f"{p}-a", "spaces": [f"{p}-space"]},
        {"alias": f"{p}-b", "spaces": [f"{p}-space"]},
    ]
    config = write_config(tmp_path, SERVER, rooms)
    run = lambda *a: roomsync(config, *a, url=synapse.url, token=provisioner.token)  # noqa: E731

    unknown = run("plan", "--room", "nope")
    assert unknown.code == 1 and "nope is not a declared room" in unknown.err

    synced = run("apply", "--room", f"#{p}-a:{SERVER}", "--room", f"{p}-space")
    assert synced.code == 0, synced.out + synced.err
    assert "Sync: 2 created" in synced.out
    space, a = resolve(synapse, f"#{p}-space:{SERVER}"), resolve(synapse, f"#{p}-a:{SERVER}")
    assert space and a and resolve(synapse, f"#{p}-b:{SERVER}") is None
    assert ("m.space.child", a) in state(synapse, provisioner.token, space)

    only_b = run("plan", "--room", f"{p}-b", "--format", "json")
    doc = only_b.json
    assert {r["alias"]: r["action"] for r in doc["rooms"]} == {
        f"#{p}-space:{SERVER}": "change",
        f"#{p}-b:{SERVER}": "create",
    }
    assert [c["after"] for c in doc["changes"] if c["room_alias"] == f"#{p}-space:{SERVER}"] == [f"#{p}-b:{SERVER}"]
    assert run("sync", "--room", f"{p}-b").code == 0
    assert run("plan", "--detailed-exitcode").code == 0


# --- counts: a bot-only change is a bot change, not a room change ------------------------------


def test_a_bot_only_change_is_counted_as_a_bot_change(synapse, provisioner, make_user, prefix, tmp_path):
    bot = make_user("status")
    config = write_config(tmp_path, SERVER, one_room(prefix))
    assert roomsync(config, "sync", url=synapse.url, token=provisioner.token).code == 0
    (config / "bots.yaml").write_text(
        yaml.safe_dump({"bots": [{"name": "statusbot", "user": bot.user_id, "rooms": ["*"], "power_level": 50}]})
    )
    planned = roomsync(config, "plan", url=synapse.url, token=provisioner.token)
    # Its power level, its invite, and its account's user_type (a plain account made a bot).
    assert "Plan: 0 to create, 0 to change. 3 bot changes." in planned.out, planned.out
    doc = roomsync(config, "plan", "--format", "json", url=synapse.url, token=provisioner.token).json
    assert (doc["summary"]["change"], doc["summary"]["bot_changes"]) == (0, 3)
    markdown = roomsync(config, "plan", "--format", "markdown", url=synapse.url, token=provisioner.token).out
    assert "**Plan: 0 to create, 0 to change. 3 bot changes.**" in markdown
