"""Text from the config written as Markdown that stays text, in CommonMark and Python-Markdown alike.

`&`, `<`, `>` (no raw HTML, no autolinks) and a few characters Python-Markdown cannot
backslash-escape become character references; the other markup characters get a
backslash; block markers at the start of a line (`-`, `1.`, `:`, `%`, ...) are escaped
too, and whitespace there is dropped (no code blocks).
"""

from __future__ import annotations

import re

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
