"""`state:` against the real Synapse: declared events set, drift repaired, an event removed with
`content: null`, the declared state carried through an upgrade, and `import --all-state` written
back so that the round trip is clean."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import SERVER_NAME as SERVER
from tests.integration.helpers import CLIENT, resolve, roomsync, state, write_config
from tests.synapse import q

RETENTION = {"type": "m.room.retention", "content": {"max_lifetime": 2592000000}}
WIDGET = {
    "type": "im.vector.modular.widgets",
    "state_key": "meeting",
    "content": {"type": "jitsi", "url": "https://meetpad.opendev.org/zuul", "name": "Meetpad"},
}
PINNED = {"type": "m.room.pinned_events", "content": {"pinned": []}}


def test_declared_state_is_set_repaired_removed_and_kept_through_an_upgrade(
    synapse, provisioner, tmp_path: Path, prefix: str
):
    alias = f"{prefix}-st"
    room = {"alias": alias, "room_version": "11", "state": [RETENTION, WIDGET, PINNED]}
    config = write_config(tmp_path / "c", SERVER, [room])
    run = lambda *args: roomsync(config, *args, url=synapse.url, token=provisioner.token)  # noqa: E731
    assert run("sync").code == 0
    room_id = resolve(synapse, f"#{alias}:{SERVER}")
    found = state(synapse, provisioner.token, room_id)
    assert found[("m.room.retention", "")] == RETENTION["content"]
    assert found[("im.vector.modular.widgets", "meeting")] == WIDGET["content"]
    assert found[("m.room.pinned_events", "")] == PINNED["content"]
    assert run("plan", "--detailed-exitcode").code == 0

    # Drift: changed by hand, shown and put back. An event nobody declared is left alone.
    path = f"{CLIENT}/rooms/{q(room_id)}/state/m.room.retention/"
    assert synapse.request("PUT", path, provisioner.token, body={"max_lifetime": 1})[0] == 200
    other = f"{CLIENT}/rooms/{q(room_id)}/state/org.example.note/"
    assert synapse.request("PUT", other, provisioner.token, body={"text": "hand-made"})[0] == 200
    planned = run("plan")
    assert 'state.m.room.retention: {"max_lifetime": 1} -> {"max_lifetime": 2592000000}' in planned.out, planned.out
    assert "org.example.note" not in planned.out
    assert run("sync").code == 0
    assert state(synapse, provisioner.token, room_id)[("m.room.retention", "")] == RETENTION["content"]

    # content: null removes the event (empty content, as Matrix removes state).
    room["state"] = [RETENTION, {**WIDGET, "content": None}, PINNED]
    write_config(tmp_path / "c", SERVER, [room])
    planned = run("plan")
    assert "state.im.vector.modular.widgets[meeting]:" in planned.out and "-> (removed)" in planned.out
    assert run("sync").code == 0
    assert state(synapse, provisioner.token, room_id)[("im.vector.modular.widgets", "meeting")] == {}
    assert run("plan", "--detailed-exitcode").code == 0

    # An upgrade: the new room gets the declared state too.
    room["room_version"] = "12"
    write_config(tmp_path / "c", SERVER, [room])
    assert run("sync").code == 0
    new = resolve(synapse, f"#{alias}:{SERVER}")
    assert new != room_id
    found = state(synapse, provisioner.token, new)
    assert found[("m.room.retention", "")] == RETENTION["content"]
    assert found[("m.room.pinned_events", "")] == PINNED["content"]
    assert found.get(("im.vector.modular.widgets", "meeting"), {}) == {}
    assert run("plan", "--detailed-exitcode").code == 0

    # import --all-state writes what no field covers; the round trip is clean.
    fresh = tmp_path / "fresh"
    (fresh / "rooms").mkdir(parents=True)
    (fresh / "roomsync.yaml").write_text(f"server_name: {SERVER}\n")
    out = fresh / "rooms" / "i.yaml"
    imported = roomsync(
        fresh, "import", alias, "--all-state", "--out", str(out), url=synapse.url, token=provisioner.token
    )
    assert imported.code == 0, imported.err
    written = {
        (e["type"], e.get("state_key", "")): e["content"] for e in yaml.safe_load(out.read_text())["rooms"][0]["state"]
    }
    assert written[("m.room.retention", "")] == RETENTION["content"]
    assert not any(kind.startswith(("m.room.name", "m.room.power_levels", "m.room.member")) for kind, _ in written)
    assert roomsync(fresh, "plan", "--detailed-exitcode", url=synapse.url, token=provisioner.token).code == 0


def test_a_type_roomsync_manages_itself_is_refused_naming_the_field(synapse, tmp_path: Path, prefix: str):
    config = write_config(
        tmp_path / "c",
        SERVER,
        [{"alias": f"{prefix}-x", "state": [{"type": "m.room.topic", "content": {"topic": "t"}}]}],
    )
    refused = roomsync(config, "validate", url=synapse.url, token=None)
    assert refused.code == 1
    assert refused.err.strip().endswith("rooms.yaml:4:11: state: m.room.topic is managed through topic; use that")
