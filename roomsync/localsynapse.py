"""A throwaway Synapse process on the loopback interface: for `roomsync local`, the demo and the tests.

LocalSynapse is the process: a free port (or a given one), a config with SQLite, no
federation and every rate limit lifted, a signing key and a registration shared secret kept
with the data, start and wait until the client API answers, stop with SIGTERM then SIGKILL
(bounded), and the tails of its logs when something goes wrong. The accounts on it and the
rooms are roomsync.localserver's business.

Synapse itself (the `roomsync[local]` extra) is only looked up here, never imported: it runs
as a child process of the same Python.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from typing import Any

import yaml

from .errors import RoomsyncError

INSTALL_HINT = "roomsync local needs Synapse: pip install 'roomsync[local]'"
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
        port: int = sock.getsockname()[1]
        return port


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
        self._finalizer: weakref.finalize[[subprocess.Popen[bytes] | None, float], LocalSynapse] | None = None

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
                status: int = resp.status
                return status == 200
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
