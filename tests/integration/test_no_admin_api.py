"""A homeserver whose reverse proxy hides Synapse's admin API: a run asks the admin API once, then
goes on as with a plain account's token, and says once what it could not check."""

from __future__ import annotations

import yaml

from tests.integration.helpers import published, resolve, roomsync, write_config
from tests.integration.http_proxy import AdminHidingProxy

SERVER = "opendev.org"
NOTE = "bot accounts were not checked through Synapse's admin API"


def test_plan_and_sync_ask_a_hidden_admin_api_once(synapse, provisioner, make_user, prefix, tmp_path):
    p = prefix
    helper, reader = make_user("helper"), make_user("reader")
    rooms = [
        {"alias": f"{p}-open", "topic": "open", "directory": "public", "join_rule": "public"},
        {"alias": f"{p}-closed", "topic": "closed", "directory": "private"},
    ]
    config = write_config(tmp_path, SERVER, rooms)
    bots = [
        {"name": "helper", "user": helper.user_id, "rooms": ["*"], "display_name": "Helper", "token_env": "HELPER"},
        {"name": "reader", "user": reader.user_id, "rooms": [f"{p}-open"]},
    ]
    (config / "bots.yaml").write_text(yaml.safe_dump({"bots": bots}))
    env = {"HELPER": helper.token}

    # A plain account's token, straight to Synapse: what a run without the admin API looks like.
    plain = make_user("plain")
    as_plain = roomsync(config, "plan", "--detailed-exitcode", url=synapse.url, token=plain.token, env=env)
    assert as_plain.code == 2, as_plain.out + as_plain.err
    assert as_plain.out.count(NOTE) == 1, as_plain.out

    with AdminHidingProxy(synapse.port) as proxy:
        # The server admin's own token, through the proxy: the admin API answers 404 once, and
        # the bot accounts, the admin room list and the rate-limit exemption are not asked again.
        planned = roomsync(config, "plan", "--detailed-exitcode", url=proxy.url, token=provisioner.token, env=env)
        assert planned.code == as_plain.code, planned.out + planned.err
        assert len(proxy.admin_requests) == 1, proxy.admin_requests
        assert planned.out.count(NOTE) == 1, planned.out
        assert f"{NOTE} (user type, rate limit): the homeserver does not expose Synapse's admin API" in planned.out
        assert any(line.startswith("GET /_matrix/client/") for line in proxy.requests), "the proxy forwards"

        proxy.clear()
        synced = roomsync(config, "sync", url=proxy.url, token=provisioner.token, env=env)
        assert synced.code == 0, synced.out + synced.err
        assert len(proxy.admin_requests) == 1, proxy.admin_requests
        assert synced.out.count(NOTE) == 1, synced.out

        proxy.clear()
        again = roomsync(config, "plan", "--detailed-exitcode", url=proxy.url, token=provisioner.token, env=env)
        assert again.code == 0, again.out + again.err
        assert len(proxy.admin_requests) == 1, proxy.admin_requests

    # The sync did its work without the admin API: the rooms, the directory, the bot that joins by itself.
    open_room, closed_room = resolve(synapse, f"#{p}-open:{SERVER}"), resolve(synapse, f"#{p}-closed:{SERVER}")
    assert open_room and closed_room
    assert published(synapse, open_room) and not published(synapse, closed_room)
    status, joined = synapse.request("GET", "/_matrix/client/v3/joined_rooms", helper.token)
    assert status == 200 and {open_room, closed_room} <= set(joined["joined_rooms"])
