"""Run a throw-away Synapse homeserver for tests.

Self-contained on purpose: it uses only the standard library and packages that
Synapse itself depends on (``signedjson``, ``yaml``), never ``roomsync``, so the
tests talk to the server through an HTTP client that is independent of the code
under test.

    with SynapseServer(tmp_path) as hs:
        token = hs.register("alice")
        status, body = hs.request("GET", "/_matrix/client/v3/joined_rooms", token)

Paths given to :meth:`SynapseServer.request` are sent as they are: percent-encode
room ids and aliases with :func:`q` (``#`` in an alias would otherwise start a
URL fragment).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pathlib
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from typing import Any

import yaml
from signedjson.key import generate_signing_key, write_signing_keys

__all__ = ["SynapseServer", "q"]

# Every limiter a test might meet, lifted far out of reach.
_HIGH = {"per_second": 100000, "burst_count": 100000}
_UNLIMITED_RATELIMITS: dict[str, Any] = {
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
# With rate_limited=True only these are lifted, so that registering test users
# works; everything else keeps Synapse's defaults.
_REGISTRATION_RATELIMITS: dict[str, Any] = {
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


def q(value: str) -> str:
    """Percent-encode one path segment (room id, alias, user id, event type)."""
    return urllib.parse.quote(value, safe="")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: pathlib.Path, lines: int = 60) -> str:
    try:
        text = path.read_text(encoding="utf8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _terminate(proc: subprocess.Popen[bytes] | None, grace: float = 10.0) -> None:
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


class SynapseServer:
    """One Synapse process with a sqlite database under ``workdir``."""

    def __init__(
        self,
        workdir: pathlib.Path,
        server_name: str = "opendev.org",
        rate_limited: bool = False,
    ) -> None:
        self.workdir = pathlib.Path(workdir).resolve()
        self.server_name = server_name
        self.rate_limited = rate_limited
        self.port: int | None = None
        self.url = ""
        self.config_path = self.workdir / "homeserver.yaml"
        self.log_path = self.workdir / "homeserver.log"
        self.output_path = self.workdir / "homeserver.out"
        self._shared_secret = secrets.token_hex(32)
        self._proc: subprocess.Popen[bytes] | None = None
        self._output: Any = None
        # Never leave a Synapse behind, even if the test run dies without stop().
        self._finalizer: weakref.finalize | None = None

    # -- lifecycle -----------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = 90) -> None:
        """Start Synapse and wait until the client API answers."""
        if self.running:
            raise RuntimeError("Synapse is already running")
        if self.port is None:
            # A freshly picked port can be taken by someone else before Synapse
            # binds it; on the very first start, try a few.
            for attempt in range(3):
                self._set_port(_free_port())
                try:
                    self._start(timeout)
                    return
                except RuntimeError as exc:
                    if attempt == 2 or "Address already in use" not in str(exc):
                        raise
        else:
            self._start(timeout)

    def restart(self, timeout: float = 90) -> None:
        """Stop (if running) and start again on the same port and database."""
        self.stop()
        self.start(timeout)

    def stop(self) -> None:
        """Terminate Synapse (SIGTERM, bounded wait, SIGKILL). Idempotent."""
        _terminate(self._proc)
        self._cleanup()

    def kill(self) -> None:
        """SIGKILL Synapse at once, as a crash would."""
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._proc.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._proc.wait(timeout=10)
        self._cleanup()

    def __enter__(self) -> SynapseServer:
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
        self._output = open(self.output_path, "ab")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "synapse.app.homeserver", "-c", str(self.config_path)],
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
        )
        self._finalizer = weakref.finalize(self, _terminate, self._proc, 5.0)
        deadline = time.monotonic() + timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                self._cleanup()
                raise RuntimeError(
                    f"Synapse exited with status {code} during startup\n{self._diagnostics()}"
                )
            if self._answers():
                return
            if time.monotonic() > deadline:
                _terminate(self._proc)
                self._cleanup()
                raise RuntimeError(
                    f"Synapse did not answer on {self.url} within {timeout} s\n"
                    f"{self._diagnostics()}"
                )
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(
                self.url + "/_matrix/client/versions", timeout=2
            ) as resp:
                return resp.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def _diagnostics(self) -> str:
        return (
            f"--- tail of {self.output_path} ---\n{_tail(self.output_path)}\n"
            f"--- tail of {self.log_path} ---\n{_tail(self.log_path)}"
        )

    def _write_config(self) -> None:
        signing_key_path = self.workdir / "signing.key"
        if not signing_key_path.exists():
            with open(signing_key_path, "w") as fh:
                write_signing_keys(fh, [generate_signing_key("a_" + secrets.token_hex(2))])
        log_config_path = self.workdir / "log.yaml"
        log_config_path.write_text(_LOG_CONFIG.format(log_file=json.dumps(str(self.log_path))))
        (self.workdir / "media").mkdir(exist_ok=True)

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
            "database": {
                "name": "sqlite3",
                "args": {"database": str(self.workdir / "homeserver.db")},
            },
            "media_store_path": str(self.workdir / "media"),
            "signing_key_path": str(signing_key_path),
            "log_config": str(log_config_path),
            "registration_shared_secret": self._shared_secret,
            "macaroon_secret_key": self._shared_secret + "m",
            "form_secret": self._shared_secret + "f",
            "enable_registration": False,
            "report_stats": False,
            "enable_metrics": False,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "presence": {"enabled": False},
            "bcrypt_rounds": 4,
            "url_preview_enabled": False,
            "room_list_publication_rules": [{"action": "allow"}],
        }
        config.update(_REGISTRATION_RATELIMITS if self.rate_limited else _UNLIMITED_RATELIMITS)
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    # -- HTTP ------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: dict | None = None,
        query: dict | None = None,
        timeout: float = _HTTP_TIMEOUT,
    ) -> tuple[int, Any]:
        """One plain HTTP request; returns (status, parsed JSON body).

        The body is ``{}`` when the answer is empty or not JSON, and a list for
        the endpoints that answer with one (``GET /rooms/{id}/state``). HTTP
        error statuses are returned, not raised; connection errors do raise.
        ``path`` is sent verbatim (percent-encode ids with :func:`q`); ``query``
        values are encoded here.
        """
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body).encode("utf8")
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(url, data=data, headers=headers, method=method.upper())
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
            err.close()
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = {}
        return status, parsed

    def register(self, localpart: str, admin: bool = False) -> str:
        """Create a user with the shared-secret admin API; return its access token."""
        status, body = self.request("GET", "/_synapse/admin/v1/register")
        if status != 200:
            raise RuntimeError(f"register nonce: {status} {body}")
        nonce = body["nonce"]
        password = secrets.token_urlsafe(18)
        mac = hmac.new(self._shared_secret.encode("utf8"), digestmod=hashlib.sha1)
        mac.update(nonce.encode("utf8"))
        mac.update(b"\x00")
        mac.update(localpart.encode("utf8"))
        mac.update(b"\x00")
        mac.update(password.encode("utf8"))
        mac.update(b"\x00")
        mac.update(b"admin" if admin else b"notadmin")
        status, body = self.request(
            "POST",
            "/_synapse/admin/v1/register",
            body={
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            },
        )
        if status != 200:
            raise RuntimeError(f"register {localpart}: {status} {body}")
        return body["access_token"]

    def user_id(self, localpart: str) -> str:
        return f"@{localpart}:{self.server_name}"
