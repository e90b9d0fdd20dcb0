"""The compiled yes/no schema check says what jsonschema says, for every schema file."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roomsync.schemacheck import CompileError, Compiler
from roomsync.schemas import _schemas, quick_check, validator

# Values that are near the schemas' edges: right and wrong types, enum members and not,
# patterns, power-level bounds, booleans posing as integers.
SCALARS = st.one_of(
    st.sampled_from(
        [
            "",
            "general",
            "General",
            "#general",
            "space",
            "public",
            "private",
            "invite",
            "knock",
            "restricted",
            "shared",
            "joined",
            "world_readable",
            "can_join",
            "forbidden",
            "10",
            "12",
            "mxc://opendev.org/AbC",
            "mxc://bad",
            "https://matrix.example.org",
            "ftp://x",
            "@a:b.c",
            "opendev.org",
            "exempt",
            "default",
            "html",
            "markdown",
        ]
    ),
    st.booleans(),
    st.none(),
    st.integers(-(2**53) - 2, 2**53 + 2),
    st.sampled_from([0, 50, 100, 9007199254740992]),
    st.floats(allow_nan=False, allow_infinity=False),
)
KEYS = st.sampled_from(
    [
        "rooms",
        "bots",
        "alias",
        "alt_aliases",
        "name",
        "topic",
        "avatar",
        "directory",
        "join_rule",
        "history_visibility",
        "guest_access",
        "encrypted",
        "room_version",
        "power_levels",
        "type",
        "spaces",
        "space",
        "order",
        "suggested",
        "users",
        "users_default",
        "events",
        "events_default",
        "state_default",
        "ban",
        "kick",
        "redact",
        "invite",
        "notifications",
        "room",
        "server_name",
        "homeserver",
        "account",
        "defaults",
        "well_known",
        "server",
        "client",
        "base_url",
        "identity_server",
        "url",
        "min_admins",
        "max_removals",
        "user",
        "power_level",
        "display_name",
        "token_env",
        "docs",
        "title",
        "intro",
        "include_private",
        "create_account",
        "rate_limit",
        "m.room.topic",
        "@alice:opendev.org",
        "unknown",
    ]
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=6)),
    max_leaves=25,
)


def room(**fields: Any) -> dict[str, Any]:
    return {"alias": "general", **fields}


def shaped(draw: Any) -> Any:
    """A document close to a valid one, so that most checks are reached, not only the first."""
    kind = draw(st.sampled_from(["rooms", "bots", "settings"]))
    noise = draw(st.dictionaries(KEYS, DOCUMENTS, max_size=3))
    if kind == "rooms":
        rooms = [room(**draw(st.dictionaries(KEYS, DOCUMENTS, max_size=4))) for _ in range(draw(st.integers(0, 3)))]
        return "rooms.schema.json", {"rooms": rooms, **(noise if draw(st.booleans()) else {})}
    if kind == "bots":
        bot = {"name": "gerritbot", "user": "@gerrit:opendev.org", "rooms": ["*"]}
        bot.update(draw(st.dictionaries(KEYS, DOCUMENTS, max_size=4)))
        return "bots.schema.json", {"bots": [bot], **(noise if draw(st.booleans()) else {})}
    return "roomsync.schema.json", {"server_name": "opendev.org", **noise}


@st.composite
def documents(draw: Any) -> tuple[str, Any]:
    return shaped(draw)


def test_every_schema_file_compiles() -> None:
    for name in _schemas():
        assert quick_check(name) is not None, name


@pytest.mark.parametrize("name", ["rooms.schema.json", "bots.schema.json", "roomsync.schema.json"])
def test_known_documents(name: str) -> None:
    good = {
        "rooms.schema.json": {"rooms": [room(power_levels={"users": {"@a:b.c": 50}}, spaces=["x"])]},
        "bots.schema.json": {"bots": [{"name": "b", "user": "@b:c.d", "rooms": ["*"]}]},
        "roomsync.schema.json": {"server_name": "opendev.org", "defaults": {"join_rule": "public"}},
    }[name]
    assert quick_check(name)(good) and validator(name).is_valid(good)
    bad = {
        "rooms.schema.json": {"rooms": [room(power_levels={"users": {"@a:b.c": True}})]},
        "bots.schema.json": {"bots": [{"name": "b", "rooms": ["*"]}]},
        "roomsync.schema.json": {"server_name": "opendev.org", "defaults": {"alias": "x"}},
    }[name]
    assert not quick_check(name)(bad) and not validator(name).is_valid(bad)


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(documents())
def test_the_quick_check_agrees_with_jsonschema(case: tuple[str, Any]) -> None:
    name, document = case
    assert quick_check(name)(document) == validator(name).is_valid(document), document


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(DOCUMENTS)
def test_the_quick_check_agrees_on_arbitrary_documents(document: Any) -> None:
    for name in _schemas():
        assert quick_check(name)(document) == validator(name).is_valid(document), (name, document)


def test_an_unknown_keyword_is_not_compiled() -> None:
    with pytest.raises(CompileError):
        Compiler({"x": {"$id": "x", "patternProperties": {"a": {}}}}).compile("x")
