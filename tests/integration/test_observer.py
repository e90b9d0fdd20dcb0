"""Planning with a low-privilege observer's token on behalf of the provisioning account."""

from __future__ import annotations

import yaml

from tests.integration.helpers import put_state, resolve, roomsync, write_config

SERVER = "opendev.org"


def test_observer_plans_for_the_account_but_cannot_sync(synapse, provisioner, make_user, prefix, tmp_path, monkeypatch):
    observer, owner = make_user("observer"), make_user("owner")
    rooms = [
        {"alias": f"{prefix}-open", "topic": "declared", "join_rule": "public"},
        {"alias": f"{prefix}-closed", "topic": "declared", "join_rule": "invite", "directory": "private"},
    ]
    config = write_config(tmp_path, SERVER, rooms, account=provisioner.user_id)
    (config / "bots.yaml").write_text(
        yaml.safe_dump(
            {"bots": [{"name": "observer", "user": observer.user_id, "rooms": ["*"], "token_env": "OBSERVER_TOKEN"}]}
        )
    )
    monkeypatch.setenv("OBSERVER_TOKEN", observer.token)
    assert roomsync(config, "sync", url=synapse.url, token=provisioner.token).code == 0

    closed = resolve(synapse, f"#{prefix}-closed:{SERVER}")
    put_state(synapse, provisioner.token, closed, "m.room.topic", {"topic": "edited by hand"})
    as_observer = roomsync(config, "plan", "--detailed-exitcode", url=synapse.url, token=observer.token)
    assert as_observer.code == 2, as_observer.out + as_observer.err
    assert f"acting as {provisioner.user_id} (read by {observer.user_id})" in as_observer.out
    assert 'topic: "edited by hand" -> "declared"' in as_observer.out, "the observer reads invite-only rooms"
    assert "has power" not in as_observer.out, "power is the account's, not the observer's"

    refused = roomsync(config, "sync", url=synapse.url, token=observer.token)
    assert refused.code == 1
    assert f"names the account {provisioner.user_id}" in refused.err
    assert observer.token not in refused.out + refused.err

    # A room the account is not in, though the observer is: the plan says so.
    status, answer = synapse.request(
        "POST",
        "/_matrix/client/v3/createRoom",
        owner.token,
        body={"room_alias_name": f"{prefix}-foreign", "preset": "public_chat"},
    )
    assert status == 200
    assert synapse.request("POST", f"/_matrix/client/v3/join/{answer['room_id']}", observer.token, body={})[0] == 200
    rooms.append({"alias": f"{prefix}-foreign", "topic": "x"})
    write_config(tmp_path, SERVER, rooms, account=provisioner.user_id)
    foreign = roomsync(config, "plan", url=synapse.url, token=observer.token)
    assert foreign.code == 1
    assert f"the provisioning account {provisioner.user_id} is not joined" in foreign.out
