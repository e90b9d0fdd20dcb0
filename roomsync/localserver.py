"""`roomsync local`: a throwaway Synapse (roomsync.localsynapse) set up to hold a config's rooms.

run_local() starts one for a config directory, registers the provisioning account and the
bots with the registration shared secret, syncs the config through roomsync's own planner and
applier with the bots' tokens, writes the env file and stays in the foreground until SIGTERM or
Ctrl-C. The few bootstrap requests made before any token exists (registration, login) are plain
HTTP to 127.0.0.1 here; everything else goes through roomsync's client.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import RoomsyncError
from .ids import user_id_problem
from .localsynapse import LocalServerError, LocalSynapse, _last_line, port_is_free, require_synapse
from .model import BotSpec, Config

DEFAULT_ACCOUNT = "roomsync"
DEFAULT_ENV_FILE = ".roomsync-local.env"
ENV_HOMESERVER = "ROOMSYNC_HOMESERVER"
ENV_TOKEN = "ROOMSYNC_ACCESS_TOKEN"
RESERVED_ENV = (ENV_HOMESERVER, ENV_TOKEN, "ROOMSYNC_ACCESS_TOKEN_FILE")

_HTTP_TIMEOUT = 30.0


def _http(
    url: str, method: str = "GET", body: dict[str, Any] | None = None, timeout: float = _HTTP_TIMEOUT
) -> tuple[int, dict[str, Any]]:
    """One unauthenticated request to the local server: (status, JSON body or {})."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
        err.close()
    except (OSError, urllib.error.URLError) as exc:
        raise LocalServerError(f"the local Synapse did not answer ({getattr(exc, 'reason', exc)})") from None
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = {}
    return status, parsed if isinstance(parsed, dict) else {}


# --- accounts ---------------------------------------------------------------------------------


def _password(server: LocalSynapse, localpart: str) -> str:
    """A password only this data directory knows, so that a later run can log in again."""
    return hmac.new(server.shared_secret.encode(), b"password\0" + localpart.encode(), hashlib.sha256).hexdigest()


def ensure_user(server: LocalSynapse, localpart: str, admin: bool = False) -> str:
    """Register `localpart` with the shared secret, or log in if it exists; return a fresh token."""
    status, body = _http(server.url + "/_synapse/admin/v1/register")
    if status != 200 or "nonce" not in body:
        raise LocalServerError(f"registering {localpart}: the server answered {status} {body.get('errcode', '')}")
    password = _password(server, localpart)
    mac = hmac.new(server.shared_secret.encode(), digestmod=hashlib.sha1)
    for part in (body["nonce"], localpart, password):
        mac.update(part.encode() + b"\x00")
    mac.update(b"admin" if admin else b"notadmin")
    status, answer = _http(
        server.url + "/_synapse/admin/v1/register",
        "POST",
        {
            "nonce": body["nonce"],
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        },
    )
    if status == 200 and answer.get("access_token"):
        token: str = answer["access_token"]
        return token
    if answer.get("errcode") != "M_USER_IN_USE":
        raise LocalServerError(
            f"registering {localpart}: {status} {answer.get('errcode', '')} {answer.get('error', '')}".rstrip()
        )
    status, answer = _http(
        server.url + "/_matrix/client/v3/login",
        "POST",
        {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": localpart},
            "password": password,
            "initial_device_display_name": "roomsync local",
        },
    )
    if status != 200 or not answer.get("access_token"):
        raise LocalServerError(
            f"{localpart} exists in the data directory but cannot log in ({status} "
            f"{answer.get('errcode', '')}); was it made by another roomsync local?"
        )
    token = answer["access_token"]
    return token


# --- `roomsync local` ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LocalBot:
    name: str
    user: str
    env: str  # the variable its token is exported under


def bot_env_name(name: str, token_env: str | None) -> str:
    """The env variable for a bot's token: its token_env, else ROOMSYNC_BOT_<NAME>_TOKEN."""
    return token_env or "ROOMSYNC_BOT_" + re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_TOKEN"


def user_env_name(name: str) -> str:
    """The env variable for a plain user's token (`roomsync local --user NAME`)."""
    return "ROOMSYNC_USER_" + re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_TOKEN"


def localpart(user_id: str) -> str:
    return user_id[1:].split(":", 1)[0]


def server_of(user_id: str) -> str:
    return user_id.split(":", 1)[1] if ":" in user_id else ""


def prepare(config: Config) -> tuple[Config, str, list[LocalBot], list[str]]:
    """The config as `roomsync local` syncs it, the account, the local bots and notes.

    Bots of another server are left out (there is no federation); every local bot gets a
    token_env (its own or ROOMSYNC_BOT_<NAME>_TOKEN) so that the sync joins it as the bot.
    .well-known is left out: the local server has no web server in front of it.
    """
    account = config.account or f"@{DEFAULT_ACCOUNT}:{config.server_name}"
    if server_of(account) != config.server_name:
        raise RoomsyncError(
            f"roomsync.yaml's account {account} is not on server_name {config.server_name}; "
            "roomsync local can only register accounts of its own server"
        )
    bots: list[LocalBot] = []
    kept: list[BotSpec] = []
    notes: list[str] = []
    seen: dict[str, str] = {}
    for bot in config.bots:
        if server_of(bot.user) != config.server_name:
            notes.append(f"note: bot {bot.name} ({bot.user}) is on another server: skipped")
            continue
        env = bot_env_name(bot.name, bot.token_env)
        if env in RESERVED_ENV:
            raise RoomsyncError(f"bot {bot.name}'s token variable {env} is one of roomsync's own")
        if env in seen:
            raise RoomsyncError(f"bots {seen[env]} and {bot.name} would both get their token as {env}")
        seen[env] = bot.name
        bots.append(LocalBot(bot.name, bot.user, env))
        kept.append(dataclasses.replace(bot, token_env=env))
    for mirror in config.mirrors:
        notes.append(f"note: mirror {mirror.server_name} is another server (there is no federation here): skipped")
    local = dataclasses.replace(config, bots=tuple(kept), account=account, well_known={}, mirrors=())
    return local, account, bots, notes


def env_file_text(url: str, account_token: str, bot_tokens: dict[str, str]) -> str:
    lines = [f"{ENV_HOMESERVER}={url}", f"{ENV_TOKEN}={account_token}"]
    lines += [f"{name}={token}" for name, token in bot_tokens.items()]
    for line in lines:  # sourced by shells: nothing that would need quoting
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=[A-Za-z0-9_.:/+=-]*", line):
            raise RoomsyncError(f"cannot write {line.split('=', 1)[0]} into the env file: unexpected characters")
    return "\n".join(lines) + "\n"


def write_env_file(path: Path, text: str) -> None:
    """Atomically (temp file + rename in the same directory), mode 0600: it holds tokens."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def _sync(config: Config, url: str, token: str, bot_tokens: dict[str, str], say: Callable[[str], None]) -> None:
    """The sync job's code path: read, plan, apply with the bots' tokens, then check nothing is left."""
    from . import render
    from .apply import apply_plan
    from .client import ADMIN, Homeserver, seg
    from .observe import read_snapshot
    from .plan import make_plan

    assert config.account, "prepare() names the account"
    async with Homeserver(url, token) as hs:
        # What the guide advises for a real server: exempt the account from rate limits.
        await hs.call(
            "POST",
            f"{ADMIN}/users/{seg(config.account)}/override_ratelimit",
            {"messages_per_second": 0, "burst_count": 0},
            what="lift the account's rate limits",
        )
        planned = make_plan(config, await read_snapshot(hs, config))
        say(render.plan_text(planned).rstrip("\n"))
        if planned.has_errors:
            broken = ", ".join(r.alias for r in planned.rooms if r.errors)
            raise RoomsyncError(f"the plan has errors for {broken} (see above); nothing was synced")
        if planned.has_changes:
            results = await apply_plan(hs, planned, bot_token=bot_tokens.get)
            say(render.results_text(results).rstrip("\n"))
            failed = [r for r in results if r.status in ("failed", "skipped")]
            if failed:
                raise RoomsyncError(
                    f"the sync failed for {failed[0].alias}: {failed[0].error}"
                    + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else "")
                )
        again = make_plan(config, await read_snapshot(hs, config))
        if again.has_changes or again.has_errors:
            raise RoomsyncError("after the sync the homeserver still differs from the config")


class _Stop(BaseException):
    """SIGTERM or SIGINT: stop, clean up, exit 0."""


def run_local(
    config_dir: Path,
    port: int | None = None,
    env_file: Path = Path(DEFAULT_ENV_FILE),
    data_dir: Path | None = None,
    say: Callable[[str], None] = print,
    remember_secret: Callable[[str], Any] = lambda _token: None,
    users: tuple[str, ...] = (),
) -> None:
    """`roomsync local`. Returns when stopped by SIGTERM/SIGINT; raises RoomsyncError on a failure.
    `users`: plain users to register too. Whatever happens, Synapse is stopped, the env file is
    removed and the data with it (unless `data_dir` was given) before this returns."""
    from .config import load_config

    config = load_config(config_dir)
    require_synapse()
    local, account, bots, notes = prepare(config)
    env_file = Path(env_file).absolute()
    _check_places(env_file, data_dir, port)
    _check_users(users, local.server_name, {account, *(bot.user for bot in bots)})

    stopping = False

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal stopping
        if not stopping:  # once cleanup has begun, nothing interrupts it (it is bounded)
            stopping = True
            raise _Stop(signum)

    previous: dict[signal.Signals, Any] = {}
    workdir: Path | None = None
    server: LocalSynapse | None = None
    wrote_env = False
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
        env_file.unlink(missing_ok=True)  # a stale file would tell a waiting script we are ready
        workdir = Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="roomsync-local-"))
        server = LocalSynapse(workdir, local.server_name, port=port)
        kept = "kept" if data_dir is not None else "removed when it stops"
        say(f"Starting Synapse for {local.server_name} (data in {server.workdir}, {kept}) ...")
        server.start()
        say(f"Synapse is up at {server.url} (pid {server.pid})")
        token, tokens = _register(server, account, bots, notes, say, remember_secret)
        asyncio.run(_sync(local, server.url, token, tokens, say))
        tokens |= _register_users(server, users, say, remember_secret)  # after the sync: they are no bots
        wrote_env = True  # from here on, removed at the end whatever happens
        try:
            write_env_file(env_file, env_file_text(server.url, token, tokens))
        except OSError as exc:
            raise RoomsyncError(f"cannot write the env file {env_file}: {exc.strerror}") from None
        exported = ", ".join([ENV_HOMESERVER, ENV_TOKEN, *tokens])
        say(f"Ready: {server.url}; wrote {env_file} ({exported}). Stop with Ctrl-C or SIGTERM.")
        while server.running:
            time.sleep(0.5)
        stopping = True
        raise RoomsyncError(
            f"Synapse exited on its own (status {server.exit_status})"
            + (f": {_last_line(server.output_path)}" if _last_line(server.output_path) else "")
        )
    except _Stop as stop:
        say(f"Stopping ({signal.Signals(stop.args[0]).name}) ...")
    except LocalServerError as exc:
        if data_dir is not None and exc.details:
            raise LocalServerError(f"{exc} (logs in {server.workdir if server else data_dir})") from None
        raise
    finally:
        stopping = True
        if server is not None:
            server.stop()
        if wrote_env:
            env_file.unlink(missing_ok=True)
        if data_dir is None and workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    where = f"data kept in {server.workdir}" if data_dir is not None and server else "its data removed"
    say(f"Stopped: Synapse is down, {where}.")


def _check_users(users: tuple[str, ...], server_name: str, taken: set[str]) -> None:
    for name in users:
        if problem := user_id_problem(f"@{name}:{server_name}"):
            raise RoomsyncError(f"--user {name}: {problem.replace('user id', 'name', 1)}")
        if f"@{name}:{server_name}" in taken:
            raise RoomsyncError(f"--user {name}: @{name}:{server_name} is the account or a bot of bots.yaml")


def _register_users(
    server: LocalSynapse, users: tuple[str, ...], say: Callable[[str], None], remember_secret: Callable[[str], Any]
) -> dict[str, str]:
    """Plain users (not admins, in no room): their tokens by variable."""
    tokens = {}
    for name in dict.fromkeys(users):
        tokens[user_env_name(name)] = ensure_user(server, name)
        remember_secret(tokens[user_env_name(name)])
    if users:
        say(f"Registered {len(tokens)} plain user{'s' * (len(tokens) != 1)}: {', '.join(dict.fromkeys(users))}")
    return tokens


def _check_places(env_file: Path, data_dir: Path | None, port: int | None) -> None:
    """Before anything starts: the env file's directory exists, --data is a directory, the port is free."""
    if not env_file.parent.is_dir():
        raise RoomsyncError(f"cannot write the env file {env_file}: {env_file.parent} is not a directory")
    if data_dir is not None and Path(data_dir).exists() and not Path(data_dir).is_dir():
        raise RoomsyncError(f"--data {data_dir} is not a directory")
    if port is not None and not port_is_free(port):
        raise RoomsyncError(f"cannot listen on 127.0.0.1:{port}: the port is in use")


def _register(
    server: LocalSynapse,
    account: str,
    bots: list[LocalBot],
    notes: list[str],
    say: Callable[[str], None],
    remember_secret: Callable[[str], Any],
) -> tuple[str, dict[str, str]]:
    """The account (a server admin) and every local bot: the account's token and the bots' by variable."""
    token = ensure_user(server, localpart(account), admin=True)
    remember_secret(token)
    tokens: dict[str, str] = {}
    for bot in bots:
        tokens[bot.env] = token if bot.user == account else ensure_user(server, localpart(bot.user))
        remember_secret(tokens[bot.env])
    for note in notes:
        say(note)
    names = ", ".join(b.name for b in bots) or "none"
    say(f"Registered {account} (server admin) and {len(bots)} bot{'s' * (len(bots) != 1)}: {names}")
    return token, tokens
