"""Synapse behaviours the roomsync design relies on, checked against a real server.

These tests use only the independent HTTP client in tests/synapse.py: if one of
them fails after a Synapse upgrade, a design assumption has moved.
"""

from __future__ import annotations

import re
from typing import Any

from tests.synapse import SynapseServer, q

CLIENT = "/_matrix/client/v3"
MANAGED = "dev.roomsync.managed"
# Room-version-12 room ids: "!" + unpadded url-safe base64 of a sha256, no ":server".
V12_ROOM_ID = re.compile(r"^![A-Za-z0-9_-]{43}$")


def create_room(synapse: SynapseServer, token: str, **body: Any) -> str:
    status, answer = synapse.request("POST", f"{CLIENT}/createRoom", token, body=body)
    assert status == 200, answer
    return answer["room_id"]


def room_state(synapse: SynapseServer, token: str, room_id: str) -> dict[tuple[str, str], dict]:
    status, events = synapse.request("GET", f"{CLIENT}/rooms/{q(room_id)}/state", token)
    assert status == 200, events
    assert isinstance(events, list)
    return {(e["type"], e["state_key"]): e["content"] for e in events}


def put_state(synapse: SynapseServer, token: str, room_id: str, event_type: str, content: dict) -> tuple[int, dict]:
    return synapse.request("PUT", f"{CLIENT}/rooms/{q(room_id)}/state/{q(event_type)}/", token, body=content)


def get_state_event(synapse: SynapseServer, token: str, room_id: str, event_type: str) -> tuple[int, dict]:
    return synapse.request("GET", f"{CLIENT}/rooms/{q(room_id)}/state/{q(event_type)}/", token)


def put_alias(synapse: SynapseServer, token: str, alias: str, room_id: str) -> None:
    status, answer = synapse.request("PUT", f"{CLIENT}/directory/room/{q(alias)}", token, body={"room_id": room_id})
    assert status == 200, answer


def resolve_alias(synapse: SynapseServer, token: str, alias: str) -> tuple[int, dict]:
    return synapse.request("GET", f"{CLIENT}/directory/room/{q(alias)}", token)


def public_room_ids(synapse: SynapseServer, token: str, limit: int = 100) -> list[str]:
    """Walk the whole /publicRooms list, page by page."""
    ids: list[str] = []
    since = None
    for _ in range(1000):
        query: dict[str, Any] = {"limit": limit}
        if since is not None:
            query["since"] = since
        status, page = synapse.request("GET", f"{CLIENT}/publicRooms", token, query=query)
        assert status == 200, page
        assert len(page["chunk"]) <= limit
        ids.extend(room["room_id"] for room in page["chunk"])
        since = page.get("next_batch")
        if not since:
            return ids
    raise AssertionError("/publicRooms pagination did not end")


def test_create_room_applies_everything_in_one_call(synapse, provisioner, make_user, prefix):
    member = make_user()
    alias = f"#{prefix}-main:{synapse.server_name}"
    room_id = create_room(
        synapse,
        provisioner.token,
        room_alias_name=f"{prefix}-main",
        name="Main room",
        topic="What we talk about",
        visibility="public",
        initial_state=[
            {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "public"}},
            {
                "type": "m.room.history_visibility",
                "state_key": "",
                "content": {"history_visibility": "shared"},
            },
            {"type": "m.room.guest_access", "state_key": "", "content": {"guest_access": "forbidden"}},
            {
                "type": "m.room.encryption",
                "state_key": "",
                "content": {"algorithm": "m.megolm.v1.aes-sha2"},
            },
            {"type": MANAGED, "state_key": "", "content": {"managed_by": "roomsync", "v": 1}},
        ],
        power_level_content_override={"users": {member.user_id: 50}},
    )

    assert V12_ROOM_ID.match(room_id), room_id
    assert ":" not in room_id

    state = room_state(synapse, provisioner.token, room_id)
    assert state[("m.room.create", "")]["room_version"] == "12"
    # v12: the creator is implied by the create event, which carries no "creator" key.
    assert "creator" not in state[("m.room.create", "")]
    assert state[("m.room.name", "")] == {"name": "Main room"}
    assert state[("m.room.topic", "")]["topic"] == "What we talk about"
    # Synapse also writes the extensible-events form of the topic.
    assert state[("m.room.topic", "")]["m.topic"] == {"m.text": [{"body": "What we talk about"}]}
    assert state[("m.room.join_rules", "")] == {"join_rule": "public"}
    assert state[("m.room.history_visibility", "")] == {"history_visibility": "shared"}
    assert state[("m.room.guest_access", "")] == {"guest_access": "forbidden"}
    assert state[("m.room.encryption", "")] == {"algorithm": "m.megolm.v1.aes-sha2"}
    assert state[(MANAGED, "")] == {"managed_by": "roomsync", "v": 1}
    # room_alias_name sets the primary alias only, no alt_aliases.
    assert state[("m.room.canonical_alias", "")] == {"alias": alias}
    assert state[("m.room.member", provisioner.user_id)]["membership"] == "join"

    power = state[("m.room.power_levels", "")]
    assert power["users"] == {member.user_id: 50}  # the creator is not listed in v12
    assert provisioner.user_id not in power["users"]
    # The override is a shallow merge: the defaults around "users" are still there.
    assert power["events"]["m.room.tombstone"] == 150
    assert power["state_default"] == 50

    status, resolved = resolve_alias(synapse, provisioner.token, alias)
    assert status == 200, resolved
    assert resolved["room_id"] == room_id
    assert resolved["servers"] == [synapse.server_name]

    status, listing = synapse.request("GET", f"{CLIENT}/directory/list/room/{q(room_id)}")
    assert (status, listing) == (200, {"visibility": "public"})


def test_v12_creator_in_power_levels_users_is_rejected(synapse, provisioner):
    room_id = create_room(synapse, provisioner.token, preset="private_chat")
    status, power = get_state_event(synapse, provisioner.token, room_id, "m.room.power_levels")
    assert status == 200, power
    assert provisioner.user_id not in power["users"]

    power["users"][provisioner.user_id] = 100
    status, answer = put_state(synapse, provisioner.token, room_id, "m.room.power_levels", power)
    assert status == 400, answer
    # Synapse gives no specific errcode here.
    assert answer["errcode"] == "M_UNKNOWN"
    assert provisioner.user_id in answer["error"]
    assert "must not appear in content.users" in answer["error"]

    # The same users map without the creator is accepted.
    del power["users"][provisioner.user_id]
    status, answer = put_state(synapse, provisioner.token, room_id, "m.room.power_levels", power)
    assert status == 200, answer


def test_deleting_an_alias_rewrites_canonical_alias(synapse, provisioner, prefix):
    server = synapse.server_name
    main, alt1, alt2 = (f"#{prefix}-{n}:{server}" for n in ("main", "alt1", "alt2"))
    room_id = create_room(synapse, provisioner.token, room_alias_name=f"{prefix}-main")
    put_alias(synapse, provisioner.token, alt1, room_id)
    put_alias(synapse, provisioner.token, alt2, room_id)
    status, answer = put_state(
        synapse,
        provisioner.token,
        room_id,
        "m.room.canonical_alias",
        {"alias": main, "alt_aliases": [alt1, alt2]},
    )
    assert status == 200, answer

    # Deleting an alt alias: Synapse drops it from alt_aliases itself.
    status, answer = synapse.request("DELETE", f"{CLIENT}/directory/room/{q(alt1)}", provisioner.token)
    assert (status, answer) == (200, {})
    status, content = get_state_event(synapse, provisioner.token, room_id, "m.room.canonical_alias")
    assert status == 200, content
    assert content == {"alias": main, "alt_aliases": [alt2]}
    assert resolve_alias(synapse, provisioner.token, alt1)[0] == 404

    # Deleting the primary alias: the "alias" key goes away, alt_aliases stay.
    status, answer = synapse.request("DELETE", f"{CLIENT}/directory/room/{q(main)}", provisioner.token)
    assert (status, answer) == (200, {})
    status, content = get_state_event(synapse, provisioner.token, room_id, "m.room.canonical_alias")
    assert status == 200, content
    assert content == {"alt_aliases": [alt2]}
    status, answer = resolve_alias(synapse, provisioner.token, main)
    assert status == 404 and answer["errcode"] == "M_NOT_FOUND", answer


def test_canonical_alias_must_point_at_the_room(synapse, provisioner, prefix):
    server = synapse.server_name
    room_id = create_room(synapse, provisioner.token, room_alias_name=f"{prefix}-mine")
    create_room(synapse, provisioner.token, room_alias_name=f"{prefix}-other")
    mine, other, missing = (f"#{prefix}-{n}:{server}" for n in ("mine", "other", "missing"))

    for bad in (missing, other):
        status, answer = put_state(
            synapse,
            provisioner.token,
            room_id,
            "m.room.canonical_alias",
            {"alias": mine, "alt_aliases": [bad]},
        )
        assert status == 400, answer
        assert answer["errcode"] == "M_BAD_ALIAS", answer

    # The primary alias is checked the same way.
    status, answer = put_state(synapse, provisioner.token, room_id, "m.room.canonical_alias", {"alias": missing})
    assert status == 400 and answer["errcode"] == "M_BAD_ALIAS", answer

    # Nothing changed.
    status, content = get_state_event(synapse, provisioner.token, room_id, "m.room.canonical_alias")
    assert (status, content) == (200, {"alias": mine})


def test_public_rooms_follows_directory_visibility_at_once(synapse, provisioner, make_user):
    reader = make_user("reader")
    rooms = [create_room(synapse, provisioner.token, preset="public_chat", name=f"dir {i}") for i in range(3)]
    directory = f"{CLIENT}/directory/list/room/"

    assert not set(rooms) & set(public_room_ids(synapse, reader.token))
    for room_id in rooms:
        status, answer = synapse.request(
            "PUT", directory + q(room_id), provisioner.token, body={"visibility": "public"}
        )
        assert (status, answer) == (200, {})
        # Read straight after the write: no stale cache in between.
        assert room_id in public_room_ids(synapse, reader.token)

    # Pagination with a small page: every room exactly once, next_batch/since chain.
    status, first = synapse.request("GET", f"{CLIENT}/publicRooms", reader.token, query={"limit": 2})
    assert status == 200, first
    assert len(first["chunk"]) == 2
    assert first["next_batch"]
    assert "prev_batch" not in first
    assert first["total_room_count_estimate"] >= 3
    status, second = synapse.request(
        "GET",
        f"{CLIENT}/publicRooms",
        reader.token,
        query={"limit": 2, "since": first["next_batch"]},
    )
    assert status == 200, second
    assert second["chunk"]
    assert "prev_batch" in second
    assert not {r["room_id"] for r in first["chunk"]} & {r["room_id"] for r in second["chunk"]}
    paged = public_room_ids(synapse, reader.token, limit=2)
    assert len(paged) == len(set(paged))
    assert set(rooms) <= set(paged)
    assert set(paged) == set(public_room_ids(synapse, reader.token, limit=100))

    status, answer = synapse.request("PUT", directory + q(rooms[0]), provisioner.token, body={"visibility": "private"})
    assert (status, answer) == (200, {})
    listed = public_room_ids(synapse, reader.token)
    assert rooms[0] not in listed
    assert set(rooms[1:]) <= set(listed)
    status, answer = synapse.request("GET", directory + q(rooms[0]))
    assert (status, answer) == (200, {"visibility": "private"})


def test_public_rooms_needs_a_token_and_hides_invite_only_rooms(synapse, provisioner):
    # allow_public_rooms_without_auth defaults to false.
    status, answer = synapse.request("GET", f"{CLIENT}/publicRooms", query={"limit": 1})
    assert status == 401 and answer["errcode"] == "M_MISSING_TOKEN", answer

    # An invite-only room published in the directory is "public" for
    # /directory/list/room but is left out of /publicRooms (Synapse lists only
    # rooms whose join rule is public/knock/knock_restricted or whose history is
    # world_readable): /publicRooms cannot be used to read directory visibility.
    room_id = create_room(synapse, provisioner.token, preset="private_chat", visibility="public")
    status, answer = synapse.request("GET", f"{CLIENT}/directory/list/room/{q(room_id)}")
    assert (status, answer) == (200, {"visibility": "public"})
    assert room_id not in public_room_ids(synapse, provisioner.token)

    status, answer = put_state(synapse, provisioner.token, room_id, "m.room.join_rules", {"join_rule": "public"})
    assert status == 200, answer
    assert room_id in public_room_ids(synapse, provisioner.token)


def test_state_of_invite_only_room_is_forbidden_to_non_members(synapse, provisioner, make_user):
    outsider = make_user("outsider")
    room_id = create_room(synapse, provisioner.token, preset="private_chat", name="secret")

    status, answer = synapse.request("GET", f"{CLIENT}/rooms/{q(room_id)}/state", outsider.token)
    assert status == 403, answer
    assert answer["errcode"] == "M_FORBIDDEN"

    status, answer = get_state_event(synapse, outsider.token, room_id, "m.room.name")
    assert status == 403 and answer["errcode"] == "M_FORBIDDEN", answer

    # The creator can read it.
    assert room_state(synapse, provisioner.token, room_id)[("m.room.name", "")] == {"name": "secret"}


def test_joined_rooms_lists_created_rooms(synapse, make_user):
    owner = make_user("owner")
    status, answer = synapse.request("GET", f"{CLIENT}/joined_rooms", owner.token)
    assert (status, answer) == (200, {"joined_rooms": []})

    rooms = {create_room(synapse, owner.token, preset="private_chat") for _ in range(2)}
    status, answer = synapse.request("GET", f"{CLIENT}/joined_rooms", owner.token)
    assert status == 200, answer
    assert set(answer["joined_rooms"]) == rooms


def test_rate_limited_answer_carries_retry_after_ms(tmp_path):
    with SynapseServer(tmp_path / "limited", rate_limited=True) as limited:
        token = limited.register("chatty")
        status, answer = limited.request("POST", f"{CLIENT}/createRoom", token, body={})
        assert status == 200, answer
        room_id = answer["room_id"]

        seen: list[int] = []
        for i in range(40):
            status, answer = limited.request(
                "PUT",
                f"{CLIENT}/rooms/{q(room_id)}/send/m.room.message/txn{i}",
                token,
                body={"msgtype": "m.text", "body": f"message {i}"},
            )
            seen.append(status)
            if status != 200:
                break
        assert status == 429, seen
        assert answer["errcode"] == "M_LIMIT_EXCEEDED"
        assert isinstance(answer["retry_after_ms"], int)
        assert answer["retry_after_ms"] > 0
        # rc_message defaults to burst 10, and createRoom counts against it too.
        assert 5 <= len(seen) <= 12, seen


def test_aliases_and_directory_visibility_are_answered_without_a_token(synapse, provisioner, prefix):
    """A plan without a mirror's token reads the mirror's aliases and directory listing so."""
    room_id = create_room(synapse, provisioner.token, room_alias_name=f"{prefix}-open", visibility="public")
    status, answer = synapse.request("GET", f"{CLIENT}/directory/room/{q(f'#{prefix}-open:opendev.org')}")
    assert (status, answer.get("room_id")) == (200, room_id), answer
    status, answer = synapse.request("GET", f"{CLIENT}/directory/list/room/{q(room_id)}")
    assert (status, answer) == (200, {"visibility": "public"})
    status, answer = synapse.request("GET", f"{CLIENT}/directory/room/{q(f'#{prefix}-none:opendev.org')}")
    assert status == 404, answer
    status, answer = synapse.request("GET", f"{CLIENT}/account/whoami")  # the rest needs one
    assert status == 401, answer
