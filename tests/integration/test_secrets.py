"""Access tokens never appear in any output, log, plan file or exception message, whatever fails.

Every command runs as a user would run it (a subprocess, the token only in the environment),
with -vv (debug logging) on, and every byte it prints or writes is searched for every token
involved: the provisioning account's (from ROOMSYNC_ACCESS_TOKEN and, separately, from
ROOMSYNC_ACCESS_TOKEN_FILE), the bots' (token_env), and wrong ones. Both the whole token
and its secret middle part (syt_<user>_<secret>_<checksum>) are searched for.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import secrets
import subprocess
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from roomsync.client import Homeserver, RetryPolicy
from roomsync.errors import HomeserverError
from tests.integration.helpers import resolve, write_config
from tests.synapse import q

SERVER = "opendev.org"
CLIENT = "/_matrix/client/v3"
UNREACHABLE = "http://127.0.0.1:9"


def fake_token() -> str:
    """Token-shaped, well-formed, and wrong."""
    return f"syt_{secrets.token_hex(6)}_{secrets.token_hex(10)}_{secrets.token_hex(3)}"


@dataclass
class Run:
    label: str
    code: int
    out: str
    err: str


class Harness:
    """Runs the CLI, keeps everything it printed or wrote, and searches it for secrets."""

    def __init__(self, url: str, tmp: Path):
        self.url, self.tmp = url, tmp
        self.captured: list[tuple[str, str]] = []
        self.files: list[Path] = []
        self.secrets: dict[str, str] = {}
        self.extra_env: dict[str, str] = {}

    def secret(self, name: str, token: str) -> None:
        self.secrets[name] = token
        parts = token.split("_")
        if len(parts) == 4 and len(parts[2]) >= 10:  # syt_<user>_<secret>_<crc>: the secret on its own
            self.secrets[f"{name} (secret part)"] = parts[2]

    def start(
        self,
        config: Path,
        *args: str,
        token: str | None = None,
        token_file: Path | None = None,
        url: str | None = None,
        env: dict[str, str] | None = None,
    ) -> tuple[str, subprocess.Popen]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("ROOMSYNC_")}
        environ.update(self.extra_env)
        environ["ROOMSYNC_HOMESERVER"] = url or self.url
        if token is not None:
            environ["ROOMSYNC_ACCESS_TOKEN"] = token
        if token_file is not None:
            environ["ROOMSYNC_ACCESS_TOKEN_FILE"] = str(token_file)
        environ.update(env or {})
        argv = [sys.executable, "-m", "roomsync", "-C", str(config), "-vv", *args]
        label = " ".join(args) + (" [token file]" if token_file else "") + (f" [{url}]" if url else "")
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ)
        return label, proc

    def finish(self, started: tuple[str, subprocess.Popen], timeout: float = 120) -> Run:
        label, proc = started
        out, err = proc.communicate(timeout=timeout)
        self.captured += [(f"stdout of `{label}`", out), (f"stderr of `{label}`", err)]
        return Run(label, proc.returncode, out, err)

    def run(self, config: Path, *args: str, **kwargs) -> Run:
        return self.finish(self.start(config, *args, **kwargs))

    def leaks(self) -> list[str]:
        texts = self.captured + [
            (f"file {p.name}", p.read_text(encoding="utf-8", errors="replace")) for p in self.files if p.exists()
        ]
        # Only names in the message: an assertion message must not print the secret itself.
        return [
            f"{name} found in {where}"
            for where, text in texts
            for name, secret in self.secrets.items()
            if secret in text
        ]


def write_bots(directory: Path, bots: list[dict]) -> None:
    (directory / "bots.yaml").write_text(yaml.safe_dump({"bots": bots}, sort_keys=False))


def test_tokens_never_appear_in_any_output_or_plan_file(synapse, provisioner, make_user, prefix, tmp_path: Path):
    p = prefix
    h = Harness(synapse.url, tmp_path)
    owner, bot_ok, bot_missing, bot_wrong = (make_user(n) for n in ("owner", "botok", "botmissing", "botwrong"))
    bad, bad_bot = fake_token(), fake_token()
    h.secret("the provisioning account's token", provisioner.token)
    h.secret("a bot's token", bot_ok.token)
    h.secret("a wrong account token", bad)
    h.secret("a wrong bot token", bad_bot)
    h.secret("another user's token", owner.token)
    h.extra_env = {"BOT_OK_TOKEN": bot_ok.token, "BOT_WRONG_TOKEN": bad_bot}  # BOT_MISSING_TOKEN is not set

    # A room the account is joined in without power.
    status, answer = synapse.request(
        "POST", f"{CLIENT}/createRoom", owner.token, body={"room_alias_name": f"{p}-powerless", "preset": "public_chat"}
    )
    assert status == 200, answer
    assert synapse.request("POST", f"{CLIENT}/join/{q(answer['room_id'])}", provisioner.token, body={})[0] == 200

    clean_rooms = [
        {"alias": f"{p}-main", "topic": "main ✓", "alt_aliases": [f"{p}-main-alt"]},
        {"alias": f"{p}-bots", "join_rule": "invite"},
    ]
    rooms = [
        *clean_rooms,
        {"alias": f"{p}-missing"},
        {"alias": f"{p}-wrongbot"},
        {"alias": f"{p}-powerless", "topic": "needs power"},
    ]
    bots = [
        {
            "name": "okbot",
            "user": bot_ok.user_id,
            "rooms": [f"{p}-bots"],
            "token_env": "BOT_OK_TOKEN",
            "display_name": "OK Bot",
            "power_level": 10,
        },
        {
            "name": "missingbot",
            "user": bot_missing.user_id,
            "rooms": [f"{p}-missing"],
            "token_env": "BOT_MISSING_TOKEN",
            "display_name": "Missing",
        },
        {
            "name": "wrongbot",
            "user": bot_wrong.user_id,
            "rooms": [f"{p}-wrongbot"],
            "token_env": "BOT_WRONG_TOKEN",
            "display_name": "Wrong",
        },
    ]
    config = write_config(tmp_path / "all", SERVER, rooms)
    write_bots(config, bots)
    clean = write_config(tmp_path / "clean", SERVER, clean_rooms)
    write_bots(clean, bots[:1])
    mismatch = write_config(tmp_path / "mismatch", SERVER, clean_rooms, account=owner.user_id)

    token_file = tmp_path / "token"
    token_file.write_text(provisioner.token + "\n")  # a newline at the end, as editors and `echo` leave it
    crlf_file = tmp_path / "token-crlf"
    crlf_file.write_bytes(provisioner.token.encode() + b"\r\n")
    bad_file = tmp_path / "bad-token"
    bad_file.write_text(bad + "\n")

    # Runs against a closed port, with -vv logging every request, in the background meanwhile.
    slow = [
        h.start(config, "plan", token=provisioner.token, url=UNREACHABLE),
        h.start(config, "sync", token_file=token_file, url=UNREACHABLE),
    ]

    assert h.run(config, "validate", token=provisioner.token).code == 0

    outs = [tmp_path / n for n in ("plan.json", "plan.md", "plan.txt", "plan.out")]
    h.files += outs
    planned = h.run(
        config, "plan", "--format", "json", *[a for o in outs for a in ("--out", str(o))], token=provisioner.token
    )
    assert planned.code == 1, planned.err  # the powerless room is an error
    assert all(o.exists() for o in outs)
    assert json.loads(outs[0].read_text())["summary"]["errors"] == 1
    assert "has power 0 here" in planned.out

    assert h.run(config, "sync", "--dry-run", token=provisioner.token).code == 1
    refused = h.run(config, "sync", token=provisioner.token)
    assert refused.code == 1, refused.out + refused.err
    assert "BOT_MISSING_TOKEN is not set" in refused.err and "nothing was changed" in refused.err
    assert resolve(synapse, f"#{p}-main:{SERVER}") is None, "a missing bot token stops sync before anything"
    h.secret("the missing bot's token, once given", bot_missing.token)
    synced = h.run(config, "sync", token=provisioner.token, env={"BOT_MISSING_TOKEN": bot_missing.token})
    assert synced.code == 1, synced.out + synced.err
    assert f"FAILED  #{p}-wrongbot:{SERVER}" in synced.out
    assert f"FAILED  #{p}-powerless:{SERVER}" in synced.out
    assert resolve(synapse, f"#{p}-main:{SERVER}") and resolve(synapse, f"#{p}-bots:{SERVER}")
    status, joined = synapse.request("GET", f"{CLIENT}/joined_rooms", bot_ok.token)
    assert resolve(synapse, f"#{p}-bots:{SERVER}") in joined["joined_rooms"], "the bot joined with its token"
    for fmt in ("json", "markdown", "text"):
        h.run(config, "plan", "--format", fmt, token=provisioner.token)
    h.run(config, "plan", "--only", "bots", token=provisioner.token)

    # The token file, with a trailing newline (and CRLF), works and is not echoed either.
    from_file = h.run(clean, "plan", "--detailed-exitcode", token_file=token_file)
    assert from_file.code == 0, from_file.out + from_file.err
    assert h.run(clean, "sync", token_file=token_file).code == 0
    crlf = h.run(clean, "plan", "--detailed-exitcode", token_file=crlf_file)
    assert crlf.code == 0, crlf.out + crlf.err
    h.files.append(tmp_path / "file.json")
    h.run(clean, "plan", "--out", str(tmp_path / "file.json"), token_file=token_file)

    # Failures: wrong token, from the environment and from a file.
    for run in (
        h.run(config, "plan", token=bad),
        h.run(config, "sync", token=bad),
        h.run(config, "plan", token_file=bad_file),
    ):
        assert run.code == 1 and "rejected the access token" in run.err, run.err
    # Malformed tokens that contain the real one.
    for broken in (provisioner.token + " trailing words", provisioner.token + "é"):
        run = h.run(config, "plan", token=broken)
        assert run.code == 1 and "access token contains" in run.err, run.err
    both = h.run(config, "plan", token=provisioner.token, token_file=token_file)
    assert both.code == 1 and "only one of" in both.err
    # The token of the wrong account for sync; a homeserver URL that answers 404 everywhere.
    assert h.run(mismatch, "sync", token=provisioner.token).code == 1
    wrong_path = h.run(config, "plan", token=provisioner.token, url=synapse.url + "/not-matrix")
    assert wrong_path.code == 1, wrong_path.out + wrong_path.err
    with_token_env = h.run(config, "plan", token=provisioner.token, url=synapse.url, env={"BOT_MISSING_TOKEN": ""})
    assert with_token_env.code == 1

    for started in slow:
        run = h.finish(started)
        assert run.code == 1 and f"cannot reach {UNREACHABLE}" in run.err, run.err
        assert "GET /_matrix/client/v3/account/whoami" in run.err, "-vv logs every request"

    assert len(h.captured) >= 40
    assert not h.leaks(), h.leaks()


class EchoHandler(http.server.BaseHTTPRequestHandler):
    """A broken homeserver (or proxy) that echoes the request headers in its error answers."""

    mode = "text"

    def _answer(self) -> None:
        auth = self.headers.get("Authorization", "")
        if self.mode == "text":
            status, body, kind = 400, f"Bad Request\nAuthorization: {auth}\n", "text/plain"
        elif self.mode == "json":
            status, kind = 403, "application/json"
            body = json.dumps({"errcode": "M_FORBIDDEN", "error": f"not allowed for {auth}"})
        else:
            status, kind = 401, "application/json"
            body = json.dumps({"errcode": "M_UNKNOWN_TOKEN", "error": f"unknown token {auth}"})
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("mode", ["text", "json", "auth"])
def test_token_not_echoed_back_from_a_server_error(tmp_path: Path, prefix, mode: str):
    """Whatever fails: even a server whose error text repeats the request must not make roomsync print the token."""
    handler = type("Handler", (EchoHandler,), {"mode": mode})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        h = Harness(url, tmp_path)
        token = fake_token()
        h.secret("the access token", token)
        config = write_config(tmp_path / "cfg", SERVER, [{"alias": f"{prefix}-x"}])
        run = h.run(config, "plan", token=token)
        assert run.code == 1
        assert "Traceback" not in run.err
        assert not h.leaks(), (h.leaks(), "stderr with the token replaced:", run.err.replace(token, "<TOKEN>"))
    finally:
        server.shutdown()
        server.server_close()


def test_exception_messages_never_hold_the_token(synapse, provisioner):
    """The exceptions the client raises, as any caller (or a traceback) would show them."""
    bad = fake_token()
    fast = RetryPolicy(transient_tries=1, backoff=0.01, timeout=5)

    async def fail(url: str, token: str) -> BaseException:
        try:
            async with Homeserver(url, token, fast) as hs:
                await hs.whoami()
        except HomeserverError as exc:
            return exc
        raise AssertionError("no error")

    cases = {
        "rejected": (synapse.url, bad),
        "unreachable": (UNREACHABLE, provisioner.token),
        "not matrix": (synapse.url + "/not-matrix", provisioner.token),
        "whitespace": (synapse.url, provisioner.token + " x"),
        "non-ascii": (synapse.url, provisioner.token + "é"),
    }
    for name, (url, token) in cases.items():
        exc = asyncio.run(fail(url, token))
        shown = "".join(
            [str(exc), repr(exc), *traceback.format_exception(exc), str(exc.__cause__), str(exc.__context__)]
        )
        for secret in (token, token.strip(), provisioner.token):
            assert secret not in shown, f"{name}: the token is in the exception"
