"""Property: for any valid config and any live drift, sync followed by plan has no changes.

Hypothesis draws small configs (1-4 rooms, random subsets of the fields; sometimes the
first room is a space that others belong to, restricted rooms included; sometimes a bot,
with or without token_env) and random drift applied by hand with the plain HTTP client of
tests/synapse.py (names, topics, join rules, power levels, directory, aliases, space links,
the bot kicked or leaving, encryption turned on ...); the first sync runs
through roomsync's Python API (fast), the sync after the drift and the final
`plan --detailed-exitcode` through the real CLI. After that the rooms are also checked
field by field with the plain HTTP client, so that a planner blind to some drift cannot
make the property pass by itself.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from pathlib import Path

import yaml
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from roomsync.apply import apply_plan
from roomsync.client import Homeserver
from roomsync.config import load_config
from roomsync.observe import read_snapshot
from roomsync.plan import make_plan
from tests.integration.helpers import published, put_state, resolve, roomsync, state, write_config
from tests.synapse import q

SERVER = "opendev.org"
CLIENT = "/_matrix/client/v3"
COUNTER = itertools.count()

TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=24)
JOIN_RULES = ["public", "invite", "knock"]
VISIBILITIES = ["world_readable", "shared", "invited", "joined"]
GUEST = ["can_join", "forbidden"]
LEVELS = st.sampled_from([0, 1, 10, 50, 99, 100])
N_USERS = 3
# A longer, random hunt: ROOMSYNC_PROPERTY_EXAMPLES=100 pytest tests/integration/test_property_sync.py
HUNT = int(os.environ.get("ROOMSYNC_PROPERTY_EXAMPLES", "0"))


def unique(prefix: str, what: str) -> str:
    return f"{prefix}-{what}{next(COUNTER)}"


@st.composite
def power_levels(draw) -> dict:
    pl = {}
    if draw(st.booleans()):
        chosen = draw(st.lists(st.integers(0, N_USERS - 1), unique=True, max_size=N_USERS))
        pl["users"] = {i: draw(LEVELS) for i in chosen}  # user indexes, replaced by ids later
    for key in ("ban", "kick", "redact", "invite", "state_default", "events_default", "users_default"):
        if draw(st.booleans()):
            pl[key] = draw(LEVELS)
    if draw(st.booleans()):
        pl["notifications"] = {"room": draw(LEVELS)}
    if draw(st.booleans()):
        types = draw(
            st.lists(
                st.sampled_from(["m.room.topic", "m.room.name", "m.room.avatar", "m.reaction"]),
                unique=True,
                min_size=1,
                max_size=3,
            )
        )
        pl["events"] = {t: draw(LEVELS) for t in types}
    return pl


@st.composite
def room(draw, in_space: bool = False) -> dict:
    spec: dict = {}
    rules = [*JOIN_RULES, "restricted"] if in_space else JOIN_RULES
    optional = {
        "name": TEXT,
        "topic": TEXT,
        "join_rule": st.sampled_from(rules),
        "history_visibility": st.sampled_from(VISIBILITIES),
        "guest_access": st.sampled_from(GUEST),
        "directory": st.sampled_from(["public", "private"]),
        "encrypted": st.just(True),
        "alt_aliases": st.integers(0, 2),  # how many; named later
        "power_levels": power_levels(),
        "room_version": st.sampled_from(["10", "12"]),
        "avatar": st.sampled_from(["mxc://opendev.org/AbCdEf", "mxc://example.org/xyz123"]),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            spec[key] = draw(strategy)
    if in_space:
        spec["spaces"] = draw(
            st.one_of(
                st.just("short"),
                st.fixed_dictionaries(
                    {},
                    optional={
                        "order": st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=5),
                        "suggested": st.booleans(),
                    },
                ),
            )
        )
    return spec


@st.composite
def configs(draw) -> tuple[list[dict], dict | None]:
    """1-4 rooms; maybe the first is a space that some of the others belong to; maybe a bot."""
    with_space = draw(st.booleans())
    drawn = [draw(room())]
    if with_space:
        drawn[0]["type"] = "space"
    for _ in range(draw(st.integers(0, 3))):
        drawn.append(draw(room(in_space=with_space and draw(st.booleans()))))
    bot = None
    if draw(st.booleans()):
        bot = {
            "rooms": draw(st.one_of(st.just("*"), st.lists(st.integers(0, 3), unique=True, max_size=2))),
            "power_level": draw(LEVELS),
            "token": draw(st.booleans()),
        }
    return drawn, bot


DRIFT = st.one_of(
    st.tuples(st.just("topic"), TEXT),
    st.tuples(st.just("name"), TEXT),
    st.tuples(st.just("join_rule"), st.sampled_from(JOIN_RULES)),
    st.tuples(st.just("history_visibility"), st.sampled_from(VISIBILITIES)),
    st.tuples(st.just("guest_access"), st.sampled_from(GUEST)),
    st.tuples(st.just("pl_user"), st.integers(0, N_USERS - 1), LEVELS),
    st.tuples(st.just("pl_key"), st.sampled_from(["ban", "kick", "redact", "invite", "state_default"]), LEVELS),
    st.tuples(st.just("pl_event"), st.sampled_from(["m.room.topic", "m.room.name", "m.reaction"]), LEVELS),
    st.tuples(st.just("directory"), st.sampled_from(["public", "private"])),
    st.tuples(st.just("add_alt")),
    st.tuples(st.just("drop_alts")),
    st.tuples(st.just("encrypt")),
    st.tuples(st.just("avatar"), st.sampled_from(["mxc://opendev.org/Drift", "mxc://opendev.org/AbCdEf"])),
    st.tuples(st.just("pl_bot"), LEVELS),
    st.tuples(st.just("kick_bot")),
    st.tuples(st.just("unlink_child")),
    st.tuples(st.just("unlink_parent")),
    st.tuples(st.just("child_order"), st.sampled_from(["zz", "0", "drift"])),
    st.tuples(st.just("delete_alt")),
    st.tuples(st.just("drop_primary")),
    st.tuples(st.just("clear"), st.sampled_from(["m.room.topic", "m.room.name", "m.room.avatar"])),
    st.tuples(st.just("bot_leaves")),
)


def materialise(prefix: str, drawn: list[dict], users: list[str]) -> list[dict]:
    """Give the drawn rooms unique aliases and real user ids, and link the space."""
    rooms = []
    for spec in drawn:
        spec = dict(spec)
        alias = unique(prefix, "r")
        if "alt_aliases" in spec:
            spec["alt_aliases"] = [unique(prefix, "alt") for _ in range(spec["alt_aliases"])]
        if "power_levels" in spec:
            pl = dict(spec["power_levels"])
            if "users" in pl:
                pl["users"] = {users[i]: level for i, level in pl["users"].items()}
            spec["power_levels"] = pl
        if "spaces" in spec:
            link = spec["spaces"]
            space = rooms[0]["alias"]
            spec["spaces"] = [space] if link == "short" else [{"space": space, **link}]
        rooms.append({"alias": alias, **spec})
    return rooms


def write_bot(config: Path, bot: dict | None, user: str, rooms: list[dict]) -> None:
    if bot is None:
        return
    serves = ["*"] if bot["rooms"] == "*" else sorted({rooms[i % len(rooms)]["alias"] for i in bot["rooms"]})
    entry = {"name": "propbot", "user": user, "rooms": serves, "power_level": bot["power_level"]}
    if bot["token"]:
        entry["token_env"] = "PROPBOT_TOKEN"
    (config / "bots.yaml").write_text(yaml.safe_dump({"bots": [entry]}, sort_keys=False))


async def _sync_in_process(url: str, token: str, config_dir: Path):
    config = load_config(config_dir)
    async with Homeserver(url, token) as hs:
        planned = make_plan(config, await read_snapshot(hs, config))
        results = await apply_plan(hs, planned, bot_token=os.environ.get)
        after = make_plan(config, await read_snapshot(hs, config))
    return planned, results, after


def apply_drift(
    synapse, token: str, prefix: str, rooms: list[dict], index: int, op: tuple, users: list[str], bot
) -> None:
    """One edit by hand, as an admin of the room would make it with any client."""
    spec = rooms[index % len(rooms)]
    room_id = resolve(synapse, f"#{spec['alias']}:{SERVER}")
    kind = op[0]

    def ok(answer: tuple) -> None:
        assert answer[0] == 200, (op, answer)

    simple = {
        "topic": ("m.room.topic", "topic"),
        "name": ("m.room.name", "name"),
        "join_rule": ("m.room.join_rules", "join_rule"),
        "history_visibility": ("m.room.history_visibility", "history_visibility"),
        "guest_access": ("m.room.guest_access", "guest_access"),
        "avatar": ("m.room.avatar", "url"),
    }
    if kind in simple:
        event_type, key = simple[kind]
        put_state(synapse, token, room_id, event_type, {key: op[1]})
    elif kind in ("pl_user", "pl_key", "pl_event", "pl_bot"):
        pl = state(synapse, token, room_id)[("m.room.power_levels", "")]
        if kind == "pl_user":
            pl.setdefault("users", {})[users[op[1]]] = op[2]
        elif kind == "pl_bot":
            pl.setdefault("users", {})[bot.user_id] = op[1]
        elif kind == "pl_key":
            pl[op[1]] = op[2]
        else:
            pl.setdefault("events", {})[op[1]] = op[2]
        put_state(synapse, token, room_id, "m.room.power_levels", pl)
    elif kind == "directory":
        ok(synapse.request("PUT", f"{CLIENT}/directory/list/room/{q(room_id)}", token, body={"visibility": op[1]}))
    elif kind == "add_alt":
        alias = f"#{unique(prefix, 'drift')}:{SERVER}"
        ok(synapse.request("PUT", f"{CLIENT}/directory/room/{q(alias)}", token, body={"room_id": room_id}))
        content = dict(state(synapse, token, room_id).get(("m.room.canonical_alias", ""), {}))
        content["alt_aliases"] = [*content.get("alt_aliases", []), alias]
        put_state(synapse, token, room_id, "m.room.canonical_alias", content)
    elif kind == "drop_alts":
        content = dict(state(synapse, token, room_id).get(("m.room.canonical_alias", ""), {}))
        content.pop("alt_aliases", None)
        put_state(synapse, token, room_id, "m.room.canonical_alias", content)
    elif kind == "delete_alt":  # Synapse then drops it from m.room.canonical_alias itself
        alts = state(synapse, token, room_id).get(("m.room.canonical_alias", ""), {}).get("alt_aliases", [])
        if alts:
            ok(synapse.request("DELETE", f"{CLIENT}/directory/room/{q(alts[0])}", token))
    elif kind == "drop_primary":
        content = dict(state(synapse, token, room_id).get(("m.room.canonical_alias", ""), {}))
        content.pop("alias", None)
        put_state(synapse, token, room_id, "m.room.canonical_alias", content)
    elif kind == "clear":  # Synapse refuses an empty name or topic; then there is no such drift
        status, answer = synapse.request("PUT", f"{CLIENT}/rooms/{q(room_id)}/state/{q(op[1])}/", token, body={})
        assert status == 200 or (status == 400 and op[1] != "m.room.avatar"), (op, answer)
    elif kind == "bot_leaves":
        if state(synapse, token, room_id).get(("m.room.member", bot.user_id), {}).get("membership") == "join":
            ok(synapse.request("POST", f"{CLIENT}/rooms/{q(room_id)}/leave", bot.token, body={}))
    elif kind == "encrypt":
        put_state(synapse, token, room_id, "m.room.encryption", {"algorithm": "m.megolm.v1.aes-sha2"})
    elif kind == "kick_bot":
        if state(synapse, token, room_id).get(("m.room.member", bot.user_id), {}).get("membership") in (
            "join",
            "invite",
        ):
            ok(
                synapse.request(
                    "POST", f"{CLIENT}/rooms/{q(room_id)}/kick", token, body={"user_id": bot.user_id, "reason": "drift"}
                )
            )
    elif kind in ("unlink_child", "unlink_parent", "child_order"):
        if "spaces" not in spec:
            return
        space_id = resolve(synapse, f"#{rooms[0]['alias']}:{SERVER}")
        if kind == "unlink_parent":
            ok(
                synapse.request(
                    "PUT", f"{CLIENT}/rooms/{q(room_id)}/state/m.space.parent/{q(space_id)}", token, body={}
                )
            )
        else:
            body = {} if kind == "unlink_child" else {"via": [SERVER], "order": op[1]}
            ok(
                synapse.request(
                    "PUT", f"{CLIENT}/rooms/{q(space_id)}/state/m.space.child/{q(room_id)}", token, body=body
                )
            )
    else:
        raise AssertionError(op)


def check_room(
    synapse, token: str, me: str, spec: dict, bot_user: str, bot: dict | None, served: set[str]
) -> list[str]:
    """The room, read with the plain client, against its declaration: what differs."""
    alias = f"#{spec['alias']}:{SERVER}"
    room_id = resolve(synapse, alias)
    if not room_id:
        return [f"{alias} does not resolve"]
    live = state(synapse, token, room_id)
    wrong = []
    simple = {
        "name": ("m.room.name", "name"),
        "topic": ("m.room.topic", "topic"),
        "avatar": ("m.room.avatar", "url"),
        "join_rule": ("m.room.join_rules", "join_rule"),
        "history_visibility": ("m.room.history_visibility", "history_visibility"),
        "guest_access": ("m.room.guest_access", "guest_access"),
    }
    for field, (event_type, key) in simple.items():
        if field in spec and live.get((event_type, ""), {}).get(key) != spec[field]:
            wrong.append(f"{alias} {field}: {live.get((event_type, ''), {}).get(key)!r} != {spec[field]!r}")
    if spec.get("encrypted") and ("m.room.encryption", "") not in live:
        wrong.append(f"{alias} is not encrypted")
    if "alt_aliases" in spec:
        alts = [f"#{a}:{SERVER}" for a in spec["alt_aliases"]]
        have = live.get(("m.room.canonical_alias", ""), {}).get("alt_aliases", [])
        if sorted(have) != sorted(alts):
            wrong.append(f"{alias} alt_aliases {have} != {alts}")
        wrong += [f"{a} does not point at {alias}" for a in alts if resolve(synapse, a) != room_id]
    if "directory" in spec and published(synapse, room_id) != (spec["directory"] == "public"):
        wrong.append(f"{alias} directory is not {spec['directory']}")
    pl = live.get(("m.room.power_levels", ""), {})
    users = dict(pl.get("users", {}))
    bot_level = users.pop(bot_user, pl.get("users_default", 0))
    membership = live.get(("m.room.member", bot_user), {}).get("membership")
    if bot and spec["alias"] in served:
        if bot_level != bot["power_level"]:
            wrong.append(f"{alias} the bot has power {bot_level}, not {bot['power_level']}")
        if membership != "join" and (bot["token"] or membership != "invite"):
            wrong.append(f"{alias} the bot's membership is {membership}")
    for key, value in spec.get("power_levels", {}).items():
        if key == "users":
            expected = dict(value)
            if spec.get("room_version", "12") != "12":
                expected[me] = 100
            if users != expected:
                wrong.append(f"{alias} power_levels.users {pl.get('users')} != {expected}")
        elif key == "events":
            if {k: pl.get("events", {}).get(k) for k in value} != value:
                wrong.append(f"{alias} power_levels.events {pl.get('events')} lacks {value}")
        elif pl.get(key) != value:
            wrong.append(f"{alias} power_levels.{key} {pl.get(key)!r} != {value!r}")
    return wrong


def test_sync_then_plan_has_no_changes_for_any_config_and_drift(
    synapse, provisioner, make_user, prefix, tmp_path_factory, monkeypatch
):
    users = [make_user(f"p{i}").user_id for i in range(N_USERS)]
    bot = make_user("propbot")
    monkeypatch.setenv("PROPBOT_TOKEN", bot.token)  # for the bot's token_env, in process and in the CLI
    token, me = provisioner.token, provisioner.user_id

    @settings(
        max_examples=HUNT or 8,
        deadline=None,
        derandomize=not HUNT,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # shrinking would replay many slow examples
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(drawn=configs(), drift=st.lists(st.tuples(st.integers(0, 3), DRIFT), max_size=5))
    def prop(drawn: tuple[list[dict], dict | None], drift: list[tuple]) -> None:
        rooms = materialise(prefix, drawn[0], users)
        config = write_config(tmp_path_factory.mktemp("prop"), SERVER, rooms)
        write_bot(config, drawn[1], bot.user_id, rooms)
        note(f"rooms: {rooms}")
        note(f"bots.yaml: {(config / 'bots.yaml').read_text() if drawn[1] else None}")

        planned, results, after = asyncio.run(_sync_in_process(synapse.url, token, config))
        assert not planned.has_errors, [r.errors for r in planned.rooms if r.errors]
        assert all(r.status != "failed" for r in results), [(r.alias, r.error) for r in results]
        assert not after.has_changes, [(r.alias, r.changes) for r in after.rooms if r.actions]

        for index, op in drift:
            apply_drift(synapse, token, prefix, rooms, index, op, users, bot)
        note(f"drift: {drift}")

        synced = roomsync(config, "sync", url=synapse.url, token=token)
        assert synced.code == 0, synced.out + synced.err
        final = roomsync(config, "plan", "--detailed-exitcode", url=synapse.url, token=token)
        assert final.code == 0, final.out + final.err
        bot_spec = drawn[1]
        served = set()
        if bot_spec:
            served = (
                {r["alias"] for r in rooms}
                if bot_spec["rooms"] == "*"
                else {rooms[i % len(rooms)]["alias"] for i in bot_spec["rooms"]}
            )
        wrong = [w for spec in rooms for w in check_room(synapse, token, me, spec, bot.user_id, bot_spec, served)]
        if rooms[0].get("type") == "space":
            space_id = resolve(synapse, f"#{rooms[0]['alias']}:{SERVER}")
            space_state = state(synapse, token, space_id)
            for spec in rooms[1:]:
                room_id = resolve(synapse, f"#{spec['alias']}:{SERVER}")
                child = space_state.get(("m.space.child", room_id), {})
                parent = state(synapse, token, room_id).get(("m.space.parent", space_id), {})
                if "spaces" in spec:
                    link = spec["spaces"][0]
                    order = link.get("order") if isinstance(link, dict) else None
                    if child.get("via") != [SERVER] or child.get("order") != order:
                        wrong.append(f"{spec['alias']}: m.space.child {child}")
                    if parent != {"via": [SERVER], "canonical": True}:
                        wrong.append(f"{spec['alias']}: m.space.parent {parent}")
                elif child.get("via") or parent.get("via"):
                    wrong.append(f"{spec['alias']} is linked to the space without being declared in it")
        assert not wrong, wrong

    prop()
