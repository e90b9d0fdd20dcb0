"""The intro (docs.intro) as CommonMark, parsed and rendered by markdown-it-py, safely.

Raw HTML is off (it shows as the text it is), images are off (`![x](url)` is a "!" and a
link: the page fetches nothing), and only http, https and mailto URLs become links;
any other link stays the text it was written as. Headings move one level down, under the
page's title: `#` is an h2, as "How to join" is. to_html renders the tokens with
markdown-it-py; to_markdown writes the same tokens back as escaped Markdown. Pure: no I/O.
"""

from __future__ import annotations

import re
from functools import cache

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode

from . import mdtext

SAFE_SCHEMES = ("http://", "https://", "mailto:")
LINK_REL = "nofollow noopener noreferrer"


def safe_href(url: str) -> bool:
    """An http, https or mailto URL, with no whitespace, quote, angle bracket or control character."""
    return url.lower().startswith(SAFE_SCHEMES) and not any(c.isspace() or c in "\"'<>\\`" or ord(c) < 32 for c in url)


def _headings_and_links(state: StateCore) -> None:
    """Headings one level down (at most h6); every link gets rel=nofollow noopener noreferrer."""
    for token in state.tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1:]) + 1, 6)}"
        for child in token.children or ():
            if child.type == "link_open":
                child.attrSet("rel", LINK_REL)


@cache
def parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False})
    md.disable(["html_block", "html_inline", "image"])
    md.validateLink = safe_href  # type: ignore[method-assign]
    md.core.ruler.push("roomsync_headings_and_links", _headings_and_links)
    return md


def tokens(source: str | None) -> list[Token]:
    return parser().parse(source or "")


def to_html(source: str | None) -> str:
    """The intro as HTML: only the elements CommonMark makes, every text escaped."""
    html: str = parser().render(source or "")
    return html


def links(source: str | None) -> list[str]:
    """The URLs the intro links, in order."""
    return [
        str(child.attrGet("href"))
        for token in tokens(source)
        for child in token.children or ()
        if child.type == "link_open"
    ]


# --- the intro written back as Markdown, for to_markdown --------------------------------------------


def to_markdown(source: str | None) -> list[str]:
    """The intro as lines of Markdown that read the same in CommonMark and Python-Markdown.

    Its text is escaped (mdtext), its links are rewritten from the parsed URLs, and a code
    block becomes lines of code spans (a fenced block would not survive a list item in
    Python-Markdown). Nothing of the source reaches the output unescaped.
    """
    return _blocks(SyntaxTreeNode(tokens(source)).children)


def _blocks(nodes: list[SyntaxTreeNode], tight: bool = False) -> list[str]:
    out: list[str] = []
    for node in nodes:
        lines = _block(node)
        if out and lines and not tight:
            out.append("")
        out += lines
    return out


def _block(node: SyntaxTreeNode) -> list[str]:
    kind = node.type
    if kind == "paragraph":
        return _inlines(node.children[0]).split("\n")
    if kind == "heading":
        return ["#" * int(node.tag[1:]) + " " + re.sub(r" *\n", " ", _inlines(node.children[0]))]
    if kind in ("bullet_list", "ordered_list"):
        return _list(node)
    if kind == "blockquote":
        return [f"> {line}".rstrip() for line in _blocks(node.children)]
    if kind in ("code_block", "fence"):
        lines = [line for line in node.content.split("\n") if line.strip()]
        spans = [mdtext.code("\u00a0" * (len(line) - len(line.lstrip(" "))) + line.lstrip(" ")) for line in lines]
        return [mdtext.HARD_BREAK.join(spans)] if spans else []
    if kind == "hr":
        return ["---"]
    return []


def _list(node: SyntaxTreeNode) -> list[str]:
    start = node.attrs.get("start", 1) if node.type == "ordered_list" else None
    tight = all(p.hidden for item in node.children for p in item.children if p.type == "paragraph")
    out: list[str] = []
    for number, item in enumerate(node.children, start=int(start or 1)):
        marker = "- " if start is None else f"{number}. "
        indent = " " * max(4, len(marker))  # Python-Markdown nests at four spaces; CommonMark at the marker's width
        body = _blocks(item.children, tight) or [""]
        if out and not tight:
            out.append("")
        out.append((marker + body[0]).rstrip())
        out += [indent + line if line else "" for line in body[1:]]
    return out


def _inlines(node: SyntaxTreeNode, at_line_start: bool = True) -> str:
    out = []
    for child in node.children:
        kind = child.type
        if kind in ("softbreak", "hardbreak"):
            out.append("\n" if kind == "softbreak" else mdtext.HARD_BREAK)
            at_line_start = True
            continue
        if kind == "text":
            out.append(mdtext.text(child.content, at_line_start))
        elif kind == "code_inline":
            out.append(mdtext.code(child.content))
        elif kind in ("em", "strong"):
            mark = "*" if kind == "em" else "**"
            out.append(mark + _inlines(child, False) + mark)
        elif kind == "link":
            href, label = str(child.attrs.get("href", "")), _inlines(child, False)
            out.append(mdtext.link(label, href) if safe_href(href) else label)
        at_line_start = False
    return "".join(out)
