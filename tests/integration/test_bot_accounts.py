"""Bot accounts against the real Synapse: created as bots, profiled and exempted through the admin
API, errors for accounts roomsync must not fix, the note for a plain token, and `roomsync bot-token`."""

from __future__ import annotations

import stat
from pathlib import Path

import yaml

from tests.integration.helpers import resolve, roomsync, state, write_config
from tests.synapse import q

SERVER = "opendev.org"
CLIENT = "/_matrix/client/v3"
ADMIN = "/_synapse/admin/v1"


def write_bots(directory: Path, bots: list[dict]) -> None:
    (directory / "bots.yaml").write_text(yaml.safe_dump({"bots": bots}, sort_keys=False))


def account(synapse, admin_token: str, user_id: str) -> dict:
    status, answer = synapse.request("GET", f"/_synapse/admin/v2/users/{q(user_id)}", admin_token)
    assert status == 200, answer
    return answer


def override(synapse, admin_token: str, user_id: str) -> dict:
    status, answer = synapse.request("GET", f"{ADMIN}/users/{q(user_id)}/override_ratelimit", admin_token)
    assert status == 200, answer
    return answer


def test_a_missing_bot_is_created_joined_profiled_and_exempted(synapse, provisioner, make_user, prefix, tmp_path):
    p = prefix
    new_bot = f"@{p}-gerrit:{SERVER}"
    plain = make_user("plain")  # an existing account, no token_env: its profile comes through the admin API
    rooms = [{"alias": f"{p}-zuul", "join_rule": "public"}, {"alias": f"{p}-private", "join_rule": "invite"}]
    config = write_config(tmp_path, SERVER, rooms)
    write_bots(
        config,
        [
            {
                "name": "gerritbot",
                "user": new_bot,
                "rooms": ["*"],
                "power_level": 10,
                "display_name": "Gerrit Bot",
                "avatar": "mxc://opendev.org/gerrit",
                "token_env": "NEW_GERRIT_TOKEN",
                "create_account": True,
                "rate_limit": "exempt",
            },
            {"name": "plainbot", "user": plain.user_id, "rooms": [f"{p}-zuul"], "display_name": "Plain Bot"},
        ],
    )
    run = lambda *a: roomsync(config, *a, url=synapse.url, token=provisioner.token)  # noqa: E731

    planned = run("plan")
    assert planned.code == 0, planned.out + planned.err
    assert f"+ bot gerritbot ({new_bot}): its account will be created" in planned.out
    assert '    rate_limit: (none) -> "exempt"' in planned.out
    assert '    user_type: (none) -> "bot"' in planned.out
    assert "NEW_GERRIT_TOKEN" not in planned.out, "a bot created here is joined without its token"
    assert "without token_env" not in planned.out and "not checked" not in planned.out

    synced = run("sync")  # NEW_GERRIT_TOKEN is not set: sync must not need it
    assert synced.code == 0, synced.out + synced.err
    created = account(synapse, provisioner.token, new_bot)
    assert (created["user_type"], created["displayname"], created["avatar_url"]) == (
        "bot",
        "Gerrit Bot",
        "mxc://opendev.org/gerrit",
    )
    assert not created["admin"] and not created["deactivated"]
    assert override(synapse, provisioner.token, new_bot) == {"messages_per_second": 0, "burst_count": 0}
    for alias in (f"{p}-zuul", f"{p}-private"):
        live = state(synapse, provisioner.token, resolve(synapse, f"#{alias}:{SERVER}"))
        assert live[("m.room.member", new_bot)]["membership"] == "join", alias
        assert live[("m.room.power_levels", "")]["users"][new_bot] == 10
    plain_account = account(synapse, provisioner.token, plain.user_id)
    assert (plain_account["user_type"], plain_account["displayname"]) == ("bot", "Plain Bot")
    assert run("plan", "--detailed-exitcode").code == 0

    # The exemption removed by hand is drift; sync restores it.
    status, _ = synapse.request("DELETE", f"{ADMIN}/users/{q(new_bot)}/override_ratelimit", provisioner.token)
    assert status == 200
    drift = run("plan", "--detailed-exitcode")
    assert drift.code == 2, drift.out + drift.err
    assert f"~ bot gerritbot ({new_bot})" in drift.out
    assert '    rate_limit: "default" -> "exempt"' in drift.out
    assert run("sync").code == 0
    assert override(synapse, provisioner.token, new_bot) == {"messages_per_second": 0, "burst_count": 0}
    assert run("plan", "--detailed-exitcode").code == 0


def test_deactivated_and_server_admin_bots_are_errors_and_the_rest_goes_through(
    synapse, provisioner, make_user, prefix, tmp_path
):
    p = prefix
    gone, helper = make_user("gone"), make_user("helper")
    boss = f"@{p}-boss:{SERVER}"
    synapse.register(f"{p}-boss", admin=True)
    status, answer = synapse.request(
        "POST", f"{ADMIN}/deactivate/{q(gone.user_id)}", provisioner.token, body={"erase": False}
    )
    assert status == 200, answer
    config = write_config(tmp_path, SERVER, [{"alias": f"{p}-room", "topic": "declared"}])
    write_bots(
        config,
        [
            {"name": "gonebot", "user": gone.user_id, "rooms": ["*"]},
            {"name": "bossbot", "user": boss, "rooms": ["*"]},
            {"name": "helperbot", "user": helper.user_id, "rooms": ["*"], "display_name": "Helper"},
        ],
    )
    run = lambda *a: roomsync(config, *a, url=synapse.url, token=provisioner.token)  # noqa: E731

    planned = run("plan", "--format", "json")
    assert planned.code == 1, planned.out + planned.err
    errors = {bot["name"]: bot["errors"] for bot in planned.json["bots"]}
    assert "deactivated" in errors["gonebot"][0] and "never reactivates" in errors["gonebot"][0]
    assert "server admin" in errors["bossbot"][0] and "must not hold server-wide power" in errors["bossbot"][0]
    assert errors["helperbot"] == []

    synced = run("sync")
    assert synced.code == 1, synced.out + synced.err
    assert f"! bot bossbot ({boss}) cannot be synced" in synced.out
    assert "FAILED  bot gonebot:" in synced.out and "FAILED  bot bossbot:" in synced.out
    room_id = resolve(synapse, f"#{p}-room:{SERVER}")
    live = state(synapse, provisioner.token, room_id)
    assert live[("m.room.topic", "")] == {"topic": "declared"}, "the room went through"
    assert live[("m.room.member", helper.user_id)]["membership"] == "invite", "the good bot went through"
    assert account(synapse, provisioner.token, helper.user_id)["displayname"] == "Helper"
    assert ("m.room.member", boss) not in live and ("m.room.member", gone.user_id) not in live
    after = account(synapse, provisioner.token, boss), account(synapse, provisioner.token, gone.user_id)
    assert after[0]["admin"] and after[1]["deactivated"], "roomsync never changes either"


def test_a_plain_token_gives_one_note_and_never_invites_an_account_it_cannot_create(
    synapse, make_user, prefix, tmp_path
):
    p = prefix
    owner, existing = make_user("owner"), make_user("existing")
    config = write_config(tmp_path, SERVER, [{"alias": f"{p}-room"}])
    write_bots(
        config,
        [
            {
                "name": "newbot",
                "user": f"@{p}-new:{SERVER}",
                "rooms": ["*"],
                "create_account": True,
                "rate_limit": "exempt",
            },
            {"name": "oldbot", "user": existing.user_id, "rooms": ["*"], "display_name": "Old Bot"},
        ],
    )
    planned = roomsync(config, "plan", url=synapse.url, token=owner.token)
    assert planned.code == 1, planned.out + planned.err
    lines = [line for line in planned.out.splitlines() if "not checked" in line]
    assert lines == [
        "  bot accounts were not checked through Synapse's admin API (user type, rate limit): "
        "the token is not a Synapse server admin's"
    ]
    assert "bot oldbot: the profile differs from bots.yaml, but without token_env roomsync cannot set it" in planned.out
    # The new bot's account does not exist (its profile answers 404) and this token cannot create it:
    # an error for that bot, never an invite to an account that does not exist.
    assert (
        f"the account @{p}-new:{SERVER} does not exist, and create_account needs Synapse's admin API: "
        "the token is not a Synapse server admin's"
    ) in planned.out
    assert f"member.@{p}-new:{SERVER}" not in planned.out
    assert "account will be created" not in planned.out


def test_bot_token_writes_a_working_token_to_a_private_file(synapse, provisioner, make_user, prefix, tmp_path):
    p = prefix
    bot = make_user("tokenbot")
    config = write_config(tmp_path / "cfg", SERVER, [{"alias": f"{p}-room"}])
    write_bots(
        config,
        [
            {"name": "tokenbot", "user": bot.user_id, "rooms": ["*"]},
            {"name": "remote", "user": "@bot:matrix.org", "rooms": ["*"]},
        ],
    )
    out = tmp_path / "secrets" / "tokenbot.token"
    out.parent.mkdir()
    run = lambda *a, token=provisioner.token: roomsync(config, *a, url=synapse.url, token=token)  # noqa: E731

    minted = run("-vv", "bot-token", "tokenbot", "--out", str(out))
    assert minted.code == 0, minted.out + minted.err
    token = out.read_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert token and token not in minted.out + minted.err
    assert minted.out == f"wrote a new access token for tokenbot ({bot.user_id}) to {out} (mode 0600)\n"
    status, answer = synapse.request("GET", f"{CLIENT}/account/whoami", token)
    assert (status, answer.get("user_id")) == (200, bot.user_id)

    refused = run("bot-token", "tokenbot", "--out", str(out))
    assert refused.code == 1 and out.read_text() == token
    assert refused.err == f"roomsync: error: {out} already exists; use --force to replace it\n"
    replaced = run("bot-token", "tokenbot", "--out", str(out), "--force")
    assert replaced.code == 0, replaced.err
    assert out.read_text() != token and out.read_text() not in replaced.out + replaced.err
    assert stat.S_IMODE(out.stat().st_mode) == 0o600

    for args, words in ((("nobody",), "no bot named 'nobody'"), (("remote",), "is not on opendev.org")):
        failed = run("bot-token", *args, "--out", str(tmp_path / "x"))
        assert failed.code == 1 and words in failed.err and failed.err.count("\n") == 1, failed.err
    plain = run("bot-token", "tokenbot", "--out", str(tmp_path / "y"), token=make_user("plain").token)
    assert plain.code == 1 and "server admin" in plain.err and plain.err.count("\n") == 1, plain.err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
