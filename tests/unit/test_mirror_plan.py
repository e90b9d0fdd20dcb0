"""Mirror homeservers, offline: the planner's part for each mirror, how plans show and save it,
and the join page's addresses. Against real Synapses: tests/integration/test_mirrors.py."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from roomsync.actions import DeleteAlias, Invite, MirrorJoin, OnMirror, PutAlias, SetDirectory
from roomsync.docs import to_markdown
from roomsync.docs.page import build_page
from roomsync.live import MirrorView, Snapshot
from roomsync.model import MirrorSpec
from roomsync.plan import make_plan
from roomsync.render import plan_json, plan_text
from roomsync.savedplan import keys_of

from .planning import ME, ROOM_ID, config, room, snapshot, spec

CN = "opendev.example.cn"
KEEPER = f"@roomsync:{CN}"


def mirror(**fields: Any) -> MirrorSpec:
    return MirrorSpec(CN, "https://matrix.opendev.example.cn", KEEPER, "MIRROR_TOKEN", **fields)


def mirrored(*specs: Any, **fields: Any) -> Any:
    return dataclasses.replace(config(*specs), mirrors=(mirror(**fields),))


def joined_room(**kwargs: Any) -> Any:
    """A room the mirror's account is in, at power 100."""
    live = room(**kwargs)
    power = dict(live.power_levels or {})
    power["users"] = {**power.get("users", {}), KEEPER: 100}
    state = dict(live.state)
    state[("m.room.power_levels", "")] = power
    state[("m.room.member", KEEPER)] = {"membership": "join"}
    return dataclasses.replace(live, state=state)


def view(**fields: Any) -> MirrorView:
    return MirrorView(CN, joined=frozenset({ROOM_ID}), **fields)


def mirror_changes(plan: Any) -> list[tuple[str, Any, Any]]:
    return [(c.field, c.before, c.after) for r in plan.rooms for c in r.changes if c.server == CN]


def test_a_new_public_room_gets_the_mirror_joined_powered_and_addressed_without_an_invite():
    cfg = mirrored(spec("dev", join_rule="public", directory="public", alt_aliases=["devel"]))
    plan = make_plan(cfg, dataclasses.replace(snapshot(), mirrors={CN: MirrorView(CN)}))
    (created,) = plan.rooms
    body = next(a.body for a in created.actions if hasattr(a, "body"))
    assert body["power_level_content_override"]["users"][KEEPER] == 100
    assert not [a for a in created.actions if isinstance(a, Invite)]
    mine = [a for a in created.actions if isinstance(a, OnMirror)]
    assert mine == [
        OnMirror(CN, MirrorJoin(("opendev.org",))),
        OnMirror(CN, PutAlias(f"#dev:{CN}")),
        OnMirror(CN, PutAlias(f"#devel:{CN}")),
        OnMirror(CN, SetDirectory("public")),
    ]


def test_a_room_that_is_not_public_invites_the_mirror_from_home_first():
    cfg = mirrored(spec("dev", join_rule="invite"))
    plan = make_plan(cfg, dataclasses.replace(snapshot({"dev": room()}), mirrors={CN: view()}))
    actions = plan.rooms[0].actions
    assert Invite(KEEPER) in actions
    assert actions.index(Invite(KEEPER)) < actions.index(OnMirror(CN, MirrorJoin(("opendev.org",))))
    assert ("power_levels.users." + KEEPER, None, 100) in [(c.field, c.before, c.after) for c in plan.rooms[0].changes]


def test_an_in_sync_room_has_no_changes_and_directory_false_unlists():
    cfg = mirrored(spec("dev", join_rule="public", directory="public"))
    current = view(alias_owner={f"#dev:{CN}": ROOM_ID}, published={ROOM_ID: True})
    live = joined_room(published=True, state={"m.room.join_rules": {"join_rule": "public"}})
    plan = make_plan(cfg, dataclasses.replace(snapshot({"dev": live}), mirrors={CN: current}))
    assert not plan.has_changes, plan_text(plan)

    cfg = dataclasses.replace(cfg, mirrors=(mirror(directory=False),))
    plan = make_plan(cfg, dataclasses.replace(snapshot({"dev": live}), mirrors={CN: current}))
    assert mirror_changes(plan) == [("directory", "public", "private")]


def test_aliases_false_or_a_dropped_alt_alias_deletes_only_the_rooms_own_names():
    cfg = mirrored(spec("dev", alt_aliases=[]), aliases=True)
    owners = {f"#dev:{CN}": ROOM_ID, f"#devel:{CN}": ROOM_ID}
    live = joined_room(alt_aliases=[])
    plan = make_plan(cfg, dataclasses.replace(snapshot({"dev": live}), mirrors={CN: view(alias_owner=owners)}))
    assert mirror_changes(plan) == []  # devel is not one of this room's names: left alone

    cfg = mirrored(spec("dev", alt_aliases=[], formerly=["devel"]), aliases=False)
    plan = make_plan(cfg, dataclasses.replace(snapshot({"dev": live}), mirrors={CN: view(alias_owner=owners)}))
    assert sorted(mirror_changes(plan)) == [("alias", f"#dev:{CN}", None), ("alias", f"#devel:{CN}", None)]
    assert plan.removals == 2


def test_an_alias_of_another_room_is_an_error_and_one_from_before_an_upgrade_moves():
    old = "!old:opendev.org"
    cfg = mirrored(spec("dev"))
    live = joined_room()
    other = view(alias_owner={f"#dev:{CN}": "!someone-else:example.org"})
    plan = make_plan(cfg, dataclasses.replace(snapshot({"dev": live}), mirrors={CN: other}))
    assert any("points at another room" in e for e in plan.rooms[0].errors)

    upgraded = dataclasses.replace(
        live, state={**live.state, ("m.room.create", ""): {"room_version": "12", "predecessor": {"room_id": old}}}
    )
    moved = view(alias_owner={f"#dev:{CN}": old})
    plan = make_plan(cfg, dataclasses.replace(snapshot({"dev": upgraded}), mirrors={CN: moved}))
    mine = [a for a in plan.rooms[0].actions if isinstance(a, OnMirror)]
    assert mine == [OnMirror(CN, DeleteAlias(f"#dev:{CN}")), OnMirror(CN, PutAlias(f"#dev:{CN}"))]


def test_links_name_every_server_in_via():
    space, child = spec("space", type="space"), spec("dev", spaces=["space"], join_rule="restricted")
    cfg = mirrored(space, child)
    plan = make_plan(cfg, dataclasses.replace(snapshot(), mirrors={CN: MirrorView(CN)}))
    vias = [
        a.content.get("via") or a.content["allow"][0]["via"]
        for r in plan.rooms
        for a in r.actions
        if hasattr(a, "content") and ("via" in a.content or "allow" in a.content)
    ]
    assert vias and all(v == ["opendev.org", CN] for v in vias)


def test_a_mirror_that_cannot_be_read_is_an_error_and_the_home_part_is_still_planned():
    cfg = mirrored(spec("dev", join_rule="invite", topic="new"))
    broken = MirrorView(CN, error="MIRROR_TOKEN is not set")
    plan = make_plan(cfg, dataclasses.replace(snapshot({"dev": room()}), mirrors={CN: broken}))
    assert plan.server_errors == {CN: "MIRROR_TOKEN is not set"} and plan.has_errors
    assert Invite(KEEPER) in plan.rooms[0].actions and not mirror_changes(plan)
    text = plan_text(plan)
    assert f"! [{CN}] cannot be planned: MIRROR_TOKEN is not set" in text
    assert "1 server was not planned" in text


def test_with_the_home_server_down_the_mirror_does_what_it_can_alone():
    cfg = mirrored(spec("dev", alt_aliases=["devel"]), spec("other"))
    down = Snapshot(
        account=ME,
        reader=ME,
        home_error="cannot reach https://matrix.opendev.org",
        mirrors={CN: view(room_ids={"dev": ROOM_ID}, alias_owner={f"#dev:{CN}": ROOM_ID})},
    )
    plan = make_plan(cfg, down)
    dev, other = plan.rooms
    assert dev.room_id == ROOM_ID
    assert [a for a in dev.actions] == [OnMirror(CN, PutAlias(f"#devel:{CN}"))]
    assert not other.actions and any("not in this room" in n for n in other.notes)
    assert "opendev.org" in plan.server_errors and plan.reader == ME


def test_plans_show_and_save_a_mirrors_changes_as_its_own():
    cfg = mirrored(spec("dev"))
    plan = make_plan(cfg, dataclasses.replace(snapshot({"dev": joined_room()}), mirrors={CN: view()}))
    assert f'    [{CN}] alias: (none) -> "#dev:{CN}"' in plan_text(plan)
    document = json.loads(plan_json(plan))
    (change,) = [c for c in document["changes"] if c.get("server") == CN]
    assert change["field"] == "alias" and change["after"] == f"#dev:{CN}"
    assert any(key[1] == f"[{CN}] alias" for key in keys_of(plan))


def test_the_join_page_shows_each_rooms_address_on_every_mirror():
    cfg = mirrored(spec("dev", name="Dev", join_rule="public", spaces=[]))
    page = build_page(cfg)
    (entry,) = list(page.listed())
    assert entry.elsewhere == (f"#dev:{CN}",)
    assert entry.other_addresses == ((f"#dev:{CN}", f"https://matrix.to/#/%23dev%3A{CN}"),)
    assert page.mirrors == (CN,)
    markdown = to_markdown.render(page)
    assert f"`#dev:opendev.org` · also [`#dev:{CN}`](https://matrix.to/#/%23dev%3A{CN})" in markdown
    assert f"Every room also has an address on {CN}" in markdown
    assert build_page(mirrored(spec("dev", join_rule="public"), aliases=False)).mirrors == ()
