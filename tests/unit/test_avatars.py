"""Avatar files: what validate accepts (by the file's bytes, inside the config directory, at most
1 MiB) and what the config knows of each file (its sha256, its type)."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from roomsync import avatars
from roomsync.actions import CreateRoom, MediaRef, PutState, Upload
from roomsync.config import load_config
from roomsync.errors import ConfigError
from roomsync.live import parse_room
from roomsync.plan import make_plan
from tests.unit.planning import ME, config, room, snapshot, spec

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 16


def config_dir(tmp_path: Path, avatar: str, files: dict[str, bytes]) -> Path:
    (tmp_path / "rooms").mkdir(parents=True, exist_ok=True)
    (tmp_path / "roomsync.yaml").write_text("server_name: opendev.org\n")
    (tmp_path / "rooms" / "a.yaml").write_text(f"rooms:\n  - alias: zuul\n    avatar: {avatar}\n")
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    return tmp_path


def problems(root: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(root)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0" + bytes(20), "image/jpeg"),
        (b"GIF89a" + bytes(9), "image/gif"),
        (WEBP, "image/webp"),
    ],
)
def test_an_image_is_known_by_its_bytes_and_hashed(tmp_path: Path, data: bytes, mime: str) -> None:
    root = config_dir(tmp_path, "avatars/zuul.img", {"avatars/zuul.img": data})
    known = load_config(root).avatars["avatars/zuul.img"]
    assert (known.mime, known.sha256, known.size) == (mime, hashlib.sha256(data).hexdigest(), len(data))
    assert load_config(root).rooms[0].get("avatar") == "avatars/zuul.img"


def test_a_file_over_one_mebibyte_is_refused(tmp_path: Path) -> None:
    root = config_dir(tmp_path, "big.png", {"big.png": PNG + bytes(avatars.MAX_BYTES)})
    [problem] = problems(root)
    assert problem.endswith(
        f"a.yaml:3:13: avatar file 'big.png' is {len(PNG) + avatars.MAX_BYTES:,} bytes; "
        "at most 1,048,576 (1 MiB) is allowed"
    )
    exactly = config_dir(tmp_path / "ok", "max.png", {"max.png": PNG + bytes(avatars.MAX_BYTES - len(PNG))})
    assert load_config(exactly).avatars["max.png"].size == avatars.MAX_BYTES


def test_a_symlink_out_of_the_config_directory_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(PNG)
    root = config_dir(tmp_path / "c", "avatars/zuul.png", {})
    (root / "avatars").mkdir()
    (root / "avatars" / "zuul.png").symlink_to(outside)
    assert any("leads outside the config directory" in p for p in problems(root))


def test_a_symlink_inside_the_config_directory_is_fine(tmp_path: Path) -> None:
    root = config_dir(tmp_path, "avatars/zuul.png", {"logo.png": PNG})
    (root / "avatars").mkdir()
    (root / "avatars" / "zuul.png").symlink_to(root / "logo.png")
    assert load_config(root).avatars["avatars/zuul.png"].sha256 == hashlib.sha256(PNG).hexdigest()


def test_a_directory_is_not_an_avatar(tmp_path: Path) -> None:
    root = config_dir(tmp_path, "avatars", {"avatars/x.png": PNG})
    assert any("'avatars' is not a file" in p for p in problems(root))


def test_an_mxc_uri_is_not_a_file() -> None:
    assert not avatars.is_file("mxc://opendev.org/AbC") and avatars.is_file("avatars/zuul.png")


# --- the planner ---------------------------------------------------------------------------------

LOGO = avatars.AvatarFile("avatars/logo.png", "ab" * 32, "image/png", 40)
URL = "mxc://opendev.org/logo"


def planned(live_rooms: dict, *specs):
    cfg = dataclasses.replace(config(*specs), avatars={LOGO.path: LOGO})
    return make_plan(cfg, snapshot(live_rooms))


def live(
    avatar_url: str | None, record: dict | None, room_id: str = "!dev:opendev.org", canonical: str = "#dev:opendev.org"
):
    base = room(room_id=room_id, canonical=canonical)
    events = [{"type": t, "state_key": k, "sender": ME, "content": dict(c)} for (t, k), c in base.state.items()]
    if avatar_url:
        events.append({"type": "m.room.avatar", "state_key": "", "sender": ME, "content": {"url": avatar_url}})
    marker = {"alias": canonical, **({"avatar": record} if record else {})}
    events.append({"type": "dev.roomsync.managed", "state_key": "", "sender": ME, "content": marker})
    return parse_room(room_id, events)


def test_a_new_room_uploads_its_avatar_first_and_creates_with_it() -> None:
    plan = planned({}, spec("dev", avatar=LOGO.path)).rooms[0]
    upload, create = plan.actions[0], plan.actions[1]
    assert isinstance(upload, Upload) and upload.sha256 == LOGO.sha256 and upload.source.endswith(LOGO.path)
    assert isinstance(create, CreateRoom)
    initial = {e["type"]: e["content"] for e in create.body["initial_state"]}
    assert initial["m.room.avatar"] == {"url": MediaRef(LOGO.sha256)}
    assert initial["dev.roomsync.managed"]["avatar"] == {
        "file": LOGO.path,
        "sha256": LOGO.sha256,
        "url": MediaRef(LOGO.sha256),
    }


def test_a_recorded_file_in_place_has_nothing_to_do() -> None:
    record = LOGO.record(URL)
    assert not planned({"dev": live(URL, record)}, spec("dev", avatar=LOGO.path)).has_changes


def test_a_hand_set_avatar_is_put_back_without_an_upload() -> None:
    plan = planned({"dev": live("mxc://x/y", LOGO.record(URL))}, spec("dev", avatar=LOGO.path)).rooms[0]
    assert not [a for a in plan.actions if isinstance(a, Upload)]
    assert PutState("m.room.avatar", "", {"url": URL}) in plan.actions
    assert [(c.before, c.after) for c in plan.changes] == [("mxc://x/y", f"{LOGO.path} (sha256 {LOGO.short})")]


def test_a_changed_file_is_uploaded_and_said_so() -> None:
    old = {"file": LOGO.path, "sha256": "cd" * 32, "url": URL}
    plan = planned({"dev": live(URL, old)}, spec("dev", avatar=LOGO.path)).rooms[0]
    assert isinstance(plan.actions[0], Upload)
    assert plan.changes[0].after == f"{LOGO.path} changed (sha256 {LOGO.short})"
    marker = next(a.content for a in plan.actions if isinstance(a, PutState) and a.event_type == "dev.roomsync.managed")
    assert marker == {
        "alias": "#dev:opendev.org",
        "avatar": {"file": LOGO.path, "sha256": LOGO.sha256, "url": MediaRef(LOGO.sha256)},
    }


def test_a_file_another_room_records_is_reused() -> None:
    other = live(URL, LOGO.record(URL), room_id="!other:opendev.org", canonical="#other:opendev.org")
    plan = planned(
        {"dev": live(None, None), "other": other}, spec("dev", avatar=LOGO.path), spec("other", avatar=LOGO.path)
    )
    dev = plan.rooms[0]
    assert not [a for a in dev.actions if isinstance(a, Upload)]
    assert PutState("m.room.avatar", "", {"url": URL}) in dev.actions
