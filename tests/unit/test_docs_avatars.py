"""Avatars on the join page: a room's or space's avatar kept as a file (`avatar: avatars/zuul.png`) is
copied next to the page and shown with a relative URL; mxc:// avatars are not shown (the page
fetches nothing remote). The Content-Security-Policy then allows images from 'self' only."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
import yaml

from roomsync.config import load_config
from roomsync.docs import build_page, render, to_html, write_page
from roomsync.docs.page import Avatar
from roomsync.errors import RoomsyncError
from roomsync.model import Config, DocsSettings

from .test_docs import SERVER, Collector, config, run_cli, space, spec


def png(width: int = 4, height: int = 4) -> bytes:
    """A small valid PNG, made here so that the test needs no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x20\x90\xd0" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def at(root: Path, cfg: Config) -> Config:
    return Config(root=root, server_name=cfg.server_name, homeserver=None, rooms=cfg.rooms, docs=cfg.docs)


def test_file_avatars_are_shown_and_mxc_ones_are_not(tmp_path):
    cfg = at(
        tmp_path,
        config(
            space("hub", avatar="avatars/hub.png"),
            spec("zuul", avatar="avatars/zuul.png", spaces=["hub"]),
            spec("remote", avatar="mxc://example.org/AbCdEf", spaces=["hub"]),
            spec("plain", spaces=["hub"]),
        ),
    )
    page = build_page(cfg)
    (section,) = page.spaces
    assert section.space.avatar == Avatar(tmp_path / "avatars/hub.png", "hub.png")
    assert [e.avatar for e in section.rooms] == [None, None, Avatar(tmp_path / "avatars/zuul.png", "zuul.png")]
    assert section.space.avatar.href == "avatars/hub.png"
    assert [a.name for a in page.avatars()] == ["hub.png", "zuul.png"]
    html = render(cfg, "html")
    doc = Collector(html)
    assert [v for t, n, v in doc.attrs if t == "img" and n == "src"] == ["avatars/hub.png", "avatars/zuul.png"]
    assert all(v == "" for t, n, v in doc.attrs if t == "img" and n == "alt")  # the name is next to it
    assert "mxc://" not in html and "AbCdEf" not in html
    (csp,) = [v for t, n, v in doc.attrs if t == "meta" and n == "content" and v and "img-src" in v]
    assert csp == to_html.csp(to_html.CSS, True) and "img-src 'self';" in csp
    assert csp.replace("img-src 'self'", "img-src 'none'") == to_html.CSP  # everything else as strict as before
    assert "avatars/" not in render(cfg, "markdown") and "![" not in render(cfg, "markdown")


def test_without_file_avatars_no_image_is_allowed():
    cfg = config(spec("remote", avatar="mxc://example.org/AbCdEf"), spec("plain"))
    html = render(cfg, "html")
    (csp,) = [v for t, n, v in Collector(html).attrs if t == "meta" and n == "content" and v and "img-src" in v]
    assert "<img" not in html and csp == to_html.CSP and "img-src 'none';" in csp
    assert build_page(cfg).avatars() == ()


def test_defaults_give_rooms_the_same_file_once_and_names_never_clash(tmp_path):
    rooms = [
        spec("a", avatar="avatars/logo.png"),
        spec("b", avatar="./avatars/../avatars/logo.png"),  # the same file, written otherwise
        spec("c", avatar="other/logo.png"),
        spec("d", avatar="third/logo.png"),
        spec("e", avatar="logo-2.png"),
        spec("f", avatar='we"ird <name>&.png'),
    ]
    page = build_page(at(tmp_path, config(*rooms)))
    names = {e.alias.split(":")[0][1:]: e.avatar.name for e in page.other_rooms if e.avatar}
    assert names == {
        "a": "logo.png",
        "b": "logo.png",
        "c": "logo-3.png",  # by path: avatars/logo.png, logo-2.png, other/logo.png, third/logo.png
        "d": "logo-4.png",
        "e": "logo-2.png",
        "f": 'we"ird <name>&.png',
    }
    by_name = {a.name: a for a in page.avatars()}
    assert len(by_name) == 5 and by_name["logo.png"].source == tmp_path / "avatars/logo.png"
    assert by_name['we"ird <name>&.png'].href == "avatars/we%22ird%20%3Cname%3E%26.png"
    assert 'src="avatars/we%22ird%20%3Cname%3E%26.png"' in render(at(tmp_path, config(*rooms)), "html")


def test_a_hidden_private_rooms_avatar_is_neither_shown_nor_copied(tmp_path):
    (tmp_path / "avatars").mkdir()
    (tmp_path / "avatars" / "secret.png").write_bytes(png())
    cfg = at(tmp_path, config(spec("ops", avatar="avatars/secret.png", join_rule="invite"), spec("lobby")))
    assert build_page(cfg).avatars() == ()
    write_page(cfg, tmp_path / "site")
    assert sorted(p.name for p in (tmp_path / "site").iterdir()) == ["index.html"]


def test_write_page_copies_the_avatars_the_page_shows(tmp_path):
    root = tmp_path / "config"
    (root / "avatars").mkdir(parents=True)
    (root / "avatars" / "hub.png").write_bytes(png(6, 6))
    (root / "avatars" / "unused.png").write_bytes(png(2, 2))
    cfg = at(root, config(space("hub", avatar="avatars/hub.png"), spec("r", spaces=["hub"])))
    site = tmp_path / "site"
    assert write_page(cfg, site) == site / "index.html"
    assert sorted(str(p.relative_to(site)) for p in site.rglob("*") if p.is_file()) == [
        "avatars/hub.png",
        "index.html",
    ]
    assert (site / "avatars" / "hub.png").read_bytes() == png(6, 6)
    assert oct((site / "avatars" / "hub.png").stat().st_mode & 0o777) == "0o644"
    write_page(cfg, tmp_path / "md", "markdown")
    assert [p.name for p in (tmp_path / "md").iterdir()] == ["index.md"]  # Markdown shows no avatar


@pytest.mark.parametrize(
    ("avatar", "message"),
    [
        ("avatars/missing.png", "cannot read avatar"),
        ("../outside.png", "is not a file inside the config directory"),
        ("avatars", "is not a file inside the config directory"),
    ],
)
def test_an_avatar_that_is_not_a_file_inside_the_config_writes_nothing(tmp_path, avatar, message):
    # The config's validation refuses these; a Config built directly still cannot leak a file.
    root = tmp_path / "config"
    (root / "avatars").mkdir(parents=True)
    (tmp_path / "outside.png").write_bytes(png())
    cfg = at(root, config(spec("r", avatar=avatar)))
    with pytest.raises(RoomsyncError, match=message):
        write_page(cfg, tmp_path / "site")
    assert not (tmp_path / "site").exists()


def test_the_cli_copies_the_avatars_of_a_validated_config(tmp_path):
    root = tmp_path / "config"
    (root / "rooms").mkdir(parents=True)
    (root / "avatars").mkdir()
    (root / "avatars" / "zuul.png").write_bytes(png(8, 8))
    (root / "roomsync.yaml").write_text(yaml.safe_dump({"server_name": SERVER}))
    rooms = [
        {"alias": "hub", "type": "space", "avatar": "avatars/zuul.png"},
        {"alias": "zuul", "avatar": "avatars/zuul.png", "spaces": ["hub"]},
    ]
    (root / "rooms" / "a.yaml").write_text(yaml.safe_dump({"rooms": rooms}))
    proc = run_cli("docs", "--out", "site", cwd=root)
    assert proc.returncode == 0 and proc.stdout == "wrote site/index.html\n", proc.stderr
    assert (root / "site" / "avatars" / "zuul.png").read_bytes() == png(8, 8)
    assert render(load_config(root), "html").count('src="avatars/zuul.png"') == 2


def test_this_repositorys_space_shows_its_avatar():
    cfg = load_config(Path(__file__).resolve().parents[2])
    shown = {e.alias: e.avatar for e in build_page(cfg).listed() if e.avatar}
    assert set(shown) == {"#opendev-space:opendev.org"}
    assert shown["#opendev-space:opendev.org"].source.is_file()
    assert isinstance(cfg.docs, DocsSettings)
