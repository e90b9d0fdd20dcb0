"""Avatar files: what validate accepts (by the file's bytes, inside the config directory, at most
1 MiB) and what the config knows of each file (its sha256, its type)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from roomsync import avatars
from roomsync.config import load_config
from roomsync.errors import ConfigError

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
