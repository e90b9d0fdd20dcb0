"""Server ACLs: the spec's glob rules, the guard, and the planner's event."""

from __future__ import annotations

from functools import cache

from hypothesis import given
from hypothesis import strategies as st

from roomsync import acl
from roomsync.actions import PutState
from tests.unit.planning import changes, plan_room, puts, room, spec


def reference_glob(glob: str, host: str) -> bool:
    """The spec's glob, read literally: '*' matches zero or more characters, '?' exactly one,
    anything else itself; the whole host must match."""

    @cache
    def match(i: int, j: int) -> bool:
        if i == len(glob):
            return j == len(host)
        if glob[i] == "*":
            return match(i + 1, j) or (j < len(host) and match(i, j + 1))
        return j < len(host) and (glob[i] == "?" or glob[i] == host[j]) and match(i + 1, j + 1)

    return match(0, 0)


ALPHABET = "ab.-*?[]^$\\(" + "x"


@given(st.text(alphabet=ALPHABET, max_size=8), st.text(alphabet="ab.-x[]^$\\(", max_size=10))
def test_the_matcher_agrees_with_the_spec_glob_rules(glob: str, host: str) -> None:
    assert acl.glob_matches(glob, host) == reference_glob(glob, host)


@given(st.from_regex(r"[a-z]{1,6}(\.[a-z]{1,4}){0,2}", fullmatch=True), st.integers(1, 65535))
def test_the_port_is_never_part_of_what_a_glob_sees(host: str, port: int) -> None:
    assert acl.host_of(f"{host}:{port}") == host
    assert acl.allows({"allow": [host]}, f"{host}:{port}")


def test_deny_comes_first_and_ip_literals_are_refused_unless_allowed() -> None:
    content = acl.content({"deny": ["*.bad.example"]})
    assert content == {"allow": ["*"], "deny": ["*.bad.example"], "allow_ip_literals": False}
    assert not acl.allows(content, "spam.bad.example") and acl.allows(content, "matrix.org")
    assert not acl.allows(content, "127.0.0.1:8448") and not acl.allows(content, "[::1]:8448")
    assert acl.allows({**content, "allow_ip_literals": True}, "127.0.0.1")


def test_the_guard_names_each_of_ours_it_would_deny() -> None:
    ours = acl.our_servers("opendev.org", "@roomsync:opendev.org", [("@gerrit:matrix.org", "the bot gerritbot")])
    assert acl.shut_out(acl.content({"deny": ["matrix.org"]}), ours) == [
        "it would deny the bot gerritbot @gerrit:matrix.org (server matrix.org)"
    ]
    assert acl.shut_out(acl.content({"allow": []}), ours)[0].startswith("its allow list matches no server")
    assert acl.shut_out(acl.content({"deny": ["spam.example"]}), ours) == []


def test_a_new_room_is_created_with_its_acl_and_an_existing_one_gets_the_event() -> None:
    declared = {"deny": ["*.bad.example"]}
    created = plan_room(spec("dev", server_acl=declared))
    body = created.actions[0].body
    assert {"type": acl.EVENT, "state_key": "", "content": acl.content(declared)} in body["initial_state"]
    existing = plan_room(spec("dev", server_acl=declared), room("12"))
    assert puts(existing)[acl.EVENT] == acl.content(declared)
    assert changes(existing)["server_acl"] == (None, acl.content(declared))
    live = room("12", state={acl.EVENT: acl.content(declared)})
    assert not plan_room(spec("dev", server_acl=declared), live).actions


def test_plan_refuses_an_acl_that_denies_a_live_creator() -> None:
    live = room("12", additional_creators=["@root:matrix.org"])
    planned = plan_room(spec("dev", server_acl={"deny": ["matrix.org"]}), live)
    assert any("the creator @root:matrix.org" in e for e in planned.errors)
    assert not [a for a in planned.actions if isinstance(a, PutState) and a.event_type == acl.EVENT]
