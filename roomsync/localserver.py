"""A throwaway Synapse on the loopback interface: `roomsync local`, the demo and the tests' fixture.

LocalSynapse is the process: a free port (or a given one), a config with SQLite, no
federation and every rate limit lifted, a signing key, start and wait until the client API
answers, stop with SIGTERM then SIGKILL (bounded), and accounts made with the
registration shared secret. run_local() is `roomsync local`: it starts one for a config
directory, registers the provisioning account and the bots, syncs the config through
roomsync's own planner and applier with the bots' tokens, writes the env file and stays in
the foreground until SIGTERM or Ctrl-C.

Synapse itself (the `roomsync[local]` extra) is only imported when a server is started, and
runs as a child process of the same Python. The few bootstrap requests made before any
token exists (readiness, registration, login) are plain HTTP to 127.0.0.1 here; everything
else goes through roomsync's client.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from .errors import RoomsyncError
from .model import Config

INSTALL_HINT = "roomsync local needs Synapse: pip install 'roomsync[local]'"
DEFAULT_ACCOUNT = "roomsync"
DEFAULT_ENV_FILE = ".roomsync-local.env"
ENV_HOMESERVER = "ROOMSYNC_HOMESERVER"
ENV_TOKEN = "ROOMSYNC_ACCESS_TOKEN"
RESERVED_ENV = (ENV_HOMESERVER, ENV_TOKEN, "ROOMSYNC_ACCESS_TOKEN_FILE")
STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL
SECRET_FILE = "roomsync-local.secret"  # the registration shared secret, kept with the data

# Every limiter a client might meet, lifted far out of reach.
_HIGH = {"per_second": 100000, "burst_count": 100000}
UNLIMITED_RATELIMITS: dict[str, Any] = {
    "rc_message": _HIGH,
    "rc_registration": _HIGH,
    "rc_registration_token_validity": _HIGH,
    "rc_login": {"address": _HIGH, "account": _HIGH, "failed_attempts": _HIGH},
    "rc_admin_redaction": _HIGH,
    "rc_joins": {"local": _HIGH, "remote": _HIGH},
    "rc_joins_per_room": _HIGH,
    "rc_3pid_validation": _HIGH,
    "rc_invites": {"per_room": _HIGH, "per_user": _HIGH, "per_issuer": _HIGH},
    "rc_third_party_invite": _HIGH,
    "rc_media_create": _HIGH,
    "rc_presence": {"per_user": _HIGH},
    "rc_delayed_event_mgmt": _HIGH,
    "rc_room_creation": _HIGH,
    "rc_reports": _HIGH,
    "rc_user_directory": _HIGH,
    "rc_profile": _HIGH,
    "rc_key_requests": _HIGH,
}
# With rate_limited=True only these are lifted, so that registering and logging in works;
# everything else keeps Synapse's defaults.
REGISTRATION_RATELIMITS: dict[str, Any] = {
    "rc_registration": _HIGH,
    "rc_login": {"address": _HIGH, "account": _HIGH, "failed_attempts": _HIGH},
}

_LOG_CONFIG = """\
version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s'
handlers:
  file:
    class: logging.FileHandler
    formatter: precise
    filename: {log_file}
    encoding: utf8
root:
  level: WARNING
  handlers: [file]
disable_existing_loggers: false
"""

_HTTP_TIMEOUT = 30.0


class LocalServerError(RoomsyncError):
    """Synapse could not be started or set up. The message is one line; `details` has the logs."""

    def __init__(self, message: str, details: str = ""):
        super().__init__(message)
        self.details = details


def require_synapse() -> None:
    """Fail with one line saying how to install Synapse when it is not installed.

    Only looked up, not imported: Synapse runs in its own process.
    """
    try:
        found = all(importlib.util.find_spec(name) is not None for name in ("synapse", "signedjson"))
    except (ImportError, ValueError):
        found = False
    if not found:
        raise RoomsyncError(INSTALL_HINT)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Synapse (Twisted) binds
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(encoding="utf8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _last_line(path: Path) -> str:
    lines = [line.strip() for line in _tail(path, 20).splitlines() if line.strip()]
    return lines[-1] if lines else ""


def terminate(proc: subprocess.Popen[bytes] | None, grace: float = STOP_GRACE) -> None:
    """Stop a process: SIGTERM, bounded wait, then SIGKILL. Safe to call twice."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.terminate()
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace)
    except ProcessLookupError:
        pass


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, have the kernel SIGTERM Synapse if its parent dies,
    so that not even a SIGKILLed roomsync leaves a Synapse running."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # not Linux: the parent's own cleanup has to do
        pass


def _http(url: str, method: str = "GET", body: dict | None = None, timeout: float = _HTTP_TIMEOUT) -> tuple[int, dict]:
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


class LocalSynapse:
    """One Synapse process with a SQLite database under `workdir`, listening on 127.0.0.1 only.

    The signing key and the registration shared secret are kept in `workdir`, so a later
    start from the same directory is the same server with the same accounts.
    """

    def __init__(
        self,
        workdir: Path,
        server_name: str,
        port: int | None = None,
        rate_limited: bool = False,
        limits: dict[str, Any] | None = None,
    ):
        self.workdir = Path(workdir).resolve()
        self.server_name = server_name
        self.rate_limited = rate_limited
        self.limits = dict(limits or {})  # rc_* settings of this server's own (tests, benchmarks)
        self._fixed_port = port is not None
        self.port: int | None = None
        self.url = ""
        if port is not None:
            self._set_port(port)
        self.config_path = self.workdir / "homeserver.yaml"
        self.log_path = self.workdir / "homeserver.log"
        self.output_path = self.workdir / "homeserver.out"
        self._secret: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._output: Any = None
        # Never leave a Synapse behind, even if the caller dies without stop().
        self._finalizer: weakref.finalize | None = None

    # -- lifecycle -----------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def exit_status(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    @property
    def shared_secret(self) -> str:
        """The registration shared secret, made once and kept in the data directory (mode 0600)."""
        if self._secret is None:
            path = self.workdir / SECRET_FILE
            if path.exists():
                self._secret = path.read_text().strip()
            else:
                self.workdir.mkdir(parents=True, exist_ok=True)
                self._secret = secrets.token_hex(32)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(self._secret + "\n")
        return self._secret

    def start(self, timeout: float = 90) -> None:
        """Start Synapse and wait (bounded) until the client API answers."""
        if self.running:
            raise RuntimeError("Synapse is already running")
        if self.port is None:
            # A freshly picked port can be taken by someone else before Synapse binds it;
            # on the very first start, try a few.
            for attempt in range(3):
                self._set_port(free_port())
                try:
                    self._start(timeout)
                    return
                except LocalServerError as exc:
                    if attempt == 2 or "Address already in use" not in exc.details:
                        raise
        else:
            self._start(timeout)

    def restart(self, timeout: float = 90) -> None:
        """Stop (if running) and start again on the same port and database."""
        self.stop()
        self.start(timeout)

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Terminate Synapse (SIGTERM, bounded wait, SIGKILL). Idempotent."""
        terminate(self._proc, grace)
        self._cleanup()

    def kill(self) -> None:
        """SIGKILL Synapse at once, as a crash would."""
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(timeout=10)
        self._cleanup()

    def __enter__(self) -> LocalSynapse:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _set_port(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def _cleanup(self) -> None:
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._output is not None:
            self._output.close()
            self._output = None

    def _start(self, timeout: float) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        self._output = open(self.output_path, "ab")  # noqa: SIM115 (Synapse writes into it until stop())
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "synapse.app.homeserver", "-c", str(self.config_path)],
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal reaches roomsync, which stops Synapse
            preexec_fn=_die_with_parent,
        )
        self._finalizer = weakref.finalize(self, terminate, self._proc, 5.0)
        deadline = time.monotonic() + timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                self._cleanup()
                last = _last_line(self.output_path)
                raise LocalServerError(
                    f"Synapse exited with status {code} during startup" + (f": {last}" if last else ""),
                    self.diagnostics(),
                )
            if self._answers():
                return
            if time.monotonic() > deadline:
                terminate(self._proc)
                self._cleanup()
                raise LocalServerError(f"Synapse did not answer on {self.url} within {timeout:g} s", self.diagnostics())
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/_matrix/client/versions", timeout=2) as resp:
                return resp.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def diagnostics(self) -> str:
        return (
            f"--- tail of {self.output_path} ---\n{_tail(self.output_path)}\n"
            f"--- tail of {self.log_path} ---\n{_tail(self.log_path)}"
        )

    def _write_config(self) -> None:
        from signedjson.key import generate_signing_key, write_signing_keys  # comes with Synapse

        signing_key_path = self.workdir / "signing.key"
        if not signing_key_path.exists():
            with open(signing_key_path, "w") as fh:
                write_signing_keys(fh, [generate_signing_key("a_" + secrets.token_hex(2))])
        log_config_path = self.workdir / "log.yaml"
        log_config_path.write_text(_LOG_CONFIG.format(log_file=json.dumps(str(self.log_path))))
        (self.workdir / "media").mkdir(exist_ok=True)
        secret = self.shared_secret
        config: dict[str, Any] = {
            "server_name": self.server_name,
            "public_baseurl": self.url + "/",
            "pid_file": str(self.workdir / "homeserver.pid"),
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {"name": "sqlite3", "args": {"database": str(self.workdir / "homeserver.db")}},
            "media_store_path": str(self.workdir / "media"),
            "signing_key_path": str(signing_key_path),
            "log_config": str(log_config_path),
            "registration_shared_secret": secret,
            "macaroon_secret_key": secret + "m",
            "form_secret": secret + "f",
            "enable_registration": False,
            "report_stats": False,
            "enable_metrics": False,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "federation_domain_whitelist": [],  # no federation: nothing leaves this machine
            "presence": {"enabled": False},
            "bcrypt_rounds": 4,
            "url_preview_enabled": False,
            "room_list_publication_rules": [{"action": "allow"}],
        }
        config.update(REGISTRATION_RATELIMITS if self.rate_limited else UNLIMITED_RATELIMITS)
        config.update(self.limits)
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    # -- accounts --------------------------------------------------------------

    def _password(self, localpart: str) -> str:
        """A password only this data directory knows, so that a later run can log in again."""
        return hmac.new(self.shared_secret.encode(), b"password\0" + localpart.encode(), hashlib.sha256).hexdigest()

    def ensure_user(self, localpart: str, admin: bool = False) -> str:
        """Register `localpart` with the shared secret, or log in if it exists; return a fresh token."""
        status, body = _http(self.url + "/_synapse/admin/v1/register")
        if status != 200 or "nonce" not in body:
            raise LocalServerError(f"registering {localpart}: the server answered {status} {body.get('errcode', '')}")
        password = self._password(localpart)
        mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
        for part in (body["nonce"], localpart, password):
            mac.update(part.encode() + b"\x00")
        mac.update(b"admin" if admin else b"notadmin")
        status, answer = _http(
            self.url + "/_synapse/admin/v1/register",
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
            return answer["access_token"]
        if answer.get("errcode") != "M_USER_IN_USE":
            raise LocalServerError(
                f"registering {localpart}: {status} {answer.get('errcode', '')} {answer.get('error', '')}".rstrip()
            )
        status, answer = _http(
            self.url + "/_matrix/client/v3/login",
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
        return answer["access_token"]


# --- `roomsync local` ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LocalBot:
    name: str
    user: str
    env: str  # the variable its token is exported under


def bot_env_name(name: str, token_env: str | None) -> str:
    """The env variable for a bot's token: its token_env, else ROOMSYNC_BOT_<NAME>_TOKEN."""
    return token_env or "ROOMSYNC_BOT_" + re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_TOKEN"


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
    bots, kept, notes, seen = [], [], [], {}
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
    local = dataclasses.replace(config, bots=tuple(kept), account=account, well_known={})
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

    async with Homeserver(url, token) as hs:
        # What the README advises for a real server: exempt the account from rate limits.
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
) -> None:
    """`roomsync local`. Returns when stopped by SIGTERM/SIGINT; raises RoomsyncError on a failure.

    Whatever happens, Synapse is stopped, the env file is removed and the data with it
    (unless `data_dir` was given) before this returns.
    """
    from .config import load_config

    config = load_config(config_dir)
    require_synapse()
    local, account, bots, notes = prepare(config)
    env_file = Path(env_file).absolute()
    if not env_file.parent.is_dir():
        raise RoomsyncError(f"cannot write the env file {env_file}: {env_file.parent} is not a directory")
    if data_dir is not None and Path(data_dir).exists() and not Path(data_dir).is_dir():
        raise RoomsyncError(f"--data {data_dir} is not a directory")
    if port is not None and not port_is_free(port):
        raise RoomsyncError(f"cannot listen on 127.0.0.1:{port}: the port is in use")

    stopping = False

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal stopping
        if not stopping:  # once cleanup has begun, nothing interrupts it (it is bounded)
            stopping = True
            raise _Stop(signum)

    previous: dict[int, Any] = {}
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
        token = server.ensure_user(localpart(account), admin=True)
        remember_secret(token)
        tokens: dict[str, str] = {}
        for bot in bots:
            tokens[bot.env] = token if bot.user == account else server.ensure_user(localpart(bot.user))
            remember_secret(tokens[bot.env])
        for note in notes:
            say(note)
        names = ", ".join(b.name for b in bots) or "none"
        say(f"Registered {account} (server admin) and {len(bots)} bot{'s' * (len(bots) != 1)}: {names}")
        asyncio.run(_sync(local, server.url, token, tokens, say))
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
