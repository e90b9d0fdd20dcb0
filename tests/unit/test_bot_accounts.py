"""Bot accounts: what plan makes of the admin API's view of each local bot, how it is shown,
and the file `roomsync bot-token` writes."""

from __future__ import annotations

import dataclasses
import json
import stat
from pathlib import Path

import pytest

from roomsync import render
from roomsync.actions import (
    AdminJoin,
    CreateAccount,
    Invite,
    JoinAs,
    SetAccount,
    SetProfile,
    SetRateLimit,
)
from roomsync.bottoken import check_target, local_bot, write_secret
from roomsync.errors import RoomsyncError
from roomsync.live import BotAccount, describe_rate_limit, parse_account
from roomsync.model import BotSpec
from roomsync.plan import make_plan

from .planning import config, room, snapshot, spec

GERRIT = BotSpec(
    "gerritbot",
    "@gerrit:opendev.org",
    ("dev",),
    display_name="Gerrit Bot",
    avatar="mxc://opendev.org/gerrit",
    token_env="GERRITBOT_TOKEN",
    create_account=True,
    rate_limit="exempt",
)
STATUS = BotSpec("statusbot", "@status:opendev.org", ("*",))
REMOTE = BotSpec("remote", "@bot:matrix.org", ("dev",), display_name="Remote")
FINE = BotAccount(user_type="bot", displayname="Gerrit Bot", avatar_url="mxc://opendev.org/gerrit", rate_limit="exempt")


def plan_with(*bots: BotSpec, accounts=None, rooms=None, **kwargs):
    cfg = dataclasses.replace(config(spec("dev"), spec("other")), bots=bots)
    if rooms is None:
        rooms = {"dev": room(), "other": room(room_id="!other:opendev.org", canonical="#other:opendev.org")}
    snap = dataclasses.replace(snapshot(rooms), accounts=accounts, reader="@roomsync:opendev.org")
    return make_plan(cfg, snap, **kwargs)


def bot_plan(plan, name):
    return next(b for b in plan.bots if b.name == name)


def room_plan(plan, localpart):
    return next(r for r in plan.rooms if r.alias == f"#{localpart}:opendev.org")


# --- a missing account -----------------------------------------------------------------------


def test_a_missing_account_with_create_account_is_created_and_joined_through_the_admin_api():
    plan = plan_with(GERRIT, STATUS, accounts={GERRIT.user: None, STATUS.user: FINE}, tokens=set())
    gerrit = bot_plan(plan, "gerritbot")
    assert gerrit.create and gerrit.status == "create"
    assert gerrit.actions == (
        CreateAccount(GERRIT.user, "Gerrit Bot", "mxc://opendev.org/gerrit"),
        SetRateLimit(GERRIT.user, exempt=True),
    )
    assert [(c.field, c.before, c.after) for c in gerrit.changes] == [
        ("account", None, "created"),
        ("user_type", None, "bot"),
        ("display_name", None, "Gerrit Bot"),
        ("avatar", None, "mxc://opendev.org/gerrit"),
        ("rate_limit", None, "exempt"),
    ]
    dev = room_plan(plan, "dev")
    # Its token cannot exist yet: no JoinAs, and so no "GERRITBOT_TOKEN is not set" for sync to refuse on.
    assert [a for a in dev.actions if isinstance(a, (Invite, AdminJoin, JoinAs)) and a.user == GERRIT.user] == [
        Invite(GERRIT.user),
        AdminJoin(GERRIT.user),
    ]
    assert not any("GERRITBOT_TOKEN" in note for note in dev.notes)
    text = render.plan_text(plan)
    assert "+ bot gerritbot (@gerrit:opendev.org): its account will be created" in text
    assert '    account: (none) -> "created"' in text
    assert '    #dev:opendev.org member: (none) -> "join"' in text


def test_a_created_bot_without_token_env_is_only_invited():
    bot = dataclasses.replace(GERRIT, token_env=None)
    plan = plan_with(bot, accounts={bot.user: None})
    assert [a for a in room_plan(plan, "dev").actions if isinstance(a, (Invite, AdminJoin, JoinAs))] == [
        Invite(bot.user)
    ]


def test_a_missing_account_without_create_account_is_an_error_and_nothing_is_done_for_it():
    bot = dataclasses.replace(GERRIT, create_account=False)
    plan = plan_with(bot, STATUS, accounts={bot.user: None, STATUS.user: FINE})
    gerrit = bot_plan(plan, "gerritbot")
    assert gerrit.status == "error" and gerrit.actions == ()
    assert "does not exist" in gerrit.errors[0] and "create_account: true" in gerrit.errors[0]
    assert plan.has_errors
    dev = room_plan(plan, "dev")
    assert not any(getattr(a, "user", None) == bot.user for a in dev.actions)
    assert any(isinstance(a, Invite) and a.user == STATUS.user for a in dev.actions), "the other bot goes on"


@pytest.mark.parametrize(
    "flag, words",
    [
        ("deactivated", "roomsync never reactivates"),
        ("admin", "a bot must not hold server-wide power"),
        ("locked", "is locked"),
        ("shadow_banned", "silently dropped"),
    ],
)
def test_account_states_roomsync_never_changes_are_errors_for_that_bot(flag, words):
    broken = dataclasses.replace(FINE, **{flag: True})
    plan = plan_with(GERRIT, STATUS, accounts={GERRIT.user: broken, STATUS.user: FINE})
    gerrit = bot_plan(plan, "gerritbot")
    assert gerrit.status == "error" and words in gerrit.errors[0], gerrit.errors
    assert gerrit.actions == () and plan.has_errors
    assert not any(getattr(a, "user", None) == GERRIT.user for r in plan.rooms for a in r.actions)
    text = render.plan_text(plan)
    assert "! bot gerritbot (@gerrit:opendev.org) cannot be synced" in text
    assert f"    error: {gerrit.errors[0]}" in text
    assert text.rstrip().endswith("1 bot has errors.")
    document = json.loads(render.plan_json(plan))
    entry = next(b for b in document["bots"] if b["name"] == "gerritbot")
    assert entry["action"] == "error" and entry["errors"] == list(gerrit.errors)
    assert document["summary"]["bot_errors"] == 1
    markdown = render.plan_markdown(plan)
    assert "1 bot has errors." in markdown and words in markdown


# --- drift of an existing account ------------------------------------------------------------


def test_user_type_and_profile_are_set_through_the_admin_api_even_without_token_env():
    bot = BotSpec("helper", "@helper:opendev.org", ("dev",), display_name="Helper")
    plan = plan_with(bot, accounts={bot.user: BotAccount(user_type=None, displayname="helper")})
    helper = bot_plan(plan, "helper")
    assert helper.actions == (SetAccount(bot.user, user_type="bot", display_name="Helper"),)
    assert [(c.field, c.before, c.after) for c in helper.changes] == [
        ("user_type", None, "bot"),
        ("display_name", "helper", "Helper"),
    ]
    assert helper.notes == ()
    assert "without token_env" not in render.plan_text(plan)


def test_with_token_env_the_profile_goes_through_the_admin_api_too():
    plan = plan_with(GERRIT, accounts={GERRIT.user: dataclasses.replace(FINE, displayname="Old")})
    assert bot_plan(plan, "gerritbot").actions == (SetAccount(GERRIT.user, display_name="Gerrit Bot"),)


@pytest.mark.parametrize(
    "declared, live, action",
    [
        ("exempt", "default", SetRateLimit(GERRIT.user, exempt=True)),
        ("exempt", "1.5 messages/s, burst 4", SetRateLimit(GERRIT.user, exempt=True)),
        ("default", "exempt", SetRateLimit(GERRIT.user, exempt=False)),
    ],
)
def test_rate_limit_drift(declared, live, action):
    bot = dataclasses.replace(GERRIT, rate_limit=declared)
    plan = plan_with(bot, accounts={bot.user: dataclasses.replace(FINE, rate_limit=live)})
    gerrit = bot_plan(plan, "gerritbot")
    assert gerrit.actions == (action,)
    assert [(c.field, c.before, c.after) for c in gerrit.changes] == [("rate_limit", live, declared)]


def test_an_account_as_declared_is_no_change_and_an_undeclared_rate_limit_is_not_managed():
    bot = dataclasses.replace(GERRIT, rate_limit=None)
    plan = plan_with(bot, accounts={bot.user: dataclasses.replace(FINE, rate_limit=None)})
    assert bot_plan(plan, "gerritbot").status == "ok"
    assert bot_plan(plan_with(GERRIT, accounts={GERRIT.user: FINE}), "gerritbot").changes == ()


# --- without a server admin's token ----------------------------------------------------------


def test_without_admin_rights_one_note_and_the_old_profile_rules():
    bots = (
        dataclasses.replace(GERRIT, display_name="New"),
        STATUS,
        BotSpec("helper", "@helper:opendev.org", ("dev",), display_name="Helper"),
    )
    plan = plan_with(*bots, accounts=None, tokens={"GERRITBOT_TOKEN"})
    assert len(plan.notes) == 1 and "were not checked" in plan.notes[0]
    assert bot_plan(plan, "gerritbot").actions == (
        SetProfile(GERRIT.user, "GERRITBOT_TOKEN", "New", "mxc://opendev.org/gerrit"),
    )
    assert not plan.has_errors
    text = render.plan_text(plan)
    assert text.count("were not checked") == 1
    assert "bot helper: the profile differs from bots.yaml, but without token_env roomsync cannot set it" in text
    assert json.loads(render.plan_json(plan))["notes"] == list(plan.notes)
    # Memberships are planned as before: joined with the bot's token.
    assert any(isinstance(a, JoinAs) for a in room_plan(plan, "dev").actions)


def test_no_note_when_there_is_no_local_bot_and_remote_bots_are_never_checked():
    plan = plan_with(REMOTE, accounts=None)
    assert plan.notes == ()
    admin = plan_with(REMOTE, accounts={})
    assert admin.notes == () and not admin.has_errors
    assert "without token_env roomsync cannot set it" in render.plan_text(admin)


# --- --room and --only ---------------------------------------------------------------------


def test_a_room_selection_creates_the_accounts_its_bots_need_and_leaves_drift_for_a_whole_run():
    helper = BotSpec("helper", "@helper:opendev.org", ("dev",), display_name="Helper")
    elsewhere = dataclasses.replace(GERRIT, name="elsewhere", user="@elsewhere:opendev.org", rooms=("other",))
    accounts = {GERRIT.user: None, helper.user: BotAccount(displayname="old"), elsewhere.user: None}
    plan = plan_with(GERRIT, helper, elsewhere, accounts=accounts, rooms_selected={"dev"})
    assert [b.name for b in plan.bots] == ["gerritbot"]
    assert bot_plan(plan, "gerritbot").create


def test_only_rooms_plans_no_bot_and_says_nothing_about_accounts():
    plan = plan_with(GERRIT, accounts=None, only="rooms")
    assert plan.bots == () and plan.notes == ()


# --- the admin API's answers ----------------------------------------------------------------


def test_parse_account_and_rate_limit_words():
    account = parse_account(
        {
            "name": "@gerrit:opendev.org",
            "admin": False,
            "deactivated": True,
            "user_type": "bot",
            "displayname": "G",
            "avatar_url": None,
            "locked": False,
        },
        {},
    )
    assert account == BotAccount(user_type="bot", displayname="G", deactivated=True, rate_limit="default")
    assert describe_rate_limit({"messages_per_second": 0, "burst_count": 0}) == "exempt"
    assert describe_rate_limit({"messages_per_second": 2, "burst_count": 5}) == "2 messages/s, burst 5"
    assert parse_account({}).rate_limit is None


# --- roomsync bot-token: which bot, and the file ---------------------------------------------


def test_bot_token_names_a_local_bot():
    cfg = dataclasses.replace(config(spec("dev")), bots=(GERRIT, REMOTE))
    assert local_bot(cfg, "gerritbot") is GERRIT
    with pytest.raises(RoomsyncError, match=r"no bot named 'nobody' in bots\.yaml"):
        local_bot(cfg, "nobody")
    with pytest.raises(RoomsyncError, match=r"is not on opendev\.org"):
        local_bot(cfg, "remote")


def test_the_token_file_is_0600_and_never_replaced_without_force(tmp_path: Path):
    target = tmp_path / "gerrit.token"
    write_secret(target, "s3cret", force=False)
    assert target.read_text() == "s3cret"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with pytest.raises(RoomsyncError, match="already exists; use --force"):
        check_target(target, force=False)
    with pytest.raises(RoomsyncError, match="already exists; use --force"):
        write_secret(target, "other", force=False)
    assert target.read_text() == "s3cret"
    target.chmod(0o644)
    write_secret(target, "new", force=True)
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gerrit.token"], "no temporary file is left behind"
    with pytest.raises(RoomsyncError, match="does not exist"):
        check_target(tmp_path / "missing" / "token", force=False)
