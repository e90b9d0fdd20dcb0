"""Mistakes of a newcomer's first hour: each is said plainly, naming the file or the command that helps."""

from __future__ import annotations

from pathlib import Path

import pytest

from roomsync.cli.common import ENV_TOKEN, ENV_TOKEN_FILE, access_token
from roomsync.errors import RoomsyncError
from roomsync.model import BotSpec
from roomsync.plan import make_plan
from tests.unit.planning import config, snapshot, spec


@pytest.mark.parametrize("content", ["", "\n", "   \n"])
def test_an_empty_token_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(content)
    monkeypatch.delenv(ENV_TOKEN, raising=False)
    monkeypatch.setenv(ENV_TOKEN_FILE, str(token_file))
    with pytest.raises(RoomsyncError, match=f"{ENV_TOKEN_FILE} names {token_file}, which is empty"):
        access_token()


def test_a_blank_token_is_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_TOKEN_FILE, raising=False)
    monkeypatch.setenv(ENV_TOKEN, "  ")
    with pytest.raises(RoomsyncError, match="no access token"):
        access_token()


def test_a_missing_bot_token_names_roomsync_bot_token() -> None:
    import dataclasses

    bot = BotSpec("gerritbot", "@gerrit:opendev.org", ("dev",), token_env="GERRITBOT_TOKEN")
    cfg = dataclasses.replace(config(spec("dev")), bots=(bot,))
    plan = make_plan(cfg, snapshot(), tokens=frozenset())
    notes = [n for room in plan.rooms for n in room.notes]
    assert any("GERRITBOT_TOKEN is not set" in n and "roomsync bot-token gerritbot --out FILE" in n for n in notes)


# --- accounts that do not exist, versions not offered ---------------------------------------------


def _with(bots: tuple[BotSpec, ...], *specs, **snapshot_fields):
    import dataclasses

    cfg = dataclasses.replace(config(*(specs or (spec("dev"),))), bots=bots)
    return make_plan(cfg, dataclasses.replace(snapshot(), **snapshot_fields))


MISSING = "@missing:opendev.org"


def test_a_bot_whose_account_does_not_exist_is_an_error_never_an_invite() -> None:
    plan = _with((BotSpec("gone", MISSING, ("dev",)),), existing={MISSING: False})
    (bot,) = plan.bots
    assert any("does not exist" in e for e in bot.errors)
    assert not any(a for room in plan.rooms for a in room.actions if getattr(a, "user", None) == MISSING)


def test_create_account_without_the_admin_api_is_an_error_that_says_so() -> None:
    bot = BotSpec("new", MISSING, ("dev",), create_account=True)
    hidden = "the homeserver does not expose Synapse's admin API"
    (planned,) = _with((bot,), existing={MISSING: False}, admin_absent=hidden).bots
    assert planned.errors and hidden in planned.errors[0]
    # With the account's own plain token: an error too (sync could not create it) ...
    plain = "the token is not a Synapse server admin's"
    (planned,) = _with((bot,), existing={MISSING: False}, admin_absent=plain).bots
    assert planned.errors and plain in planned.errors[0]
    # ... but an observer cannot tell whether the account's token could: the run's note says so.
    observed = _with((bot,), existing={MISSING: False}, admin_absent=plain, reader="@observer:opendev.org")
    assert not observed.bots[0].errors
    assert any("not checked" in n for n in observed.notes)


def test_an_existing_account_is_planned_as_before() -> None:
    bot = BotSpec("here", "@here:opendev.org", ("dev",))
    plan = _with((bot,), existing={"@here:opendev.org": True})
    assert not plan.bots[0].errors
    assert any(a for room in plan.rooms for a in room.actions if getattr(a, "user", None) == bot.user)


def test_a_member_whose_local_account_does_not_exist_is_an_error_for_the_room() -> None:
    room_spec = spec("dev", join_rule="invite", members=(MISSING, "@alice:matrix.org"))
    (planned,) = _with((), room_spec, existing={MISSING: False}).rooms
    assert any(MISSING in e and "does not exist" in e for e in planned.errors)


def test_a_room_version_the_server_does_not_offer_is_an_error_for_a_new_room() -> None:
    (planned,) = _with((), spec("dev", room_version="99"), room_versions=frozenset({"10", "11", "12"})).rooms
    assert any("room_version 99 is not offered" in e for e in planned.errors)


def test_local_user_names_are_checked_before_anything_starts() -> None:
    from roomsync.localserver import _check_users, user_env_name

    assert user_env_name("bob.smith") == "ROOMSYNC_USER_BOB_SMITH_TOKEN"
    _check_users(("alice",), "opendev.org", {"@roomsync:opendev.org"})
    with pytest.raises(RoomsyncError, match="--user Alice"):
        _check_users(("Alice",), "opendev.org", set())
    with pytest.raises(RoomsyncError, match="is the account or a bot"):
        _check_users(("roomsync",), "opendev.org", {"@roomsync:opendev.org"})


def test_a_saved_plan_with_bot_changes_in_rooms_reads_back_as_it_was_made(tmp_path: Path) -> None:
    import dataclasses
    import json

    from roomsync.render import plan_json
    from roomsync.savedplan import Made, compare, load

    bot = BotSpec("gerritbot", "@gerrit:opendev.org", ("dev",), display_name="Gerrit")
    plan = make_plan(dataclasses.replace(config(spec("dev")), bots=(bot,)), snapshot())
    assert any(c.section == "bots" for room in plan.rooms for c in room.changes), "a bot's membership in a room"
    made = Made("https://hs", "opendev.org", "@roomsync:opendev.org", "1", "digest", None, ())
    path = tmp_path / "plan.json"
    path.write_text(plan_json(plan, made.document()))
    saved = load(path)
    assert json.loads(path.read_text())["saved"]["server_name"] == "opendev.org"
    assert compare(saved, plan).moved == () and compare(saved, plan).done == 0
