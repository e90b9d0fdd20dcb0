"""The .well-known delegation: `roomsync well-known` output served by a real local HTTP server."""

from __future__ import annotations

import http.server
import json
import threading
from functools import partial
from pathlib import Path

import pytest

from tests.integration.helpers import roomsync, write_config

SERVER = "opendev.org"
DELEGATION = {
    "server": "matrix.opendev.org:443",
    "client": {"base_url": "https://matrix.opendev.org", "identity_server": "https://identity.opendev.org"},
}


@pytest.fixture
def web_root(tmp_path: Path):
    """A static web server on a free loopback port, serving web_root; yields (root, url)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_well_known_round_trips_and_drift_is_reported(synapse, provisioner, prefix, tmp_path: Path, web_root):
    root, url = web_root
    config = write_config(tmp_path / "cfg", SERVER, [{"alias": f"{prefix}-wk"}], well_known={"url": url, **DELEGATION})
    run = lambda *a: roomsync(config, *a, url=synapse.url, token=provisioner.token)  # noqa: E731
    assert run("sync").code == 0

    # Nothing served yet: both files are missing, which is drift in its own section.
    missing = run("plan", "--detailed-exitcode")
    assert missing.code == 2
    assert '.well-known/matrix/server: "(missing (404))"' in missing.out
    assert "sync does not change the web server" in missing.out

    written = roomsync(config, "well-known", "--out", str(root), url="http://127.0.0.1:9", token=None)
    assert written.code == 0, written.err
    server_doc = json.loads((root / ".well-known/matrix/server").read_text())
    client_doc = json.loads((root / ".well-known/matrix/client").read_text())
    assert server_doc == {"m.server": "matrix.opendev.org:443"}
    assert client_doc == {
        "m.homeserver": {"base_url": "https://matrix.opendev.org"},
        "m.identity_server": {"base_url": "https://identity.opendev.org"},
    }
    clean = run("plan", "--detailed-exitcode")
    assert clean.code == 0, clean.out

    # Hand edits on the web server: a wrong value, then a file that is not JSON.
    (root / ".well-known/matrix/server").write_text('{"m.server": "old.opendev.org:8448"}')
    (root / ".well-known/matrix/client").write_text("<html>oops</html>")
    drift = run("plan", "--detailed-exitcode", "--format", "json")
    assert drift.code == 2
    fields = {c["field"]: c for c in drift.json["changes"] if c["section"] == "well_known"}
    assert fields[".well-known/matrix/server m.server"]["before"] == "old.opendev.org:8448"
    assert fields[".well-known/matrix/client"]["before"] == "(not a JSON object)"
    synced = run("sync")
    assert synced.code == 0 and "does not change the web server" in synced.out
    assert (root / ".well-known/matrix/server").read_text() == '{"m.server": "old.opendev.org:8448"}'


def test_unreachable_web_server_is_drift_not_a_crash(synapse, provisioner, prefix, tmp_path: Path):
    config = write_config(
        tmp_path,
        SERVER,
        [{"alias": f"{prefix}-wk2"}],
        well_known={"url": "http://127.0.0.1:9", "server": "matrix.opendev.org:443"},
    )
    result = roomsync(config, "plan", url=synapse.url, token=provisioner.token)
    assert result.code == 0, result.err
    assert "cannot fetch http://127.0.0.1:9/.well-known/matrix/server" in result.out
