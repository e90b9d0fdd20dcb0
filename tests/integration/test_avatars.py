"""Avatars from files against the real Synapse: uploaded once and reused, a changed file uploaded
again and shown in plan, an avatar set by hand put back without an upload, a bot's avatar from a
file, and the record carried through an upgrade. A recording proxy counts the uploads that reach
Synapse."""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import SERVER_NAME as SERVER
from tests.integration.helpers import CLIENT, Result, resolve, roomsync, state, write_config
from tests.integration.http_proxy import AdminHidingProxy
from tests.synapse import q

UPLOAD = "/_matrix/media/v3/upload"


def png(colour: int) -> bytes:
    """A tiny valid PNG (one pixel) of this grey level."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = (1).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes([0, colour])))
        + chunk(b"IEND", b"")
    )


def sync_counting_uploads(synapse, provisioner, config: Path, *args: str) -> tuple[Result, int]:
    with AdminHidingProxy(synapse.port, hide_admin=False) as proxy:
        result = roomsync(config, "sync", *args, url=proxy.url, token=provisioner.token)
        uploads = sum(1 for method, path, _ in proxy.calls if method == "POST" and path.startswith(UPLOAD))
    assert result.code == 0, result.out + result.err
    return result, uploads


def downloaded(synapse, token: str, mxc: str) -> bytes:
    server, media_id = mxc.removeprefix("mxc://").split("/")
    url = f"{synapse.url}/_matrix/client/v1/media/download/{q(server)}/{q(media_id)}"
    import urllib.request

    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.read()


def avatar_of(synapse, token: str, room_id: str) -> tuple[str | None, dict[str, Any] | None]:
    found = state(synapse, token, room_id)
    return found.get(("m.room.avatar", ""), {}).get("url"), found.get(("dev.roomsync.managed", ""), {}).get("avatar")


def test_a_room_avatar_file_is_uploaded_once_changed_files_again_and_hand_edits_put_back(
    synapse, provisioner, tmp_path: Path, prefix: str
):
    config = tmp_path / "c"
    (config / "avatars").mkdir(parents=True)
    (config / "avatars" / "logo.png").write_bytes(png(10))
    (config / "avatars" / "space.png").write_bytes(png(200))
    rooms = [
        {"alias": f"{prefix}-space", "type": "space", "avatar": "avatars/space.png"},
        {"alias": f"{prefix}-a"},
        {"alias": f"{prefix}-b"},
    ]
    write_config(config, SERVER, rooms, defaults={"avatar": "avatars/logo.png"})
    logo_sha = hashlib.sha256(png(10)).hexdigest()
    planned = roomsync(config, "plan", url=synapse.url, token=provisioner.token)
    assert f'avatar: "avatars/logo.png (sha256 {logo_sha[:12]})"' in planned.out, planned.out + planned.err

    _, uploads = sync_counting_uploads(synapse, provisioner, config)
    assert uploads == 2  # two files, three rooms
    a, b, space = (resolve(synapse, f"#{prefix}-{x}:{SERVER}") for x in ("a", "b", "space"))
    url, record = avatar_of(synapse, provisioner.token, a)
    assert url and avatar_of(synapse, provisioner.token, b)[0] == url
    assert record == {"file": "avatars/logo.png", "sha256": logo_sha, "url": url}
    assert downloaded(synapse, provisioner.token, url) == png(10)
    assert downloaded(synapse, provisioner.token, avatar_of(synapse, provisioner.token, space)[0]) == png(200)

    _, uploads = sync_counting_uploads(synapse, provisioner, config)
    assert uploads == 0
    assert roomsync(config, "plan", "--detailed-exitcode", url=synapse.url, token=provisioner.token).code == 0

    # A new room with a file already uploaded reuses it.
    write_config(config, SERVER, [*rooms, {"alias": f"{prefix}-c"}], defaults={"avatar": "avatars/logo.png"})
    _, uploads = sync_counting_uploads(synapse, provisioner, config)
    assert uploads == 0 and avatar_of(synapse, provisioner.token, resolve(synapse, f"#{prefix}-c:{SERVER}"))[0] == url

    # A changed file: shown, uploaded once, every room that uses it moved to it.
    (config / "avatars" / "logo.png").write_bytes(png(90))
    new_sha = hashlib.sha256(png(90)).hexdigest()
    planned = roomsync(config, "plan", url=synapse.url, token=provisioner.token)
    assert f'-> "avatars/logo.png changed (sha256 {new_sha[:12]})"' in planned.out, planned.out
    _, uploads = sync_counting_uploads(synapse, provisioner, config)
    assert uploads == 1
    new_url, record = avatar_of(synapse, provisioner.token, a)
    assert new_url != url and record["sha256"] == new_sha
    assert downloaded(synapse, provisioner.token, new_url) == png(90)

    # An avatar set by hand is drift: the recorded upload is put back, nothing is uploaded.
    path = f"{CLIENT}/rooms/{q(b)}/state/m.room.avatar/"
    assert synapse.request("PUT", path, provisioner.token, body={"url": "mxc://elsewhere.example/x"})[0] == 200
    planned = roomsync(config, "plan", url=synapse.url, token=provisioner.token)
    assert f'avatar: "mxc://elsewhere.example/x" -> "avatars/logo.png (sha256 {new_sha[:12]})"' in planned.out
    _, uploads = sync_counting_uploads(synapse, provisioner, config)
    assert uploads == 0 and avatar_of(synapse, provisioner.token, b)[0] == new_url


def test_a_bots_avatar_from_a_file_is_uploaded_once(synapse, provisioner, tmp_path: Path, prefix: str):
    config = write_config(tmp_path / "c", SERVER, [{"alias": f"{prefix}-r"}])
    (config / "avatars").mkdir()
    (config / "avatars" / "bot.png").write_bytes(png(30))
    bot = f"@{prefix}-bot:{SERVER}"
    bots = [{"name": "bot", "user": bot, "rooms": [f"{prefix}-r"], "create_account": True, "avatar": "avatars/bot.png"}]
    (config / "bots.yaml").write_text(yaml.safe_dump({"bots": bots}))
    _, uploads = sync_counting_uploads(synapse, provisioner, config)
    assert uploads == 1
    status, profile = synapse.request("GET", f"{CLIENT}/profile/{q(bot)}", provisioner.token)
    assert status == 200 and downloaded(synapse, provisioner.token, profile["avatar_url"]) == png(30)
    _, uploads = sync_counting_uploads(synapse, provisioner, config)
    assert uploads == 0
    assert roomsync(config, "plan", "--detailed-exitcode", url=synapse.url, token=provisioner.token).code == 0

    (config / "avatars" / "bot.png").write_bytes(png(31))
    planned = roomsync(config, "plan", url=synapse.url, token=provisioner.token)
    assert f'avatar: "{profile["avatar_url"]}" -> "avatars/bot.png (sha256' in planned.out, planned.out
    _, uploads = sync_counting_uploads(synapse, provisioner, config)
    assert uploads == 1
    status, profile = synapse.request("GET", f"{CLIENT}/profile/{q(bot)}", provisioner.token)
    assert downloaded(synapse, provisioner.token, profile["avatar_url"]) == png(31)


def test_an_upgrade_keeps_the_avatar_without_uploading_it_again(synapse, provisioner, tmp_path: Path, prefix: str):
    config = tmp_path / "c"
    (config / "avatars").mkdir(parents=True)
    (config / "avatars" / "logo.png").write_bytes(png(60))
    room = {"alias": f"{prefix}-up", "avatar": "avatars/logo.png", "room_version": "11"}
    write_config(config, SERVER, [room])
    _, uploads = sync_counting_uploads(synapse, provisioner, config)
    old = resolve(synapse, f"#{prefix}-up:{SERVER}")
    url, _ = avatar_of(synapse, provisioner.token, old)
    assert uploads == 1

    write_config(config, SERVER, [{**room, "room_version": "12"}])
    _, uploads = sync_counting_uploads(synapse, provisioner, config)
    new = resolve(synapse, f"#{prefix}-up:{SERVER}")
    assert new != old and uploads == 0
    assert avatar_of(synapse, provisioner.token, new) == (
        url,
        {"file": "avatars/logo.png", "sha256": hashlib.sha256(png(60)).hexdigest(), "url": url},
    )
    assert roomsync(config, "plan", "--detailed-exitcode", url=synapse.url, token=provisioner.token).code == 0
