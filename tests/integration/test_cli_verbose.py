"""-v/--verbose is accepted before and after the command, against the real Synapse."""

from __future__ import annotations

from tests.integration.helpers import roomsync, write_config

SERVER = "opendev.org"
WHOAMI = "roomsync: GET /_matrix/client/v3/account/whoami"


def test_verbose_before_or_after_the_command_logs_every_request(synapse, provisioner, prefix, tmp_path):
    config = write_config(tmp_path / "config", SERVER, [{"alias": f"{prefix}-verbose", "name": "Verbose"}])
    runs = {
        "quiet": roomsync(config, "plan", url=synapse.url, token=provisioner.token),
        "-v": roomsync(config, "plan", "-v", url=synapse.url, token=provisioner.token),
        "before": roomsync(config, "-vv", "plan", url=synapse.url, token=provisioner.token),
        "after": roomsync(config, "plan", "-vv", url=synapse.url, token=provisioner.token),
        "both": roomsync(config, "-v", "plan", "--verbose", url=synapse.url, token=provisioner.token),
    }
    for name, run in runs.items():
        assert run.code == 0, (name, run.err)
        assert f"#{prefix}-verbose:{SERVER}" in run.out, name
        assert provisioner.token not in run.out + run.err, name
    assert WHOAMI not in runs["quiet"].err and WHOAMI not in runs["-v"].err  # -v: retries and waits only
    for name in ("before", "after", "both"):  # -vv, however it is spelled: every request
        assert WHOAMI in runs[name].err.splitlines(), (name, runs[name].err)
