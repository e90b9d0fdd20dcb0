"""`roomsync import`, the pure part: the field table, room entries, the YAML document, and the
offline check that the result validates and plans clean."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roomsync import fields, importer
from roomsync.config import load_config
from roomsync.importer import Entry, Known, Reading, room_entry
from roomsync.importread import alias_argument, choose_alias
from roomsync.live import LiveRoom, Snapshot
from roomsync.model import BotSpec, Config
from roomsync.plan import make_plan
from roomsync.yamlfile import load_yaml
from tests.unit.planning import ADMIN, BOB, CAROL, ME, SERVER, alias, plan_room, room, spec

MODELINE = "# yaml-language-server: $schema=../schema/rooms.schema.json"
GERRIT = "@gerrit:opendev.org"


def entry_of(
    live: LiveRoom,
    local: str = "dev",
    *,
    known: dict[str, Known] | None = None,
    defaults: dict[str, Any] | None = None,
    bots: tuple[BotSpec, ...] = (),
) -> Entry:
    cfg = Config(root=Path("."), server_name=SERVER, homeserver=None, bots=bots)
    return room_entry(live, local, cfg, ME, known or {}, defaults or {})


def write_settings(root: Path, defaults: dict[str, Any] | None = None, bots: list[dict] | None = None) -> Path:
    (root / "rooms").mkdir(parents=True, exist_ok=True)
    settings_: dict[str, Any] = {"server_name": SERVER, "account": ME}
    if defaults:
        settings_["defaults"] = defaults
    (root / "roomsync.yaml").write_text(yaml.safe_dump(settings_), encoding="utf-8")
    if bots:
        (root / "bots.yaml").write_text(yaml.safe_dump({"bots": bots}), encoding="utf-8")
    return root


# --- the field table -------------------------------------------------------------------------------


def test_absent_guest_access_and_history_visibility_read_as_matrix_means_them():
    live = room(state={})
    assert fields.read("guest_access", live) == "forbidden"
    assert fields.read("history_visibility", live) == "shared" and fields.read("join_rule", live) == "invite"
    assert fields.read("name", live) is None and fields.read("topic", live) is None
    assert fields.read("directory", live) is None  # not read
    assert fields.read("directory", room(published=True)) == "public"
    assert fields.read("type", room()) is None


def test_planner_compares_against_the_table_readers():
    """A room without m.room.guest_access is what `guest_access: forbidden` declares: no change."""
    assert plan_room(spec("dev", guest_access="forbidden", history_visibility="shared"), room()).changes == ()
    changed = plan_room(spec("dev", guest_access="can_join"), room())
    assert [(c.field, c.before, c.after) for c in changed.changes] == [("guest_access", "forbidden", "can_join")]


def test_table_covers_every_simple_field_in_entry_order():
    others = {"alias", "alt_aliases", "creators", "power_levels", "members", "spaces", "state"}
    assert set(fields.FIELDS) | others == set(fields.ENTRY_ORDER)


# --- one room ------------------------------------------------------------------------------------


def test_entry_has_every_managed_field_at_its_live_value():
    live = room(
        "10",
        ADMIN,
        alt_aliases=[alias("dev-old"), "#dev:matrix.org", alias("dev")],
        encrypted=True,
        published=False,
        state={
            "m.room.name": {"name": "Dev"},
            "m.room.topic": {"topic": "a: b # c"},
            "m.room.avatar": {"url": "mxc://opendev.org/x"},
            "m.room.join_rules": {"join_rule": "knock"},
            "m.room.guest_access": {"guest_access": "can_join"},
        },
    )
    entry = entry_of(live)
    assert list(entry.fields) == [
        "alias",
        "name",
        "topic",
        "avatar",
        "alt_aliases",
        "directory",
        "join_rule",
        "history_visibility",
        "guest_access",
        "encrypted",
        "room_version",
        "power_levels",
        "members",
    ]
    assert entry.fields["members"] == [ADMIN]  # a knock room's members: who is in it
    assert entry.fields["alt_aliases"] == ["dev-old"]  # not the primary, not another server's
    assert entry.fields["room_version"] == "10" and entry.fields["encrypted"] is True
    assert entry.fields["directory"] == "private"
    assert entry.fields["power_levels"]["users"] == {ADMIN: 100}
    assert entry.warnings == []


def test_power_levels_all_keys_normalised():
    levels = {
        "users": {ME: 100, BOB: 50, GERRIT: 10, CAROL: "20"},
        "users_default": 0,
        "historical": 100,
        "events": {"m.room.topic": 75, "m.reaction": 10.0},
        "state_default": 50,
        "ban": "50",
        "notifications": {"room": 20, "org.example": 5},
        "org.example.custom": 1,
    }
    entry = entry_of(room("10", ADMIN, power_levels=levels), bots=(BotSpec("gerritbot", GERRIT, ("dev",)),))
    pl = entry.fields["power_levels"]
    assert list(pl) == ["users", "users_default", "events", "state_default", "ban", "notifications"]
    assert pl["users"] == {BOB: 50, CAROL: 20}  # not the account, not the bot
    assert pl["events"] == {"m.reaction": 10, "m.room.topic": 75}
    assert pl["ban"] == 50 and pl["notifications"] == {"room": 20}
    assert "historical" not in pl
    text = "\n".join(entry.warnings)
    assert "power_levels.org.example.custom" in text and "power_levels.notifications.org.example" in text
    assert "historical" not in text, "Synapse's own leftover is dropped without a word"


def test_v12_creators_are_never_listed():
    live = room("12", ADMIN, power_levels={"users": {BOB: 50}}, additional_creators=[CAROL])
    assert entry_of(live).fields["power_levels"]["users"] == {BOB: 50}
    assert live.creators == {ADMIN, CAROL}


def test_a_user_id_validate_refuses_leaves_users_unmanaged():
    entry = entry_of(room("10", ADMIN, power_levels={"users": {"@Legacy:opendev.org": 100, BOB: 50}, "ban": 50}))
    assert "users" not in entry.fields["power_levels"] and entry.fields["power_levels"]["ban"] == 50
    assert any("users is left out" in w and "@Legacy" in w for w in entry.warnings)


def test_invalid_simple_values_are_left_out_with_a_warning():
    entry = entry_of(
        room(
            state={
                "m.room.join_rules": {"join_rule": "knock_restricted"},
                "m.room.avatar": {"url": "https://example.org/x.png"},
            }
        )
    )
    assert "join_rule" not in entry.fields and "avatar" not in entry.fields
    assert len(entry.warnings) == 2


def test_fields_equal_to_defaults_are_left_out():
    live = room(published=True, state={"m.room.join_rules": {"join_rule": "public"}, "m.room.name": {"name": "D"}})
    defaults = {
        "join_rule": "public",
        "directory": "public",
        "guest_access": "forbidden",
        "encrypted": False,
        "name": "Other",
    }
    entry = entry_of(live, defaults=defaults)
    for name in ("join_rule", "directory", "guest_access", "encrypted"):
        assert name not in entry.fields, name
    assert entry.fields["name"] == "D"


def test_power_levels_equal_to_defaults_are_left_out():
    levels = {"ban": 50, "kick": 50}
    assert "power_levels" not in entry_of(room(power_levels=levels), defaults={"power_levels": levels}).fields
    assert "power_levels" in entry_of(room(power_levels=levels), defaults={"power_levels": {"ban": 50}}).fields


SPACE, OTHER = "!space:opendev.org", "!other:opendev.org"


def space_room(room_id: str, children: dict[str, dict]) -> LiveRoom:
    live = room(room_id=room_id, state={"m.room.create": {"room_version": "12", "type": "m.space"}})
    state = dict(live.state)
    for child, content in children.items():
        state[("m.space.child", child)] = content
    return LiveRoom(room_id, state, live.creators, "12")


def with_state(live: LiveRoom, extra: dict[tuple[str, str], dict]) -> LiveRoom:
    return LiveRoom(live.room_id, {**live.state, **extra}, live.creators, live.room_version, live.published)


def test_spaces_canonical_first_long_form_only_with_order_or_suggested():
    space = space_room(SPACE, {"!r:x": {"via": [SERVER], "order": "10", "suggested": True}})
    other = space_room(OTHER, {"!r:x": {"via": [SERVER]}})
    live = with_state(
        room(room_id="!r:x"),
        {("m.space.parent", OTHER): {"via": [SERVER], "canonical": True}, ("m.space.parent", SPACE): {"via": [SERVER]}},
    )
    known = {SPACE: Known("a-space", True, space), OTHER: Known("z-space", True, other)}
    assert entry_of(live, known=known).fields["spaces"] == [
        "z-space",
        {"space": "a-space", "order": "10", "suggested": True},
    ]


def test_spaces_come_from_either_side_and_from_a_restricted_allow_list():
    live = with_state(
        room(room_id="!r:x"),
        {
            ("m.room.join_rules", ""): {
                "join_rule": "restricted",
                "allow": [{"type": "m.room_membership", "room_id": SPACE}],
            }
        },
    )
    known = {SPACE: Known("declared", True, None), OTHER: Known("not-a-space", False, None)}
    assert entry_of(live, known=known).fields["spaces"] == ["declared"]
    assert "spaces" not in entry_of(room(room_id="!r:x"), known=known).fields


def test_an_order_clients_ignore_is_left_out():
    space = space_room(SPACE, {"!r:x": {"via": [SERVER], "order": "\u00e9t\u00e9"}})
    live = room(room_id="!r:x")
    assert entry_of(live, known={SPACE: Known("s", True, space)}).fields["spaces"] == ["s"]


def test_alias_choice():
    assert choose_alias(room(canonical=alias("dev")), "dev-alt", SERVER) == "dev"
    assert choose_alias(room(canonical="#dev:matrix.org"), "named", SERVER) == "named"
    assert choose_alias(room(canonical=None, alt_aliases=["#Up:opendev.org", alias("low")]), None, SERVER) == "low"
    assert choose_alias(room(canonical=None), None, SERVER) is None


def test_alias_arguments():
    assert alias_argument("zuul", SERVER) == ("#zuul:opendev.org", None)
    assert alias_argument("#zuul:opendev.org", SERVER) == ("#zuul:opendev.org", None)
    for bad in ("#zuul:matrix.org", "!abc:opendev.org", "#:opendev.org"):
        full, why = alias_argument(bad, SERVER)
        assert full is None and why


# --- the document --------------------------------------------------------------------------------


def test_spaces_before_the_rooms_they_hold():
    def e(alias_: str, space: bool = False, spaces: list | None = None) -> Entry:
        fields_: dict[str, Any] = {"alias": alias_}
        if space:
            fields_["type"] = "space"
        if spaces:
            fields_["spaces"] = spaces
        return Entry("!" + alias_, fields_)

    entries = [
        e("zz-room", spaces=["b-top"]),
        e("lonely"),
        e("a-sub", True, [{"space": "b-top", "order": "1"}]),
        e("b-top", True),
        e("in-sub", spaces=["a-sub"]),
        e("top-room", spaces=["b-top"]),
    ]
    for _ in range(5):
        random.shuffle(entries)
        assert [x.alias for x in importer.ordered(entries)] == [
            "b-top",
            "a-sub",
            "top-room",
            "zz-room",
            "in-sub",
            "lonely",
        ]


def test_render_is_deterministic_and_reads_back():
    entries = [
        entry_of(
            room(
                "10",
                ADMIN,
                room_id=f"!{n}:opendev.org",
                canonical=alias(n),
                power_levels={"users": {BOB: 50}, "events": {"m.room.topic": 50}},
                state={"m.room.topic": {"topic": f"{n}: 'x' # y"}},
            ),
            local=n,
        )
        for n in ("b", "a", "c")
    ]
    text = importer.render(entries, MODELINE)
    assert text == importer.render(list(reversed(entries)), MODELINE)
    lines = text.splitlines()
    assert lines[0] == MODELINE and lines[2] == "rooms:"
    assert lines[3] == "  - alias: a  # !a:opendev.org"
    data = yaml.safe_load(text)
    assert [r["alias"] for r in data["rooms"]] == ["a", "b", "c"]
    assert data["rooms"][0] == entries[1].fields


@settings(max_examples=150, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=40), st.text(max_size=10))
def test_any_string_reads_back_the_same(topic, name):
    entry = Entry(
        "!r:opendev.org",
        {
            "alias": "r",
            "name": name,
            "topic": topic,
            "alt_aliases": ["r-2"],
            "power_levels": {"events": {topic or "x": 5}},
            "spaces": [{"space": "s", "order": " a#b: c"}],
        },
    )
    text = importer.render([entry], MODELINE)
    assert yaml.safe_load(text)["rooms"][0] == entry.fields


def test_render_reads_back_through_roomsync_own_loader(tmp_path):
    entry = entry_of(room(state={"m.room.topic": {"topic": "yes"}, "m.room.name": {"name": "12"}}))
    path = tmp_path / "r.yaml"
    path.write_text(importer.render([entry], MODELINE), encoding="utf-8")
    loaded = load_yaml(path, "r.yaml")
    assert loaded.problems == [] and loaded.data["rooms"][0] == entry.fields


# --- the check: validate and plan, offline ----------------------------------------------------------


def check(root: Path, entries: list[Entry], rooms: dict[str, LiveRoom], reader: str = ME) -> tuple[list[str], int]:
    owners = {a: live.room_id for live in rooms.values() for a in live.claimed_aliases()}
    reading = Reading(me=ME, reader=reader, rooms=rooms, alias_owner=owners)
    return importer.check(
        root, importer.render(entries, MODELINE), "rooms/new.yaml", reading, [e.alias for e in entries]
    )


def test_check_is_clean_for_an_exact_import(tmp_path):
    root = write_settings(tmp_path, defaults={"join_rule": "public", "history_visibility": "world_readable"})
    live = room(
        "10",
        ADMIN,
        alt_aliases=[alias("dev-2")],
        published=True,
        state={"m.room.join_rules": {"join_rule": "public"}, "m.room.topic": {"topic": "T"}},
    )
    entry = entry_of(live, defaults=importer.config_defaults(root))
    assert "join_rule" not in entry.fields and entry.fields["history_visibility"] == "shared"
    assert check(root, [entry], {"dev": live}) == ([], 0)


def test_check_reports_what_plan_will_still_show(tmp_path):
    root = write_settings(tmp_path, bots=[{"name": "g", "user": GERRIT, "rooms": ["dev"], "power_level": 10}])
    live = room(alt_aliases=["#dev:matrix.org"], published=False, power_levels={"ban": "50", "users": {}})
    entry = entry_of(live, bots=(BotSpec("g", GERRIT, ("dev",), power_level=10),))
    warnings, bot_changes = check(root, [entry], {"dev": live})
    assert any('alt_aliases: "#dev:matrix.org" -> (removed)' in w for w in warnings), warnings
    assert any('power_levels.ban: "50" -> 50' in w for w in warnings), warnings
    assert bot_changes == 2  # the bot's power level and its invite


def test_check_says_what_validate_will_report(tmp_path):
    root = write_settings(tmp_path)
    entry = Entry("!r:x", {"alias": "dev", "join_rule": "restricted"})
    warnings, _ = check(root, [entry], {"dev": room(room_id="!r:x")})
    assert warnings and all(w.startswith("validate will report: rooms/new.yaml:") for w in warnings), warnings


def test_check_ignores_what_adopt_is_for(tmp_path):
    """Imported before adoption, read by an observer: the account is not joined yet, which is not a
    problem of the file."""
    root = write_settings(tmp_path)
    live = room("10", ADMIN, published=False)
    assert check(root, [entry_of(live)], {"dev": live}, reader="@observer:opendev.org") == ([], 0)


# --- the inverse property, offline: any room, imported, plans clean ---------------------------------


LEVEL = st.integers(0, 100)


@st.composite
def live_rooms(draw) -> LiveRoom:
    version = draw(st.sampled_from(["10", "11", "12"]))
    creator = draw(st.sampled_from([ADMIN, BOB]))
    levels = {
        "users": draw(st.dictionaries(st.sampled_from([BOB, CAROL, ADMIN, GERRIT, ME]), LEVEL)),
        "users_default": draw(LEVEL),
        "historical": 100,
        "state_default": draw(LEVEL),
        "ban": draw(LEVEL),
        "events": draw(st.dictionaries(st.sampled_from(["m.room.topic", "m.reaction", "m.room.name"]), LEVEL)),
        "notifications": {"room": draw(LEVEL)},
    }
    if version == "12":
        for user in (creator, CAROL):
            levels["users"].pop(user, None)
    state: dict[str, dict] = {}
    for event_type, key, values in (
        ("m.room.name", "name", st.text(max_size=8)),
        ("m.room.topic", "topic", st.text(max_size=8)),
        ("m.room.join_rules", "join_rule", st.sampled_from(["public", "invite", "knock"])),
        ("m.room.history_visibility", "history_visibility", st.sampled_from(["world_readable", "shared", "joined"])),
        ("m.room.guest_access", "guest_access", st.sampled_from(["can_join", "forbidden"])),
    ):
        if draw(st.booleans()):
            state[event_type] = {key: draw(values)}
    alts = draw(st.lists(st.sampled_from([alias("a1"), alias("a2")]), unique=True))
    return room(
        version,
        creator,
        power_levels=levels,
        state=state,
        alt_aliases=alts,
        encrypted=draw(st.booleans()),
        published=draw(st.booleans()),
        additional_creators=[CAROL] if version == "12" else None,
    )


DEFAULTS = st.fixed_dictionaries(
    {},
    optional={
        "join_rule": st.sampled_from(["public", "invite"]),
        "guest_access": st.just("forbidden"),
        "directory": st.sampled_from(["public", "private"]),
        "encrypted": st.just(False),
        "history_visibility": st.just("world_readable"),
        "power_levels": st.just({"ban": 50}),
    },
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(live_rooms(), DEFAULTS)
def test_any_room_imported_plans_clean(tmp_path, live, defaults):
    root = write_settings(
        tmp_path / str(random.getrandbits(32)),
        defaults=defaults,
        bots=[{"name": "g", "user": GERRIT, "rooms": ["dev"], "power_level": 10}],
    )
    entry = entry_of(live, defaults=importer.config_defaults(root), bots=(BotSpec("g", GERRIT, ("dev",), 10),))
    (root / "rooms" / "dev.yaml").write_text(importer.render([entry], MODELINE), encoding="utf-8")
    loaded = load_config(root)
    snapshot = Snapshot(
        account=ME, rooms={"dev": live}, alias_owner={a: live.room_id for a in live.claimed_aliases()}, reader=ME
    )
    planned = make_plan(loaded, snapshot, only="rooms").rooms[0]
    assert planned.changes == () and planned.errors == (), (entry.fields, planned)


# --- the commands' bad input: one line, exit 1, before anything is sent -------------------------------


@pytest.fixture
def offline(monkeypatch, tmp_path):
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"tried to use the network: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("ROOMSYNC_ACCESS_TOKEN", "secret-token-value")
    monkeypatch.setenv("ROOMSYNC_HOMESERVER", "http://127.0.0.1:9")
    write_settings(tmp_path)
    return tmp_path


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    from roomsync import cli

    with pytest.raises(SystemExit) as exited:
        cli.run(args)
    out, err = capsys.readouterr()
    return exited.value.code, out, err


@pytest.mark.parametrize(
    "args,message",
    [
        (["import"], "name the rooms to import: ALIAS ..., --space ALIAS or --joined"),
        (["import", "zuul", "--out", "{root}/roomsync.yaml"], "exists; import never overwrites a file"),
        (["import", "zuul", "--out", "{root}/missing/zuul.yaml"], "is not a directory"),
        (["import", "--bogus"], "No such option '--bogus'"),
        (["adopt", "--bogus"], "No such option '--bogus'"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(offline, capsys, args, message):
    code, out, err = run_cli(["-C", str(offline), *[a.format(root=offline) for a in args]], capsys)
    assert code == 1 and out == ""
    lines = [line for line in err.splitlines() if line.strip()]
    assert any(message in line for line in lines), err
    assert "Traceback" not in err and "secret-token-value" not in err
    assert (offline / "roomsync.yaml").read_text(encoding="utf-8").startswith("account:")


def test_adopt_without_rooms_or_names_says_what_to_do(offline, capsys):
    """Nothing declared and nothing named: one line, and nothing is asked of the homeserver."""
    code, out, err = run_cli(["-C", str(offline), "adopt"], capsys)
    assert code == 1 and out == ""
    assert (
        err == "roomsync: error: nothing to adopt: rooms/ declares no rooms; name the rooms to adopt: "
        "roomsync adopt ALIAS ...\n"
    )


def test_commands_explain_themselves(capsys):
    code, out, _ = run_cli(["import", "--help"], capsys)
    assert code == 0 and "Read-only" in out and "--space ALIAS" in out and "--joined" in out and "--out FILE" in out
    assert "roomsync adopt" in out and "defaults" in out and "deterministic" in out
    code, out, _ = run_cli(["adopt", "--help"], capsys)
    assert code == 0 and "make_room_admin" in out and "/invite and /op" in out and "second run" in out
