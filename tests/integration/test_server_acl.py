"""Server ACLs against the real Synapse: set, kept through an upgrade, imported back, and never
one that would shut roomsync's own server out."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import SERVER_NAME as SERVER
from tests.integration.helpers import CLIENT, resolve, roomsync, state, write_config

ACL = {"deny": ["*.spam.example", "badhost.example"]}
CONTENT = {"allow": ["*"], "deny": ["*.spam.example", "badhost.example"], "allow_ip_literals": False}


def test_an_acl_is_set_kept_through_an_upgrade_and_imported_back(synapse, provisioner, tmp_path: Path, prefix: str):
    alias, full = f"{prefix}-acl", f"#{prefix}-acl:{SERVER}"
    config = write_config(tmp_path / "c", SERVER, [{"alias": alias, "room_version": "11", "server_acl": ACL}])
    run = lambda *args: roomsync(config, *args, url=synapse.url, token=provisioner.token)  # noqa: E731
    synced = run("sync")
    assert synced.code == 0, synced.out + synced.err
    old = resolve(synapse, full)
    assert state(synapse, provisioner.token, old)[("m.room.server_acl", "")] == CONTENT

    write_config(tmp_path / "c", SERVER, [{"alias": alias, "room_version": "12", "server_acl": ACL}])
    assert run("sync").code == 0
    new = resolve(synapse, full)
    assert new != old and state(synapse, provisioner.token, new)[("m.room.server_acl", "")] == CONTENT
    assert run("plan", "--detailed-exitcode").code == 0

    fresh = tmp_path / "fresh"
    (fresh / "rooms").mkdir(parents=True)
    (fresh / "roomsync.yaml").write_text(f"server_name: {SERVER}\n")
    imported = roomsync(
        fresh, "import", alias, "--out", str(fresh / "rooms" / "i.yaml"), url=synapse.url, token=provisioner.token
    )
    assert imported.code == 0, imported.err
    assert yaml.safe_load((fresh / "rooms" / "i.yaml").read_text())["rooms"][0]["server_acl"] == CONTENT
    assert roomsync(fresh, "plan", "--detailed-exitcode", url=synapse.url, token=provisioner.token).code == 0


def test_an_acl_that_would_deny_our_own_server_is_refused_and_never_sent(
    synapse, provisioner, tmp_path: Path, prefix: str
):
    alias, full = f"{prefix}-locked", f"#{prefix}-locked:{SERVER}"
    config = write_config(tmp_path / "c", SERVER, [{"alias": alias}])
    assert roomsync(config, "sync", url=synapse.url, token=provisioner.token).code == 0
    for acl, said in (({"deny": ["opendev.*"]}, "the homeserver opendev.org"), ({"allow": []}, "matches no server")):
        write_config(tmp_path / "c", SERVER, [{"alias": alias, "server_acl": acl}])
        refused = roomsync(config, "validate", url=synapse.url, token=None)
        assert refused.code == 1 and said in refused.out + refused.err
    assert ("m.room.server_acl", "") not in state(synapse, provisioner.token, resolve(synapse, full))


def test_an_acl_that_would_deny_a_bots_or_a_creators_server_is_refused(
    synapse, provisioner, tmp_path: Path, prefix: str
):
    alias = f"{prefix}-guarded"
    config = write_config(tmp_path / "c", SERVER, [{"alias": alias, "server_acl": {"deny": ["*.example.net"]}}])
    (config / "bots.yaml").write_text(
        f"bots:\n  - name: meetbot\n    user: '@meetbot:bots.example.net'\n    rooms: [{alias}]\n"
    )
    refused = roomsync(config, "validate", url=synapse.url, token=None)
    assert refused.code == 1 and "it would deny the bot meetbot @meetbot:bots.example.net" in refused.err

    (config / "bots.yaml").unlink()
    creator = "@root:infra.example.net"
    write_config(
        tmp_path / "c",
        SERVER,
        [{"alias": alias, "creators": [creator], "server_acl": {"deny": ["*.example.net"]}}],
    )
    refused = roomsync(config, "validate", url=synapse.url, token=None)
    assert refused.code == 1 and f"it would deny the creator {creator}" in refused.err

    # A creator nobody declares (made by hand) is found in the live room: plan refuses there.
    full = f"#{alias}:{SERVER}"
    status, made = synapse.request(
        "POST",
        f"{CLIENT}/createRoom",
        provisioner.token,
        body={"room_alias_name": alias, "creation_content": {"additional_creators": [creator]}},
    )
    assert status == 200, made
    write_config(tmp_path / "c", SERVER, [{"alias": alias, "server_acl": {"deny": ["*.example.net"]}}])
    assert roomsync(config, "validate", url=synapse.url, token=None).code == 0
    planned = roomsync(config, "plan", url=synapse.url, token=provisioner.token)
    assert planned.code != 0 and f"it would deny the creator {creator}" in planned.out, planned.out + planned.err
    synced = roomsync(config, "sync", url=synapse.url, token=provisioner.token)
    assert synced.code != 0
    assert ("m.room.server_acl", "") not in state(synapse, provisioner.token, resolve(synapse, full))
