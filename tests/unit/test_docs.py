"""The join page (`roomsync docs`): page model, both renderers, the CLI (the intro: test_docs_intro.py).

The Markdown output is read back with two real Markdown implementations, markdown-it-py
(CommonMark, as MyST/Sphinx uses it) and Python-Markdown (as MkDocs uses it), so
"escaped" means what those tools do with it, not what we hope they do.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import markdown as python_markdown
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from roomsync.config import load_config
from roomsync.docs import FILE_NAMES, build_page, intro, mdtext, render, to_html, write_page
from roomsync.docs.page import Access, Entry, Moved, Page, matrix_to
from roomsync.errors import Mark, RoomsyncError
from roomsync.model import BotSpec, Config, DocsClient, DocsSettings, RoomSpec

SERVER = "example.org"
MARK = Mark("rooms/x.yaml", 1, 1)
REPO = Path(__file__).resolve().parents[2]
CLOSED_PORT_URL = "http://127.0.0.1:9"

HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(2)">',
    '"><svg onload=alert(3)>',
    "[link](https://evil.example/) ![img](https://evil.example/i.png) <https://evil.example/>",
    "# heading\n## another\nSetext\n===\n- item\n1. item\n> quote\n    code block\n---",
    "*em* **strong** _u_ `code` ~~del~~ $math$ :::{note}\n%comment\n!!! note\n[^1]\n[x]: https://evil.example/",
    "a | b\n|---|---|\n| c | d |",
    "&lt;script&gt; &amp; &#60;b&#62; \\<b\\>",
    "line one\r# heading after a carriage return",
    "javascript:alert(4) data:text/html,<b>x</b>",
]
EVIL = "\n".join(HOSTILE)


def spec(alias: str, **fields: Any) -> RoomSpec:
    return RoomSpec(alias, fields, mark=MARK)


def space(alias: str, **fields: Any) -> RoomSpec:
    return spec(alias, type="space", **fields)


def config(*rooms: RoomSpec, bots: tuple[BotSpec, ...] = (), **docs: Any) -> Config:
    return Config(
        root=Path("."), server_name=SERVER, homeserver=None, rooms=tuple(rooms), bots=bots, docs=DocsSettings(**docs)
    )


def full(alias: str) -> str:
    return f"#{alias}:{SERVER}"


def shape(section) -> tuple:
    """A section as (space, [rooms], [sub-sections]) of local parts, for compact assertions."""
    local = lambda e: e.alias[1:].split(":")[0]  # noqa: E731
    return (local(section.space), [local(e) for e in section.rooms], [shape(s) for s in section.spaces])


# --- the page model ----------------------------------------------------------------------------------


def test_spaces_nest_in_client_order_and_loose_rooms_go_to_other_rooms():
    page = build_page(
        config(
            space("zz-top"),
            space("aa-top"),
            space("sub", spaces=[{"space": "zz-top", "order": "5"}]),
            spec("no-order", spaces=["zz-top"]),
            spec("b-order-1", spaces=[{"space": "zz-top", "order": "1"}]),
            spec("a-order-1", spaces=[{"space": "zz-top", "order": "1"}]),
            spec("upper", spaces=[{"space": "zz-top", "order": "B"}]),
            spec("lower", spaces=[{"space": "zz-top", "order": "a"}]),  # code points: "B" < "a"
            spec("deep", spaces=["sub", "aa-top"]),  # in two spaces: listed under both
            spec("loose-b"),
            spec("loose-a"),
        )
    )
    assert [shape(s) for s in page.spaces] == [
        ("aa-top", ["deep"], []),
        ("zz-top", ["a-order-1", "b-order-1", "upper", "lower", "no-order"], [("sub", ["deep"], [])]),
    ]
    assert [e.alias for e in page.other_rooms] == [full("loose-a"), full("loose-b")]
    assert page.moved == ()


def test_nested_spaces_are_sorted_like_rooms_and_deep_nesting_is_bounded():
    rooms = [space("s0")] + [space(f"s{i}", spaces=[f"s{i - 1}"]) for i in range(1, 8)]
    rooms += [space("b-sub", spaces=[{"space": "s0", "order": "1"}]), space("a-sub", spaces=["s0"])]
    page = build_page(config(*rooms))
    (top,) = page.spaces
    assert [shape(s)[0] for s in top.spaces] == ["b-sub", "a-sub", "s1"]  # ordered first, then by alias
    depth, section = 1, top.spaces[2]
    while section.spaces:
        depth, section = depth + 1, section.spaces[0]
    assert depth == 3 and [e.alias for e in section.rooms] == [full("s4")]  # s0 h2 .. s3 h5; s4 is an entry
    assert section.rooms[0].is_space


def test_cyclic_spaces_built_directly_do_not_recurse_forever():
    page = build_page(config(space("a", spaces=["b"]), space("b", spaces=["a"]), spec("r", spaces=["a"])))
    assert page.spaces == () and page.other_rooms == ()  # validate refuses cycles; the model just stays finite


def test_access_encryption_and_bots():
    bots = (
        BotSpec("everywhere", "@all:example.org", ("*",), display_name="All Bot"),
        BotSpec("logger", "@log:example.org", ("pub",)),
    )
    page = build_page(
        config(
            space("hub", name="The Hub", join_rule="public"),
            spec("pub", join_rule="public", spaces=["hub"]),
            spec("ask", join_rule="knock", spaces=["hub"]),
            spec("members", join_rule="restricted", spaces=["hub", "other"], encrypted=True),
            spec("listed-invite", join_rule="invite", directory="public", spaces=["hub"]),
            spec("unmanaged", spaces=["hub"]),
            space("other", join_rule="public"),
            bots=bots,
            show_bots=True,
        )
    )
    by_alias = {e.alias: e for e in page.entries()}
    labels = {a: (e.access.label if e.access else None) for a, e in by_alias.items()}
    assert labels == {
        full("hub"): "public",
        full("pub"): "public",
        full("ask"): "ask to join",
        full("members"): f"members of The Hub or {full('other')}",
        full("listed-invite"): "invite only",
        full("unmanaged"): None,
        full("other"): "public",
    }
    assert [e.alias for e in by_alias.values() if e.encrypted] == [full("members")]
    assert [b.label for b in by_alias[full("pub")].bots] == ["All Bot", "logger"]
    assert [b.user for b in by_alias[full("ask")].bots] == ["@all:example.org"]
    assert by_alias[full("pub")].link == "https://matrix.to/#/%23pub%3Aexample.org"


def test_matrix_to_links_encode_the_whole_alias():
    assert matrix_to("#zuul:opendev.org") == "https://matrix.to/#/%23zuul%3Aopendev.org"
    assert matrix_to("#a/b+c=d:example.org:8448") == "https://matrix.to/#/%23a%2Fb%2Bc%3Dd%3Aexample.org%3A8448"


def test_invite_only_rooms_outside_the_directory_are_left_out_unless_include_private():
    rooms = (
        space("hub"),
        space("secret-space", join_rule="invite"),
        spec("secret", join_rule="invite", directory="private", spaces=["hub"], topic="do not show"),
        spec("unlisted", join_rule="invite"),  # directory not managed: Matrix's default is unlisted
        spec("listed", join_rule="invite", directory="public"),
        spec("in-secret-space", join_rule="public", spaces=["secret-space"]),
        space("sub", spaces=["secret-space", "hub"]),
    )
    page = build_page(config(*rooms))
    aliases = {e.alias for e in page.entries()}
    assert aliases == {full("hub"), full("listed"), full("in-secret-space"), full("sub")}
    assert [shape(s) for s in page.spaces] == [("hub", [], [("sub", [], [])])]
    assert [e.alias for e in page.other_rooms] == [full("in-secret-space"), full("listed")]  # its space is hidden
    for fmt in FILE_NAMES:
        out = render(config(*rooms), fmt)
        assert "secret" not in out.replace("in-secret-space", "").replace("in\\-secret\\-space", "")
        assert "unlisted" not in out

    everything = build_page(config(*rooms, include_private=True))
    assert {e.alias for e in everything.entries()} == {full(r.alias) for r in rooms}
    assert [shape(s) for s in everything.spaces] == [
        ("hub", ["secret"], [("sub", [], [])]),
        ("secret-space", ["in-secret-space"], [("sub", [], [])]),  # a space in two spaces is listed in both
    ]
    assert "invite only" in render(config(*rooms, include_private=True), "html")


def test_retired_rooms_are_listed_under_moved_with_their_successor():
    rooms = (
        space("hub"),
        spec("new", name="New room", spaces=["hub"]),
        spec("old", name="Old room", retired=True, successor="new", spaces=["hub"]),
        spec("older", retired=True, successor="#elsewhere:matrix.org"),
        spec("full-local", retired=True, successor=f"#new:{SERVER}"),
        spec("closed", retired=True),
        spec("to-private", retired=True, successor="private"),
        spec("private", join_rule="invite"),
        spec("hidden-retired", retired=True, successor="new", join_rule="invite"),
    )
    page = build_page(config(*rooms))
    assert [shape(s) for s in page.spaces] == [("hub", ["new"], [])]  # a retired room is in no space
    moved = {m.entry.alias: m.successor for m in page.moved}
    assert list(moved) == [full(a) for a in ("closed", "full-local", "old", "older", "to-private")]
    assert moved[full("old")].name == "New room" and moved[full("old")].link == matrix_to(full("new"))
    assert moved[full("full-local")] == moved[full("old")]
    assert moved[full("older")].link == "https://matrix.to/#/%23elsewhere%3Amatrix.org"
    assert moved[full("closed")] is None and moved[full("to-private")] is None  # no link to an unlisted room

    html = render(config(*rooms), "html")
    assert "<h2>Moved</h2>" in html and "This room is closed." in html
    assert f'Moved to <a class="name" href="{matrix_to(full("new"))}">New room</a>' in html
    assert f'href="{matrix_to(full("old"))}"' not in html, "the retired room itself is not linked"
    md = render(config(*rooms), "markdown")
    assert f"- **Old room** · `#old:{SERVER}` · moved to **[New room]({matrix_to(full('new'))})**" in md


def test_title_default_and_how_to_join():
    page = build_page(config(spec("lobby", join_rule="public")))
    assert page.title == f"Matrix rooms of {SERVER}"
    steps = render(config(spec("lobby", join_rule="public")), "markdown")
    assert "## How to join" in steps and f"such as `#lobby:{SERVER}`" in steps
    assert "What the marks" not in steps, "nothing to explain when every room is public"
    mixed = render(config(spec("a", join_rule="knock", room_version="12"), spec("b", encrypted=True)), "markdown")
    assert "- **ask to join**: " in mixed and "- **encrypted**: " in mixed and "**public**" not in mixed
    assert build_page(config(title="Our rooms")).title == "Our rooms"
    assert "such as `#room:example.org`" in render(config(), "markdown")


def test_a_blank_name_shows_the_alias():
    page = build_page(
        config(
            spec("r", name=" \n"),
            spec("s", name=""),
            bots=(BotSpec("b", "@b:x.example", ("r",), display_name=" "),),
            show_bots=True,
        )
    )
    assert [e.label for e in page.other_rooms] == [full("r"), full("s")]
    assert page.other_rooms[0].bots[0].label == "b"
    assert f"**[{mdtext.one_line(full('r'))}]({matrix_to(full('r'))})**" in render(
        config(spec("r", name=" ")), "markdown"
    )


def test_page_model_holds_no_markup():
    page = build_page(config(spec("r", name="<b>", topic="*t*"), title="<i>", intro="*hi*"))
    assert page.title == "<i>" and page.other_rooms[0].name == "<b>" and page.other_rooms[0].topic == "*t*"
    assert page.intro == "*hi*"  # CommonMark as the config wrote it: the renderers render it safely
    assert isinstance(page, Page) and isinstance(page.other_rooms[0], Entry)
    assert dataclasses.is_dataclass(Moved) and Access("knock").label == "ask to join"


# --- both formats: escaping, read back by real parsers ------------------------------------------------


class Collector(HTMLParser):
    """Tags, attributes and text of an HTML document."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str | None]] = []
        self.chunks: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        self.attrs += [(tag, name, value) for name, value in attrs]

    handle_startendtag = handle_starttag

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return " ".join("".join(self.chunks).split())

    @property
    def hrefs(self) -> list[str]:
        return [value for tag, name, value in self.attrs if name == "href"]


def commonmark(source: str) -> str:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(source)


def python_markdown_html(source: str) -> str:
    return python_markdown.markdown(
        source,
        extensions=[
            "tables",
            "attr_list",
            "admonition",
            "footnotes",
            "def_list",
            "md_in_html",
            "abbr",
            "fenced_code",
            "toc",
        ],
    )


MARKDOWN_READERS = {"commonmark": commonmark, "python-markdown": python_markdown_html}
PAGE_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "main",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "div",
    "section",
    "p",
    "ul",
    "ol",
    "li",
    "a",
    "code",
    "span",
    "strong",
    "em",
    "footer",
    # the intro's CommonMark
    "br",
    "pre",
    "blockquote",
    "hr",
}
MARKDOWN_TAGS = {
    *("h1", "h2", "h3", "h4", "h5", "h6", "p", "ul", "ol", "li", "a", "code", "strong", "em", "br"),
    *("blockquote", "hr"),  # the intro's; its code blocks are written as code spans
}
PAGE_ATTRIBUTES = {"lang", "charset", "http-equiv", "content", "name", "class", "href", "rel", "start"}


def hostile_config() -> Config:
    bots = (BotSpec("bot", "@bot:example.org", ("*",), display_name=EVIL),)
    clients = (
        DocsClient(EVIL, "https://client.example/?a=1&b=2#x", EVIL),
        DocsClient("not a link", "javascript:alert(6)", "its URL is not https (a Config built directly)"),
    )
    return config(
        space("hub", name=EVIL, topic=EVIL, join_rule="public"),
        space("sub", name=HOSTILE[4], topic=EVIL, spaces=["hub"]),
        spec("lobby", name=EVIL, topic=EVIL, join_rule="restricted", spaces=["sub"], encrypted=True),
        spec("loose", name=HOSTILE[3], topic=EVIL, join_rule="knock"),
        spec("new", name=HOSTILE[0]),
        spec("old", name=EVIL, topic=EVIL, retired=True, successor="new"),
        spec("gone", name=EVIL, retired=True, successor='#x:y.example"><script>alert(5)</script>'),
        bots=bots,
        show_bots=True,
        title=EVIL,
        intro=EVIL + "\n\n- " + HOSTILE[1] + "\n- [x](javascript:alert(1))",
        clients=clients,
        contact='@x:y.example"><script>alert(7)</script>',
    )


def expected_links(cfg: Config) -> set[str]:
    """The rooms' matrix.to links, the contact's, the https clients', and the links the intro's CommonMark
    makes on purpose: only http, https and mailto ones."""
    page = build_page(cfg)
    links = set(intro.links(page.intro))
    # HOSTILE[3]'s links and autolink; "[x](javascript:...)" stays text
    assert links == {"https://evil.example/", "https://evil.example/i.png"}
    assert page.contact is not None and page.contact.link == matrix_to(page.contact.id)
    clients = {"https://client.example/?a=1&b=2#x"}
    return {e.link for e in page.entries()} | links | clients | {page.contact.link}


def test_hostile_strings_stay_text_in_html():
    cfg = hostile_config()
    html = render(cfg, "html")
    doc = Collector(html)
    assert set(doc.tags) <= PAGE_TAGS, set(doc.tags) - PAGE_TAGS
    assert {name for _, name, _ in doc.attrs} <= PAGE_ATTRIBUTES
    assert set(doc.hrefs) == expected_links(cfg)
    assert doc.tags.count("h1") == 1 and doc.tags.count("title") == 1 and doc.tags.count("style") == 1
    # "# heading", "Setext\n===" and "\r# heading after a carriage return", one level down
    intro_h2 = Collector(intro.to_html(cfg.docs.intro)).tags.count("h2")
    assert intro_h2 == 3 and "h1" not in Collector(intro.to_html(cfg.docs.intro)).tags
    assert doc.tags.count("h2") == intro_h2 + 4  # How to join, the hub, Other rooms, Moved
    assert "not a link" in doc.text and "javascript:alert(6)" not in html
    for hostile in HOSTILE:
        for line in hostile.replace("\r", "\n").split("\n"):
            assert " ".join(line.split()) in doc.text, line


@pytest.mark.parametrize("reader", sorted(MARKDOWN_READERS))
def test_hostile_strings_stay_text_in_markdown(reader):
    cfg = hostile_config()
    doc = Collector(MARKDOWN_READERS[reader](render(cfg, "markdown")))
    assert set(doc.tags) <= MARKDOWN_TAGS, set(doc.tags) - MARKDOWN_TAGS
    assert set(doc.hrefs) == expected_links(cfg)
    headings = [t for t in doc.tags if t in {"h1", "h2", "h3", "h4", "h5", "h6"}]
    # title, the intro's (# heading, ## another, Setext ===, # after \r: one level down), How to join, hub > sub,
    # Other rooms, Moved
    assert headings == ["h1", "h2", "h3", "h2", "h2", "h2", "h2", "h3", "h2", "h2"]
    assert "not a link" in doc.text
    for hostile in HOSTILE:
        for line in hostile.replace("\r", "\n").split("\n"):
            assert " ".join(line.split()) in doc.text, (reader, line)


MARKDOWN_TEXT = st.lists(
    st.sampled_from(
        [*list("ab1 \n\t\r#*_-+=.!:%|~$^`[](){}<>&\\'\"/@"), "http://", "www.", "&amp;", "<!--", "-->", "```", "\u2028"]
    ),
    max_size=30,
).map("".join)


@settings(max_examples=150, deadline=None)
@given(MARKDOWN_TEXT)
def test_any_text_is_one_paragraph_of_that_text_in_both_markdowns(value):
    source = mdtext.text(value)
    for reader in MARKDOWN_READERS.values():
        doc = Collector(reader(source))
        assert set(doc.tags) <= {"p", "br"}, (value, source, doc.tags)
        assert doc.text == " ".join(value.split()), (value, source)


@settings(max_examples=100, deadline=None)
@given(MARKDOWN_TEXT)
def test_any_intro_renders_to_the_subset_only(source):
    cfg = config(intro=source)
    for html in (render(cfg, "html"), *(r(render(cfg, "markdown")) for r in MARKDOWN_READERS.values())):
        doc = Collector(html)
        assert set(doc.tags) <= PAGE_TAGS
        assert all(h.startswith(("http://", "https://", "mailto:")) for h in doc.hrefs), doc.hrefs


def test_both_formats_show_the_same_rooms():
    cfg = load_config(REPO)
    html, md = render(cfg, "html"), render(cfg, "markdown")
    for entry in build_page(cfg).entries():
        assert entry.alias in html and f"`{entry.alias}`" in md and entry.link in html and entry.link in md
    assert "opendev-sysadmins" not in html + md  # invite-only, not in the directory


def test_html_is_self_contained():
    html = render(hostile_config(), "html")
    assert html.startswith("<!DOCTYPE html>\n") and html.endswith("</html>\n")
    doc = Collector(html)
    assert not {"script", "img", "link", "iframe", "object", "embed", "svg"} & set(doc.tags)
    assert not {"src", "srcset", "style", "action"} & {name for _, name, _ in doc.attrs}
    assert "@import" not in to_html.CSS and "url(" not in to_html.CSS
    (csp,) = [value for tag, name, value in doc.attrs if tag == "meta" and name == "content" and "src" in value]
    assert csp.startswith("default-src 'none'; script-src 'none'; style-src 'sha256-")
    assert csp == to_html.CSP and "img-src 'none'" in csp  # no avatar on this page: no image at all
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html


# --- determinism --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(FILE_NAMES))
def test_same_config_same_bytes(fmt):
    cfg = hostile_config()
    shuffled = dataclasses.replace(cfg, rooms=tuple(reversed(cfg.rooms)))
    assert render(cfg, fmt) == render(cfg, fmt) == render(shuffled, fmt)
    assert render(load_config(REPO), fmt) == render(load_config(REPO), fmt)


# --- writing and the CLI -----------------------------------------------------------------------------


def test_write_page_writes_only_index_files(tmp_path):
    cfg = config(spec("r"))
    assert write_page(cfg, tmp_path / "a" / "b") == tmp_path / "a" / "b" / "index.html"
    assert write_page(cfg, tmp_path / "a" / "b", "markdown") == tmp_path / "a" / "b" / "index.md"
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["index.html", "index.md"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(RoomsyncError, match="cannot write"):
        write_page(cfg, tmp_path / "file")


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROOMSYNC_")}
    env["ROOMSYNC_HOMESERVER"] = CLOSED_PORT_URL  # offline: nothing listens there, and there is no token
    return subprocess.run(
        [sys.executable, "-m", "roomsync", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_cli_writes_both_formats_offline(tmp_path):
    html = run_cli("-C", str(REPO), "docs", "--out", str(tmp_path / "site"), cwd=tmp_path)
    assert html.returncode == 0 and html.stdout == f"wrote {tmp_path / 'site' / 'index.html'}\n", html.stderr
    md = run_cli("-C", str(REPO), "docs", "--out", str(tmp_path / "site"), "--format", "markdown", cwd=tmp_path)
    assert md.returncode == 0 and html.stderr == md.stderr == ""
    cfg = load_config(REPO)
    assert (tmp_path / "site" / "index.html").read_bytes() == render(cfg, "html").encode()
    assert (tmp_path / "site" / "index.md").read_bytes() == render(cfg, "markdown").encode()


def test_cli_invalid_config_reports_positions_and_writes_nothing(tmp_path):
    (tmp_path / "rooms").mkdir()
    (tmp_path / "roomsync.yaml").write_text(
        "server_name: example.org\ndocs:\n  include_private: yes please\n  titel: x\n"
    )
    (tmp_path / "rooms" / "a.yaml").write_text("rooms:\n  - alias: Bad Alias\n")
    proc = run_cli("docs", "--out", "site", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "roomsync.yaml:3:20: docs.include_private must be true or false, not a string",
        "roomsync.yaml:4:3: unknown field 'titel'; did you mean 'title'?",
        "rooms/a.yaml:2:12: alias 'Bad Alias' may only contain lowercase letters, digits and . _ = / + -",
    ]
    assert not (tmp_path / "site").exists()


def test_cli_usage_and_write_errors_are_one_line(tmp_path):
    missing = run_cli("-C", str(REPO), "docs", cwd=tmp_path)
    assert missing.returncode == 1 and "Missing option '--out'" in missing.stderr
    bad_format = run_cli("-C", str(REPO), "docs", "--out", "x", "--format", "pdf", cwd=tmp_path)
    assert bad_format.returncode == 1 and "'pdf' is not one of" in bad_format.stderr
    (tmp_path / "taken").write_text("a file")
    blocked = run_cli("-C", str(REPO), "docs", "--out", str(tmp_path / "taken" / "sub"), cwd=tmp_path)
    assert blocked.returncode == 1 and "Traceback" not in blocked.stderr
    assert blocked.stderr.startswith("roomsync: error: cannot write ") and len(blocked.stderr.splitlines()) == 1


def test_docs_section_is_loaded(tmp_path):
    (tmp_path / "rooms").mkdir()
    (tmp_path / "rooms" / "a.yaml").write_text("rooms:\n  - alias: a\n")
    (tmp_path / "roomsync.yaml").write_text(
        yaml.safe_dump({"server_name": SERVER, "docs": {"title": "T", "intro": "I", "include_private": True}})
    )
    assert load_config(tmp_path).docs == DocsSettings("T", "I", True)
    (tmp_path / "roomsync.yaml").write_text(f"server_name: {SERVER}\n")
    assert load_config(tmp_path).docs == DocsSettings()
    assert load_config(REPO).docs.title  # the repo's own page has a title of its own
