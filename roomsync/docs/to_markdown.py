"""The join page as Markdown, for a Sphinx (MyST) or MkDocs site.

Every string from the config is escaped so that it stays text in CommonMark and in
Python-Markdown alike: `&`, `<`, `>` (no raw HTML, no autolinks) and a few characters
Python-Markdown cannot backslash-escape become character references; the other
markup characters get a backslash; block markers at the start of a line (`-`, `1.`,
`:`, `%`, ...) are escaped too, and whitespace there is dropped (no code blocks).
"""

from __future__ import annotations

import re

from . import markup
from .page import Entry, Moved, Page, Section

# Characters whose backslash escape Python-Markdown does not know, written as references.
REFERENCES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "&#124;", "~": "&#126;", "$": "&#36;", "^": "&#94;"}
BACKSLASHED = frozenset("\\`*_{}[]()#")
# At the start of a line: list items, setext underlines, admonitions, MyST directives and comments.
LINE_START = {"-": "\\-", "+": "\\+", "!": "\\!", "=": "&#61;", ":": "&#58;", "%": "&#37;"}
ORDERED_MARKER = re.compile(r"^(\d+)\.")
LINE_BREAK = re.compile(r"\r\n|\r|\n")  # what CommonMark counts as the end of a line
HARD_BREAK = "  \n"


def text(value: str, at_line_start: bool = True) -> str:
    """A string from the config as Markdown text: each line escaped, line structure kept.

    Lines after a line break always start a Markdown line; the first one does when
    at_line_start (the start of a paragraph or list item).
    """
    return "\n".join(_line(line, at_line_start or i > 0) for i, line in enumerate(LINE_BREAK.split(value)))


def _line(line: str, at_line_start: bool) -> str:
    out = "".join(REFERENCES.get(c) or ("\\" + c if c in BACKSLASHED else c) for c in line)
    if out.endswith("!"):  # "!" then a link would make an image
        out = out[:-1] + "\\!"
    if not at_line_start:
        return out
    out = out.lstrip(" \t")
    if out[:1] in LINE_START:
        out = LINE_START[out[0]] + out[1:]
    return ORDERED_MARKER.sub(r"\1\\.", out)


def one_line(value: str) -> str:
    return text(" ".join(value.split()))


def code(value: str) -> str:
    """A code span that holds any text: a fence longer than any run of backticks inside."""
    value = " ".join(LINE_BREAK.split(value))
    if "`" not in value:
        return f"`{value}`"
    fence = "`" * (max(len(run) for run in re.findall(r"`+", value)) + 1)
    return f"{fence} {value} {fence}"


def url(href: str) -> str:
    """A link destination: parentheses percent-encoded so that no Markdown reads the link's end wrongly."""
    return href.replace("(", "%28").replace(")", "%29")


def link(label: str, href: str) -> str:
    return f"[{label}]({url(href)})"


def lines_of(value: str) -> list[str]:
    """A multi-line string (a topic) as escaped lines, blank ones dropped."""
    return [text(line.strip()) for line in LINE_BREAK.split(value) if line.strip()]


def render(page: Page) -> str:
    out = [f"# {one_line(page.title)}", ""]
    if page.intro:
        out += [*blocks(page.intro), ""]
    out += ["## How to join", "", *blocks(page.how_to_join), ""]
    for section in page.spaces:
        out += space_section(section, 2)
    if page.other_rooms:
        out += ["## Other rooms", "", *(room_item(e) for e in page.other_rooms), ""]
    if page.moved:
        out += ["## Moved", "", *(moved_item(m) for m in page.moved), ""]
    out.append(f"*Made by roomsync from the room definitions of {text(page.server_name)}.*")
    return "\n".join(out) + "\n"


def meta(entry: Entry, kind: str | None = None) -> list[str]:
    parts = [kind] if kind else []
    if entry.access is not None:
        parts.append(text(entry.access.label))
    if entry.encrypted:
        parts.append("encrypted")
    return parts


def space_section(section: Section, level: int) -> list[str]:
    space = section.space
    out = ["#" * min(level, 6) + " " + one_line(space.label), ""]
    out += [" · ".join([link(code(space.alias), space.link), *meta(space, "space")]), ""]
    if space.topic and (topic := lines_of(space.topic)):
        out += [HARD_BREAK.join(topic), ""]
    if section.rooms:
        out += [*(room_item(e) for e in section.rooms), ""]
    for sub in section.spaces:
        out += space_section(sub, level + 1)
    return out


def room_item(entry: Entry) -> str:
    lines = [
        " · ".join(
            [
                f"**{link(one_line(entry.label), entry.link)}**",
                code(entry.alias),
                *meta(entry, "space" if entry.is_space else None),
            ]
        )
    ]
    if entry.topic:
        lines += lines_of(entry.topic)
    if entry.bots:
        lines.append("Bots: " + ", ".join(f"{one_line(b.label)} ({code(b.user)})" for b in entry.bots))
    return "- " + (HARD_BREAK + "  ").join(lines)


def moved_item(moved: Moved) -> str:
    old = moved.entry
    head = f"- **{one_line(old.label)}** · {code(old.alias)} · "
    if moved.successor is None:
        return head + "closed"
    new = moved.successor
    return head + f"moved to **{link(one_line(new.label), new.link)}** · {code(new.alias)}"


# --- the Markdown subset (intro, "How to join"), written back out safely ------------------------------


def blocks(items: tuple[markup.Block, ...]) -> list[str]:
    out: list[str] = []
    for block in items:
        if out:
            out.append("")
        if isinstance(block, markup.Paragraph):
            out.append(inlines(block.children))
        else:
            for number, item in enumerate(block.items, start=block.start or 0):
                marker = "- " if block.start is None else f"{number}. "
                out.append(marker + inlines(item).replace("\n", "\n" + " " * len(marker)))
    return out


def inlines(nodes: tuple[markup.Inline, ...], at_line_start: bool = True) -> str:
    out = []
    for index, node in enumerate(nodes):
        if isinstance(node, markup.Text):
            out.append(text(node.text, at_line_start and index == 0))
        elif isinstance(node, markup.Code):
            out.append(code(node.text))
        elif isinstance(node, markup.Emphasis):
            out.append(f"*{inlines(node.children, False)}*")
        elif isinstance(node, markup.Strong):
            out.append(f"**{inlines(node.children, False)}**")
        elif isinstance(node, markup.Link) and markup.safe_href(node.href):
            out.append(link(inlines(node.children, False), node.href))
        elif isinstance(node, markup.Link):  # never made by the parser; belt and braces
            out.append(inlines(node.children, at_line_start and index == 0))
    return "".join(out)
