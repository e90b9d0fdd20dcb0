"""The intro (docs.intro): CommonMark through markdown-it-py, raw HTML off, images off, only http, https and
mailto links; and the same intro written back as Markdown that both Markdown readers read alike."""

from __future__ import annotations

import pytest

from roomsync.docs import intro, render

from .test_docs import MARKDOWN_READERS, Collector, config


def test_commonmark_features_render():
    source = (
        "# Welcome\n\nPara *em* **strong** `co*de` [docs](https://docs.example/a_(b)) "
        "<https://auto.example> <help@example.org>  \nafter a hard break\n\n"
        "- one\n  - nested\n- two\n\n3. three\n4. four\n\n> quoted\n\n"
        "```sh\nroomsync docs --out site/\n```\n\n---\n\n###### deep"
    )
    doc = Collector(intro.to_html(source))
    assert doc.tags == [
        *("h2", "p", "em", "strong", "code", "a", "a", "a", "br"),
        *("ul", "li", "ul", "li", "li", "ol", "li", "li", "blockquote", "p", "pre", "code", "hr", "h6"),
    ]
    assert doc.hrefs == ["https://docs.example/a_(b)", "https://auto.example", "mailto:help@example.org"]
    assert ("ol", "start", "3") in doc.attrs
    assert all(value == "nofollow noopener noreferrer" for tag, name, value in doc.attrs if name == "rel")
    assert "roomsync docs --out site/" in doc.text and "co*de" in doc.text
    assert intro.links(source) == doc.hrefs


def test_headings_move_one_level_down_under_the_title():
    tags = Collector(intro.to_html("# a\n## b\n### c\n#### d\n##### e\n###### f\n\nSetext\n===\n\nTwo\n---")).tags
    assert tags == ["h2", "h3", "h4", "h5", "h6", "h6", "h2", "h3"]


@pytest.mark.parametrize(
    "source",
    [
        "[x](javascript:alert(1))",
        "[x](JavaScript:alert(1))",
        "[x](data:text/html,hi)",
        "[x](vbscript:y)",
        "[x](file:///etc/passwd)",
        "[x](//evil.example)",
        "[x](/relative)",
        "[x](#fragment)",
        "<javascript:alert(1)>",
        "[x]\n\n[x]: javascript:alert(1)",
    ],
)
def test_links_other_than_http_https_and_mailto_stay_text(source):
    doc = Collector(intro.to_html(source))
    assert doc.hrefs == [] and "a" not in doc.tags
    assert intro.links(source) == []
    for reader in MARKDOWN_READERS.values():
        assert Collector(reader("\n".join(intro.to_markdown(source)))).hrefs == []


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("<b>raw</b> inline", "<b>raw</b> inline"),
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),
        ("<div onclick=alert(1)>\nblock\n</div>", "<div onclick=alert(1)> block </div>"),
        ("<!-- comment -->", "<!-- comment -->"),
        ('<img src="https://evil.example/x.png">', '<img src="https://evil.example/x.png">'),
    ],
)
def test_raw_html_shows_as_typed(source, shown):
    doc = Collector(intro.to_html(source))
    assert doc.tags == ["p"] and doc.text == shown
    cfg = config(intro=source)
    page = Collector(render(cfg, "html"))
    assert shown in page.text and not {"b", "script", "img"} & set(page.tags) and page.tags.count("div") == 1


def test_an_image_is_no_image_but_a_link_after_an_exclamation_mark():
    doc = Collector(intro.to_html("![logo](https://evil.example/logo.png)"))
    assert "img" not in doc.tags and doc.hrefs == ["https://evil.example/logo.png"] and doc.text == "!logo"
    for reader in MARKDOWN_READERS.values():
        back = Collector(reader("\n".join(intro.to_markdown("![logo](https://evil.example/logo.png)"))))
        assert "img" not in back.tags and back.text == "!logo"


def test_the_intro_written_back_as_markdown_reads_the_same_in_both_readers():
    source = (
        "# Welcome\n\nStart in *Zuul* or **OpenDev**: [docs](https://docs.example/a(b)), `x`` y`.\n"
        "\\- not a list: a soft break, then an escaped dash\n\n"
        "- one\n- two\n    - nested <b>\n\nThen:\n\n1. first\n2. second\n\n"
        "> a quote\n\n    code <b>\n      indented\n\n---\n\nEnd!"
    )
    md = "\n".join(intro.to_markdown(source))
    # (Python-Markdown joins a bullet list and an ordered list that follows it into one: hence "Then:".)
    for name, reader in MARKDOWN_READERS.items():
        doc = Collector(reader(md))
        assert doc.tags == [
            *("h2", "p", "em", "strong", "a", "code", "ul", "li", "li", "ul", "li", "p", "ol", "li", "li"),
            *("blockquote", "p", "p", "code", "br", "code", "hr", "p"),
        ], (name, md)
        assert doc.hrefs == ["https://docs.example/a%28b%29"], name
        for text in ("Welcome", "x`` y", "nested <b>", "code <b>", "End!", "- not a list"):
            assert text in doc.text, (name, text)
        # A code line keeps its indentation in CommonMark; Python-Markdown strips a code span's ends.
        assert ("\u00a0\u00a0indented" in "".join(doc.chunks)) == (name == "commonmark"), name


def test_no_intro_no_intro_block():
    assert intro.to_markdown(None) == [] and intro.to_html(None) == ""
    assert '<div class="intro">' not in render(config(), "html")
    assert render(config(intro="  \n"), "html") == render(config(), "html")
