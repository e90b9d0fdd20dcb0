"""`plan --out plan.json` then `sync --plan plan.json`: exactly the reviewed plan is applied, against
the real Synapse; a stale plan sends nothing."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import SERVER_NAME as SERVER
from tests.conftest import Account
from tests.integration.helpers import CLIENT, Result, resolve, roomsync, state, write_config
from tests.synapse import SynapseServer, q


def run(synapse: SynapseServer, provisioner: Account, config: Path, *args: str, url: str | None = None) -> Result:
    return roomsync(config, *args, url=url or synapse.url, token=provisioner.token)


def topic(synapse: SynapseServer, token: str, alias: str) -> str | None:
    room_id = resolve(synapse, alias)
    assert room_id
    return state(synapse, token, room_id).get(("m.room.topic", ""), {}).get("topic")


def name(synapse: SynapseServer, token: str, alias: str) -> str | None:
    room_id = resolve(synapse, alias)
    assert room_id
    return state(synapse, token, room_id).get(("m.room.name", ""), {}).get("name")


def saved(synapse: SynapseServer, provisioner: Account, config: Path, path: Path) -> dict:
    made = run(synapse, provisioner, config, "plan", "--out", str(path))
    assert made.code == 0, made.out + made.err
    return json.loads(path.read_text())


def test_a_saved_plan_is_applied(synapse, provisioner, tmp_path: Path, prefix: str):
    config = write_config(tmp_path / "c", SERVER, [{"alias": f"{prefix}-a", "topic": "one"}, {"alias": f"{prefix}-b"}])
    document = saved(synapse, provisioner, config, tmp_path / "plan.json")
    assert document["saved"]["server_name"] == SERVER and document["saved"]["account"] == provisioner.user_id
    assert len(document["saved"]["config_digest"]) == 64
    applied = run(synapse, provisioner, config, "sync", "--plan", str(tmp_path / "plan.json"))
    assert applied.code == 0, applied.out + applied.err
    assert topic(synapse, provisioner.token, f"#{prefix}-a:{SERVER}") == "one"
    assert resolve(synapse, f"#{prefix}-b:{SERVER}")
    assert run(synapse, provisioner, config, "plan", "--detailed-exitcode").code == 0
    # Applied again: every change is made already, nothing moved: a clean no-op.
    again = run(synapse, provisioner, config, "sync", "--plan", str(tmp_path / "plan.json"))
    assert again.code == 0, again.out + again.err
    assert "made already" in again.err


def test_a_stale_plan_is_refused_and_nothing_is_sent(synapse, provisioner, tmp_path: Path, prefix: str):
    alias = f"#{prefix}-s:{SERVER}"
    config = write_config(tmp_path / "c", SERVER, [{"alias": f"{prefix}-s", "topic": "one", "name": "One"}])
    assert run(synapse, provisioner, config, "sync").code == 0
    write_config(tmp_path / "c", SERVER, [{"alias": f"{prefix}-s", "topic": "two", "name": "Two"}])
    saved(synapse, provisioner, config, tmp_path / "plan.json")
    # Someone changes the topic by hand after the review.
    room_id = resolve(synapse, alias)
    status, _ = synapse.request(
        "PUT", f"{CLIENT}/rooms/{q(room_id)}/state/m.room.topic/", provisioner.token, body={"topic": "by hand"}
    )
    assert status == 200
    refused = run(synapse, provisioner, config, "sync", "--plan", str(tmp_path / "plan.json"))
    assert refused.code == 1
    assert "the plan is stale: run plan again" in refused.err and "nothing was sent" in refused.err
    assert f"{alias} topic" in refused.err and '"by hand"' in refused.err
    assert topic(synapse, provisioner.token, alias) == "by hand"
    assert name(synapse, provisioner.token, alias) == "One"  # the reviewed name change was not sent either


def test_two_saved_plans_of_successive_merges_apply_in_order(synapse, provisioner, tmp_path: Path, prefix: str):
    alias = f"#{prefix}-m:{SERVER}"
    first_rooms = [{"alias": f"{prefix}-m", "topic": "first"}]
    second_rooms = [{"alias": f"{prefix}-m", "topic": "first", "name": "Second"}]
    write_config(tmp_path / "one", SERVER, first_rooms)
    write_config(tmp_path / "two", SERVER, second_rooms)
    # Both were planned (gated) before either merged: both show the room's creation.
    saved(synapse, provisioner, tmp_path / "one", tmp_path / "one.json")
    saved(synapse, provisioner, tmp_path / "two", tmp_path / "two.json")
    assert run(synapse, provisioner, tmp_path / "one", "sync", "--plan", str(tmp_path / "one.json")).code == 0
    second = run(synapse, provisioner, tmp_path / "two", "sync", "--plan", str(tmp_path / "two.json"))
    assert second.code == 0, second.out + second.err
    assert (topic(synapse, provisioner.token, alias), name(synapse, provisioner.token, alias)) == ("first", "Second")


def test_a_plan_for_another_server_account_or_config_is_refused_before_any_request(
    synapse, provisioner, tmp_path: Path, prefix: str
):
    config = write_config(tmp_path / "c", SERVER, [{"alias": f"{prefix}-x"}], account=provisioner.user_id)
    document = saved(synapse, provisioner, config, tmp_path / "plan.json")
    nowhere = "http://127.0.0.1:9"  # nothing listens: any request would fail with another message
    for key, value, said in (
        ("server_name", "example.net", "the server example.net"),
        ("account", "@someone:opendev.org", "the account @someone:opendev.org"),
        ("homeserver", "https://matrix.example.net", "the homeserver https://matrix.example.net"),
    ):
        other = tmp_path / f"{key}.json"
        other.write_text(json.dumps({**document, "saved": {**document["saved"], key: value}}))
        # A bad token: a request would be refused with another message.
        refused = roomsync(config, "sync", "--plan", str(other), url=synapse.url, token="not-a-token")
        assert refused.code == 1 and said in refused.err and "nothing was sent" in refused.err, refused.err
    # The config changed after the plan was made (a later commit): stale.
    write_config(tmp_path / "c", SERVER, [{"alias": f"{prefix}-x", "topic": "new"}], account=provisioner.user_id)
    refused = roomsync(config, "sync", "--plan", str(tmp_path / "plan.json"), url=synapse.url, token="not-a-token")
    assert refused.code == 1 and "another config" in refused.err and "run plan again" in refused.err
    not_a_plan = tmp_path / "text.txt"
    not_a_plan.write_text("Plan: 1 to create\n")
    refused = run(synapse, provisioner, config, "sync", "--plan", str(not_a_plan), url=nowhere)
    assert refused.code == 1 and "is not a plan" in refused.err
    assert "Traceback" not in refused.err


def test_a_rename_shows_and_counts_the_old_alias_removed(synapse, provisioner, tmp_path: Path, prefix: str):
    config = write_config(tmp_path / "c", SERVER, [{"alias": f"{prefix}-old"}])
    assert run(synapse, provisioner, config, "sync").code == 0
    write_config(tmp_path / "c", SERVER, [{"alias": f"{prefix}-new", "formerly": [f"{prefix}-old"]}])
    planned = run(synapse, provisioner, config, "plan")
    assert planned.code == 0, planned.err
    assert f'formerly: "#{prefix}-old:{SERVER}" -> (removed)' in planned.out
    assert "Removals: 1" in planned.out
    document = json.loads(run(synapse, provisioner, config, "plan", "--format", "json").out)
    assert document["summary"]["removals"] == 1
    assert run(synapse, provisioner, config, "sync").code == 0
    assert resolve(synapse, f"#{prefix}-old:{SERVER}") is None
