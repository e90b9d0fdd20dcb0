"""Groups, creators and members: how the config resolves people, and what the planner makes of them."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from roomsync.actions import Invite, Kick, PutState, Upgrade
from roomsync.config import load_config
from roomsync.live import LiveRoom
from roomsync.model import MEMBERS_RECORD, BotSpec, RoomSpec
from roomsync.plan import make_plan
from roomsync.render import plan_text
from tests.unit.planning import MARK, ME, changes, config, of_type, plan_room, puts, room, snapshot, spec

ALICE, ROOT1, ROOT2, CORE = "@alice:matrix.org", "@root-one:matrix.org", "@root-two:example.org", "@core-one:matrix.org"
HUMAN = "@founder:opendev.org"

SETTINGS = """server_name: opendev.org
groups:
  infra-root: ["@root-one:matrix.org", "@root-two:example.org"]
  zuul-core: ["@core-one:matrix.org", infra-root]
defaults:
  power_levels:
    users:
      infra-root: 100
      "@alice:matrix.org": 50
"""


def load(tmp_path: Path, rooms: str, settings: str = SETTINGS) -> dict[str, RoomSpec]:
    (tmp_path / "rooms").mkdir()
    (tmp_path / "roomsync.yaml").write_text(settings)
    (tmp_path / "rooms" / "a.yaml").write_text(rooms)
    return {r.alias: r for r in load_config(tmp_path).rooms}


# --- groups and merged power levels ---------------------------------------------------------


def test_nested_groups_resolve_and_levels_merge_with_the_defaults(tmp_path: Path) -> None:
    rooms = load(
        tmp_path,
        """rooms:
  - alias: zuul
    power_levels:
      kick: 50
      users:
        zuul-core: 50
        "@alice:matrix.org": null
  - alias: plain
""",
    )
    # The room's entry adds zuul-core at 50; infra-root (in zuul-core too) keeps the higher 100;
    # null removes alice whom the defaults gave 50.
    assert rooms["zuul"].get("power_levels") == {"kick": 50, "users": {ROOT1: 100, ROOT2: 100, CORE: 50}}
    assert rooms["plain"].get("power_levels") == {"users": {ROOT1: 100, ROOT2: 100, ALICE: 50}}
    assert rooms["zuul"].named_users == frozenset()  # nobody named by id with a level


def test_a_room_entry_wins_for_the_same_key(tmp_path: Path) -> None:
    rooms = load(tmp_path, 'rooms:\n  - alias: a\n    power_levels:\n      users:\n        "@alice:matrix.org": 75\n')
    assert rooms["a"].get("power_levels")["users"][ALICE] == 75
    assert rooms["a"].named_users == {ALICE}


def test_plan_shows_user_ids_never_group_names(tmp_path: Path) -> None:
    rooms = load(tmp_path, "rooms:\n  - alias: a\n")
    plan = make_plan(config(*rooms.values()), snapshot())
    text = plan_text(plan)
    assert ROOT1 in text and ROOT2 in text
    assert "infra-root" not in text


def test_creators_and_members_resolve_groups(tmp_path: Path) -> None:
    rooms = load(
        tmp_path,
        """rooms:
  - alias: vmt
    join_rule: invite
    creators: [infra-root]
    members: [zuul-core, "@alice:matrix.org"]
""",
    )
    vmt = rooms["vmt"]
    assert vmt.creators == {ROOT1, ROOT2}
    assert vmt.members == {CORE, ROOT1, ROOT2, ALICE}
    # Creators reached through the defaults' group entry are dropped from users without a word.
    assert vmt.get("power_levels")["users"] == {ALICE: 50}


def test_creators_in_defaults_and_an_explicit_room_list(tmp_path: Path) -> None:
    settings = SETTINGS.replace("defaults:\n", "defaults:\n  creators: [infra-root]\n")
    rooms = load(tmp_path, 'rooms:\n  - alias: a\n  - alias: b\n    creators: ["@core-one:matrix.org"]\n', settings)
    assert rooms["a"].creators == {ROOT1, ROOT2} and "creators" not in rooms["a"].own
    assert rooms["b"].creators == {CORE} and "creators" in rooms["b"].own


# --- creators -------------------------------------------------------------------------------


def test_a_new_room_is_created_with_the_declared_creators() -> None:
    planned = plan_room(spec("dev", creators=(ROOT1, ROOT2)))
    body = of_type(planned, type(planned.actions[0]))[0].body
    assert body["creation_content"]["additional_creators"] == [ROOT1, ROOT2]
    assert changes(planned)["creators"] == (None, sorted([ME, ROOT1, ROOT2]))
    assert not planned.errors


def test_a_space_keeps_its_type_beside_the_creators() -> None:
    planned = plan_room(spec("hub", type="space", creators=(ROOT1,)))
    assert planned.actions[0].body["creation_content"] == {"type": "m.space", "additional_creators": [ROOT1]}


def test_creators_on_a_server_whose_default_version_is_older_is_an_error() -> None:
    planned = plan_room(spec("dev", creators=(ROOT1,)), default_room_version="11")
    assert any("creators needs room version 12" in e for e in planned.errors)


def test_min_admins_counts_human_creators() -> None:
    room_spec = spec("dev", creators=(ROOT1,), power_levels={"users": {}})
    cfg = dataclasses.replace(config(room_spec), min_admins=1)
    assert not make_plan(cfg, snapshot()).rooms[0].errors
    cfg = dataclasses.replace(config(spec("dev", power_levels={"users": {}})), min_admins=1)
    assert make_plan(cfg, snapshot()).rooms[0].errors


def test_matching_creators_are_no_change() -> None:
    live = room("12", additional_creators=[ROOT1, ROOT2])
    planned = plan_room(spec("dev", creators=(ROOT1, ROOT2)), live)
    assert not planned.errors and not planned.changes


def test_a_room_made_by_a_person_has_them_as_its_implied_creator() -> None:
    live = room("12", creator=HUMAN)
    assert not plan_room(spec("dev", creators=(HUMAN,)), live).errors
    assert not plan_room(spec("dev", creators=(HUMAN, ME)), room("12", additional_creators=[HUMAN])).errors


def test_differing_creators_are_an_error_that_names_the_upgrade() -> None:
    planned = plan_room(spec("dev", creators=(ROOT1, CORE)), room("12", additional_creators=[ROOT1]))
    (error,) = planned.errors
    assert "creators differ" in error and CORE in error and "raise room_version" in error
    assert not planned.actions


def test_creators_on_an_older_room_say_how_to_get_there() -> None:
    planned = plan_room(spec("dev", creators=(ROOT1,)), room("11"))
    assert any("version 11" in e and "raise room_version to 12" in e for e in planned.errors)


def test_an_upgrade_passes_the_declared_creators() -> None:
    live = room("11")
    planned = plan_room(spec("dev", room_version="12", creators=(ROOT1, ROOT2)), live, default_room_version="12")
    assert not planned.errors
    assert of_type(planned, Upgrade) == [Upgrade("12", (ROOT1, ROOT2))]


def test_an_upgrade_keeps_the_old_rooms_creators_unless_the_room_itself_leaves_them_out() -> None:
    live = room("11", creator=HUMAN)
    inherited = RoomSpec("dev", {"room_version": "12", "creators": (ROOT1,)}, MARK, own=frozenset({"room_version"}))
    assert of_type(plan_room(inherited, live), Upgrade) == [Upgrade("12", (HUMAN, ROOT1))]
    undeclared = spec("dev", room_version="12")
    assert of_type(plan_room(undeclared, live), Upgrade) == [Upgrade("12", (HUMAN,))]
    own = spec("dev", room_version="12", creators=(ROOT1,))
    assert of_type(plan_room(own, live), Upgrade) == [Upgrade("12", (ROOT1,))]


def test_a_creator_in_users_through_a_group_is_dropped_but_named_by_id_is_an_error() -> None:
    live = room("12", additional_creators=[ROOT1])
    via_group = RoomSpec("dev", {"power_levels": {"users": {ROOT1: 100, ALICE: 50}}}, MARK)
    planned = plan_room(via_group, live)
    assert not planned.errors
    assert puts(planned)["m.room.power_levels"]["users"] == {ALICE: 50}
    named = spec("dev", power_levels={"users": {ROOT1: 100}})
    assert any("creator" in e and ROOT1 in e for e in plan_room(named, live).errors)


# --- members --------------------------------------------------------------------------------


def with_members(live: LiveRoom, record: list[str] | None = None, **memberships: str) -> LiveRoom:
    state = dict(live.state)
    for user, membership in memberships.items():
        state[("m.room.member", user)] = {"membership": membership}
    if record is not None:
        state[(MEMBERS_RECORD, "")] = {"declared": record}
    return dataclasses.replace(live, state=state)


def members_spec(*users: str, **fields: Any) -> RoomSpec:
    return spec("dev", join_rule="invite", members=tuple(sorted(users)), **fields)


def invited(planned: Any) -> list[str]:
    return [a.user for a in of_type(planned, Invite)]


def test_members_of_a_new_room_are_invited_after_it_is_made() -> None:
    planned = plan_room(members_spec(ALICE, ROOT1))
    assert invited(planned) == [ALICE, ROOT1]
    assert changes(planned)[f"member.{ALICE}"] == (None, "invite")
    assert puts(planned)[MEMBERS_RECORD] == {"declared": [ALICE, ROOT1]}


def test_joined_and_invited_members_are_left_alone() -> None:
    live = with_members(room("12"), **{ALICE: "join", ROOT1: "invite"})
    planned = plan_room(members_spec(ALICE, ROOT1), live)
    assert not planned.changes and not planned.actions


def test_a_member_who_left_after_an_invite_is_a_note_not_a_new_invite() -> None:
    live = with_members(room("12"), record=[ALICE], **{ALICE: "leave"})
    planned = plan_room(members_spec(ALICE), live)
    assert not planned.actions
    assert any(ALICE in n and "not invited again" in n for n in planned.notes)


def test_a_changed_members_list_invites_again() -> None:
    # Alice left; then she was taken out of members and put back: the record no longer names her.
    live = with_members(room("12"), record=[ROOT1], **{ALICE: "leave", ROOT1: "join"})
    planned = plan_room(members_spec(ALICE, ROOT1), live)
    assert invited(planned) == [ALICE]
    assert changes(planned)["members"] == ([ROOT1], [ALICE, ROOT1])


def test_a_banned_member_is_a_note() -> None:
    live = with_members(room("12"), **{ALICE: "ban"})
    planned = plan_room(members_spec(ALICE), live)
    assert not planned.actions and any("banned" in n for n in planned.notes)


def test_exclusive_members_kick_everyone_else_but_the_account_bots_and_creators() -> None:
    bot = BotSpec("gerritbot", "@gerrit:opendev.org", ("elsewhere",))
    live = with_members(
        room("12", additional_creators=[ROOT2]),
        record=[ALICE],
        **{ALICE: "join", CORE: "join", "@stranger:example.net": "invite", bot.user: "join", ROOT2: "join"},
    )
    room_spec = members_spec(ALICE, members_exclusive=True)
    cfg = dataclasses.replace(config(room_spec), bots=(bot,))
    plan = make_plan(cfg, snapshot({"dev": live}), only="rooms")
    (planned,) = plan.rooms
    kicked = {a.user: a.reason for a in of_type(planned, Kick)}
    assert set(kicked) == {CORE, "@stranger:example.net"}
    assert all("members" in reason for reason in kicked.values())
    assert changes(planned)[f"member.{CORE}"] == ("join", "kicked")
    assert plan.removals == 2


def test_exclusive_kicks_fall_under_the_removal_guard() -> None:
    live = with_members(room("12"), **{f"@u{i}:example.net": "join" for i in range(12)})
    plan = make_plan(config(members_spec(ALICE, members_exclusive=True)), snapshot({"dev": live}))
    assert plan.removals == 12 > plan.max_removals


def test_members_are_not_managed_when_left_out() -> None:
    live = with_members(room("12"), **{ALICE: "join"})
    assert not plan_room(spec("dev", join_rule="invite"), live).actions


@pytest.mark.parametrize("membership", [None, "leave"])
def test_a_record_that_names_someone_no_longer_declared_is_updated(membership: str | None) -> None:
    live = with_members(room("12"), record=[ALICE, ROOT1], **({ROOT1: membership} if membership else {}))
    live = with_members(live, **{ALICE: "join"})
    planned = plan_room(members_spec(ALICE), live)
    assert puts(planned)[MEMBERS_RECORD] == {"declared": [ALICE]}
    assert not of_type(planned, Invite) and not of_type(planned, Kick)
    assert of_type(planned, PutState)


# --- import writes them back -------------------------------------------------------------------


def test_import_writes_creators_and_the_members_of_private_rooms() -> None:
    from roomsync.importer import creators, members

    live = with_members(room("12", additional_creators=[ROOT1]), **{ALICE: "join", CORE: "invite", ROOT2: "leave"})
    assert creators(live, ME) == [ROOT1]
    assert creators(room("12"), ME) is None  # only the account: nothing to declare
    assert creators(room("12", creator=HUMAN), ME) == [HUMAN]
    assert creators(room("11", creator=HUMAN), ME) is None
    private = dataclasses.replace(live, state={**live.state, ("m.room.join_rules", ""): {"join_rule": "invite"}})
    assert members(private, ME, set()) == [ALICE, CORE]
    assert members(private, ME, {CORE}) == [ALICE]  # bots are bots.yaml's
    public = dataclasses.replace(live, state={**live.state, ("m.room.join_rules", ""): {"join_rule": "public"}})
    assert members(public, ME, set()) is None


def test_imported_people_plan_clean() -> None:
    from roomsync.importer import creators, members

    live = with_members(room("12", additional_creators=[ROOT1]), **{ALICE: "join", CORE: "invite"})
    live = dataclasses.replace(live, state={**live.state, ("m.room.join_rules", ""): {"join_rule": "invite"}})
    imported = spec("dev", join_rule="invite", creators=creators(live, ME), members=members(live, ME, set()))
    planned = plan_room(imported, live)
    assert not planned.errors and not planned.changes and not planned.actions


def test_creators_from_the_defaults_allow_more_creators_the_room_already_has() -> None:
    inherited = RoomSpec("dev", {"creators": (ROOT1,)}, MARK)
    assert not plan_room(inherited, room("12", additional_creators=[ROOT1, HUMAN])).errors
    assert plan_room(inherited, room("12", additional_creators=[HUMAN])).errors  # a declared one is missing
    own = spec("dev", creators=(ROOT1,))
    assert plan_room(own, room("12", additional_creators=[ROOT1, HUMAN])).errors
