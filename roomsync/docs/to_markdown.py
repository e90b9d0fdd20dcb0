"""The join page as Markdown, for a Sphinx (MyST) or MkDocs site.

Every string from the config is escaped (mdtext) so that it stays text in CommonMark and
in Python-Markdown alike; the intro is parsed as CommonMark and written back escaped
(intro.to_markdown). Links are the rooms' matrix.to links and the http/https/mailto links
of the intro and the clients. Avatars are left out: a Markdown site would need the files.
"""

from __future__ import annotations

from . import intro
from .mdtext import HARD_BREAK, code, lines_of, link, one_line, text
from .page import Entry, Moved, Page, Section


def render(page: Page) -> str:
    out = [f"# {one_line(page.title)}", ""]
    if page.intro and (lines := intro.to_markdown(page.intro)):
        out += [*lines, ""]
    out += ["## How to join", "", *how_to_join(page)]
    for section in page.spaces:
        out += space_section(section, 2)
    if page.other_rooms:
        out += ["## Other rooms", "", *(room_item(e) for e in page.other_rooms), ""]
    if page.moved:
        out += ["## Moved", "", *(moved_item(m) for m in page.moved), ""]
    out.append(f"*Made by roomsync from the room definitions of {text(page.server_name)}.*")
    return "\n".join(out) + "\n"


def how_to_join(page: Page) -> list[str]:
    """The steps, the clients, what a space is, whom to ask, and what the marks mean; a blank line after."""
    server = text(page.server_name, False)
    out = ["1. **Choose a Matrix client.**" + (" Any Matrix client works, for instance:" if page.clients else "")]
    for client in page.clients:
        name = one_line(client.name)
        entry = link(name, client.url) if intro.safe_href(client.url) else name
        out.append(f"    - {entry}" + (f": {text(one_line(client.description), False)}" if client.description else ""))
    out += [
        "2. **Make an account on any homeserver.** Matrix is federated: an account on matrix.org, on your own "
        f"server or on any other homeserver can join the rooms of {server}. You do not need an account on {server}.",
        "3. **Follow a room's link below.** matrix.to then offers to open the room in your client. Or search for "
        f"the room's address, such as {code(page.example_alias())}, in your client's \"join a room\" dialog.",
        "",
    ]
    if page.space_note:
        out += [text(page.space_note), ""]
    if (contact := page.contact) is not None:
        hidden = " and not listed here" if contact.hidden else ""
        where = "in " if contact.is_room else ""
        ask = f"ask {where}{link(code(contact.id), contact.link)}"
        out += [f"Some rooms are private{hidden}. To be invited into one, {ask}.", ""]
    if page.legend:
        out += ["What the marks next to a room mean:", ""]
        out += [f"- **{text(item.label)}**: {text(item.meaning, False)}" for item in page.legend]
        out.append("")
    return out


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
