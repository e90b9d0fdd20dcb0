"""A small, safe subset of Markdown for the join page's intro, parsed into a tree.

Understood: paragraphs, `- `/`* `/`+ ` and `1. ` lists, *emphasis*, **strong**,
`code`, backslash escapes and [links](https://...) whose target is http, https or
mailto. Everything else (raw HTML, headings, images, other link schemes, ...) is
kept as the text it is: the renderers escape every Text, so nothing written in the
intro can become markup the subset does not allow. Pure: no I/O.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

SAFE_SCHEMES = ("http", "https", "mailto")
# A link target: one of the schemes, then no whitespace, no quotes or angle brackets, no control characters.
SAFE_HREF = re.compile(r"^(?:https?://[^\s\"'<>\\`\x00-\x1f\x7f]+|mailto:[^\s\"'<>\\`\x00-\x1f\x7f]+)$", re.I)
BULLET = re.compile(r"^ {0,3}[-*+][ \t]+(.*)$")
ORDERED = re.compile(r"^ {0,3}(\d{1,9})[.)][ \t]+(.*)$")
ASCII_PUNCTUATION = frozenset(string.punctuation)


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Emphasis:
    children: tuple[Inline, ...]


@dataclass(frozen=True)
class Strong:
    children: tuple[Inline, ...]


@dataclass(frozen=True)
class Link:
    href: str  # always matches SAFE_HREF
    children: tuple[Inline, ...]


Inline = Text | Code | Emphasis | Strong | Link


@dataclass(frozen=True)
class Paragraph:
    children: tuple[Inline, ...]


@dataclass(frozen=True)
class ListBlock:
    items: tuple[tuple[Inline, ...], ...]
    start: int | None = None  # None: a bullet list; a number: an ordered list starting there


Block = Paragraph | ListBlock


def safe_href(href: str) -> bool:
    return bool(SAFE_HREF.match(href))


def parse(source: str | None) -> tuple[Block, ...]:
    """The intro's blocks: paragraphs separated by blank lines, and lists."""
    blocks: list[Block] = []
    paragraph: list[str] = []
    items: list[list[str]] = []
    start: int | None = None

    def flush_paragraph() -> None:
        if paragraph:
            blocks.append(Paragraph(parse_inlines("\n".join(paragraph))))
            paragraph.clear()

    def flush_list() -> None:
        nonlocal start
        if items:
            blocks.append(ListBlock(tuple(parse_inlines("\n".join(item)) for item in items), start))
            items.clear()
        start = None

    text = (source or "").replace("\r\n", "\n").replace("\r", "\n").expandtabs(4)
    for line in text.split("\n"):
        bullet, ordered = BULLET.match(line), ORDERED.match(line)
        if not line.strip():
            flush_paragraph()
            flush_list()
        elif bullet or ordered:
            flush_paragraph()
            if items and (start is not None) != (ordered is not None):  # the other kind of list starts
                flush_list()
            if not items and ordered:
                start = int(ordered.group(1))
            items.append([(bullet.group(1) if bullet else ordered.group(2)).strip()])  # type: ignore[union-attr]
        elif items:
            items[-1].append(line.strip())  # a continuation line of the list item
        else:
            paragraph.append(line.strip())
    flush_paragraph()
    flush_list()
    return tuple(blocks)


def parse_inlines(text: str, in_link: bool = False) -> tuple[Inline, ...]:
    out: list[Inline] = []
    buffer: list[str] = []

    def flush() -> None:
        if buffer:
            out.append(Text("".join(buffer)))
            buffer.clear()

    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in ASCII_PUNCTUATION:
            buffer.append(text[i + 1])
            i += 2
            continue
        if c == "`":
            run = _run_length(text, i, "`")
            close = _closing_backticks(text, i + run, run)
            if close is None:
                buffer.append("`" * run)
                i += run
                continue
            flush()
            out.append(Code(_code_content(text[i + run : close])))
            i = close + run
            continue
        if c in "*_":
            run = _run_length(text, i, c)
            width = 2 if run >= 2 else 1
            close = _closing_delimiter(text, i, width, c) if _can_open(text, i, width, c) else None
            if close is None:
                buffer.append(c * run)
                i += run
                continue
            flush()
            children = parse_inlines(text[i + width : close], in_link)
            out.append(Strong(children) if width == 2 else Emphasis(children))
            i = close + width
            continue
        if c == "[" and not in_link:
            link = _link_at(text, i)
            if link is not None:
                label, href, end = link
                flush()
                out.append(Link(href, parse_inlines(label, in_link=True)))
                i = end
                continue
        buffer.append(c)
        i += 1
    flush()
    return tuple(out)


def _run_length(text: str, i: int, char: str) -> int:
    j = i
    while j < len(text) and text[j] == char:
        j += 1
    return j - i


def _closing_backticks(text: str, start: int, run: int) -> int | None:
    i = start
    while (i := text.find("`" * run, i)) != -1:
        length = _run_length(text, i, "`")
        if length == run:
            return i
        i += length
    return None


def _code_content(content: str) -> str:
    content = content.replace("\n", " ")
    if len(content) > 2 and content[0] == " " and content[-1] == " " and content.strip():
        content = content[1:-1]
    return content


def _can_open(text: str, i: int, width: int, char: str) -> bool:
    after = text[i + width] if i + width < len(text) else " "
    before = text[i - 1] if i > 0 else " "
    if after.isspace():
        return False
    return char == "*" or not before.isalnum()  # no emphasis inside snake_case_words


def _closing_delimiter(text: str, i: int, width: int, char: str) -> int | None:
    j = i + width + 1  # at least one character inside
    while j + width <= len(text):
        if text[j - 1] == "\\":
            j += 1
            continue
        if text[j : j + width] == char * width and _run_length(text, j, char) == width:
            before = text[j - 1]
            after = text[j + width] if j + width < len(text) else " "
            if not before.isspace() and (char == "*" or not after.isalnum()):
                return j
        j += 1
    return None


def _link_at(text: str, i: int) -> tuple[str, str, int] | None:
    """`[label](href)` starting at text[i] == '[', with a safe href: (label, href, end)."""
    depth, j = 0, i
    while j < len(text):
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                break
        j += 1
    else:
        return None
    if not text.startswith("(", j + 1):
        return None
    depth, k = 0, j + 1
    while k < len(text):
        c = text[k]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                break
        elif c.isspace():
            return None
        k += 1
    else:
        return None
    href = text[j + 2 : k]
    if not safe_href(href):
        return None
    return text[i + 1 : j], href, k + 1
