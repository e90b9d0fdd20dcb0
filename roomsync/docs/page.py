"""The join page as data: built from a Config, rendered by to_html and to_markdown. Pure: no I/O.

What a reader needs to find and join a room: the clients to choose from, what a space
is, whom to ask for an invitation to a private room; the spaces as nested sections, in
the order clients show them (`order`, then alias), each space's rooms with name, alias,
topic, avatar, matrix.to link, how to get in, an encryption mark and (with
`docs.show_bots`) the bots that serve it; rooms in no space under "Other rooms"; retired
rooms under "Moved" with their successor. Rooms that are invite-only and not in the room
directory are left out unless `docs.include_private`. Every string is text as the config
wrote it, but the intro, which is CommonMark for the renderers to render safely.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from ..ids import full_alias
from ..model import Config, DocsClient, RoomSpec, SpaceLink

MATRIX_TO = "https://matrix.to/#/"
MXC = "mxc://"
AVATARS_DIR = "avatars"  # where the page's avatar images go, next to index.html
MAX_DEPTH = 4  # spaces nested deeper than this are listed at this depth (headings stop at h6)
SPACE_SENTENCE = (
    "A space is a group of rooms: join a space and your client lists its rooms, so that you can join the ones you want."
)

PUBLIC, KNOCK, RESTRICTED, INVITE = "public", "knock", "restricted", "invite"
MEANINGS = {
    PUBLIC: "anyone can join.",
    KNOCK: "knock from your client; a moderator lets you in.",
    RESTRICTED: "join one of the spaces named first, then the room.",
    INVITE: "ask a member of the room for an invitation.",
}
ENCRYPTED_MEANING = "end-to-end encrypted; set up your client's key backup, or you lose the history when you log out."


def matrix_to(identifier: str) -> str:
    """https://matrix.to/#/%23alias%3Aserver_name: the alias (or user id) fully percent-encoded."""
    return MATRIX_TO + quote(identifier, safe="")


@dataclass(frozen=True)
class Bot:
    name: str  # bots.yaml's component name
    user: str
    display_name: str | None = None

    @property
    def label(self) -> str:
        return self.display_name if self.display_name and self.display_name.strip() else self.name


@dataclass(frozen=True)
class Access:
    """How to get into a room, from its join_rule."""

    rule: str  # public | knock | restricted | invite
    spaces: tuple[str, ...] = ()  # restricted: the names of the spaces whose members may join

    @property
    def label(self) -> str:
        if self.rule == RESTRICTED:
            return "members of " + " or ".join(self.spaces)
        return {PUBLIC: "public", KNOCK: "ask to join", INVITE: "invite only"}[self.rule]


@dataclass(frozen=True)
class Avatar:
    """A room's or space's avatar file, copied next to the page: source is read, href is what the page links."""

    source: Path  # the file in the config directory: config.root / the avatar value
    name: str  # its file name in the page's avatars/ directory

    @property
    def href(self) -> str:
        """The image's URL relative to the page: avatars/<name>, percent-encoded."""
        return f"{AVATARS_DIR}/{quote(self.name, safe='')}"


@dataclass(frozen=True)
class Entry:
    """One room or space as the page shows it."""

    alias: str  # the full alias, #alias:server_name
    name: str | None
    topic: str | None  # None when blank: nothing is shown
    access: Access | None  # None: the config does not manage the join rule
    encrypted: bool = False
    bots: tuple[Bot, ...] = ()  # empty unless docs.show_bots
    is_space: bool = False
    avatar: Avatar | None = None  # only for an avatar kept as a file; mxc:// avatars are not shown

    @property
    def link(self) -> str:
        return matrix_to(self.alias)

    @property
    def label(self) -> str:
        return self.name if self.name and self.name.strip() else self.alias


@dataclass(frozen=True)
class Section:
    """A space, with its rooms and the spaces inside it, each group in client order."""

    space: Entry
    rooms: tuple[Entry, ...] = ()
    spaces: tuple[Section, ...] = ()


@dataclass(frozen=True)
class Moved:
    """A retired room and where its people went: successor None when it has none to show."""

    entry: Entry
    successor: Entry | None


@dataclass(frozen=True)
class Legend:
    """A mark next to rooms on the page, and what it means."""

    label: str
    meaning: str


@dataclass(frozen=True)
class Contact:
    """Whom to ask for an invitation to a private room: a room alias or a user id."""

    id: str
    hidden: bool  # the private rooms are not on the page (include_private is off)

    @property
    def link(self) -> str:
        return matrix_to(self.id)

    @property
    def is_room(self) -> bool:
        return self.id.startswith("#")


@dataclass(frozen=True)
class Page:
    title: str
    intro: str | None  # CommonMark, as the config wrote it
    server_name: str
    clients: tuple[DocsClient, ...] = ()
    space_note: str | None = None  # what a space is, when the page lists a space
    contact: Contact | None = None
    legend: tuple[Legend, ...] = ()  # empty when every room is public and none is encrypted
    spaces: tuple[Section, ...] = ()
    other_rooms: tuple[Entry, ...] = ()
    moved: tuple[Moved, ...] = ()

    def listed(self) -> Iterator[Entry]:
        """Every space and room the page lists as an entry of its own, in page order (not "Moved")."""
        for section in self.spaces:
            yield from _walk(section)
        yield from self.other_rooms

    def entries(self) -> Iterator[Entry]:
        """Every room and space linked, in page order: the listed ones, then the successors of moved rooms."""
        yield from self.listed()
        for moved in self.moved:
            if moved.successor is not None:
                yield moved.successor

    def avatars(self) -> tuple[Avatar, ...]:
        """The avatar files the page shows, each once, by name."""
        found = {e.avatar.name: e.avatar for e in self.listed() if e.avatar is not None}
        return tuple(found[name] for name in sorted(found))

    def example_alias(self) -> str:
        """A room's address to show in "How to join": the first room listed, else a made-up one."""
        rooms = [e for e in self.entries() if not e.is_space]
        return rooms[0].alias if rooms else full_alias("room", self.server_name)


def is_private(spec: RoomSpec) -> bool:
    """Invite-only and not in the room directory: not listed unless include_private."""
    return bool(spec.get("join_rule") == INVITE and spec.get("directory") != "public")


def is_retired(spec: RoomSpec) -> bool:
    return spec.get("retired") is True


def _order_key(link: SpaceLink, spec: RoomSpec) -> tuple[bool, str, str]:
    # As clients sort a space's children: by `order` (code points), those without one last, then alias.
    return (link.order is None, link.order or "", spec.alias)


def _text(value: object) -> str | None:
    """A free-text field as the page shows it: None when missing or blank."""
    return value if isinstance(value, str) and value.strip() else None


def build_page(config: Config) -> Page:
    settings = config.docs
    shown = [r for r in config.rooms if settings.include_private or not is_private(r)]
    by_alias = {r.alias: r for r in config.rooms}
    current = {r.alias: r for r in shown if not is_retired(r)}
    spaces = {alias: r for alias, r in current.items() if r.is_space}
    avatars = avatar_files(config, shown)

    def parents(spec: RoomSpec) -> list[SpaceLink]:
        return [link for link in spec.spaces if link.space in spaces and link.space != spec.alias]

    def entry(spec: RoomSpec) -> Entry:
        bots = (b for b in config.bots if b.serves(spec.alias)) if settings.show_bots else ()
        return Entry(
            alias=config.alias(spec.alias),
            name=spec.get("name"),
            topic=_text(spec.get("topic")),
            access=_access(spec, by_alias, config),
            encrypted=spec.get("encrypted") is True,
            bots=tuple(Bot(b.name, b.user, b.display_name) for b in bots),
            is_space=spec.is_space,
            avatar=avatars.get(spec.alias),
        )

    children: dict[str, list[tuple[SpaceLink, RoomSpec]]] = {alias: [] for alias in spaces}
    for spec in current.values():
        for link in parents(spec):
            children[link.space].append((link, spec))

    def section(space: RoomSpec, trail: tuple[str, ...]) -> Section:
        kids = sorted(children[space.alias], key=lambda pair: _order_key(*pair))
        rooms = [entry(spec) for _, spec in kids if not spec.is_space]
        subs = [spec for _, spec in kids if spec.is_space and spec.alias not in trail]
        if len(trail) >= MAX_DEPTH:  # deeper spaces become entries of this section
            rooms += [entry(spec) for spec in subs]
            subs = []
        return Section(entry(space), tuple(rooms), tuple(section(s, (*trail, s.alias)) for s in subs))

    top = sorted((s for s in spaces.values() if not parents(s)), key=lambda s: s.alias)
    others = sorted((r for r in current.values() if not r.is_space and not parents(r)), key=lambda r: r.alias)
    moved = [
        Moved(entry(spec), _successor(spec, current, config, entry))
        for spec in sorted((r for r in shown if is_retired(r)), key=lambda r: r.alias)
    ]
    sections = tuple(section(s, (s.alias,)) for s in top)
    other_rooms = tuple(entry(r) for r in others)
    listed = [*(e for s in sections for e in _walk(s)), *other_rooms]
    return Page(
        title=settings.title or f"Matrix rooms of {config.server_name}",
        intro=_text(settings.intro),
        server_name=config.server_name,
        clients=settings.clients,
        space_note=SPACE_SENTENCE if any(e.is_space for e in listed) else None,
        contact=Contact(settings.contact, hidden=not settings.include_private) if settings.contact else None,
        legend=legend(listed),
        spaces=sections,
        other_rooms=other_rooms,
        moved=tuple(moved),
    )


def _walk(section: Section) -> Iterator[Entry]:
    yield section.space
    yield from section.rooms
    for sub in section.spaces:
        yield from _walk(sub)


def legend(listed: list[Entry]) -> tuple[Legend, ...]:
    """What the marks next to the listed rooms mean; nothing when every room is public and none encrypted."""
    rules = {e.access.rule for e in listed if e.access is not None}
    encrypted = any(e.encrypted for e in listed)
    if rules <= {PUBLIC} and not encrypted:
        return ()
    found = [
        Legend("members of …" if rule == RESTRICTED else Access(rule).label, meaning)
        for rule, meaning in MEANINGS.items()
        if rule in rules
    ]
    return tuple(found + ([Legend("encrypted", ENCRYPTED_MEANING)] if encrypted else []))


def avatar_files(config: Config, specs: list[RoomSpec]) -> dict[str, Avatar]:
    """The avatars kept as files (an avatar value not starting with mxc://), by room alias local part.

    Each file gets its own name in the page's avatars/ directory: its file name, or, when
    another file already has that name, the name with -2, -3, ... before the suffix.
    """
    paths = {
        spec.alias: posixpath.normpath(value)
        for spec in specs
        if isinstance(value := spec.get("avatar"), str) and value and not value.startswith(MXC)
    }
    names: dict[str, str] = {}
    taken: set[str] = set()
    for path in sorted(set(paths.values())):
        name = base = PurePosixPath(path)
        number = 1
        while name.name in taken:
            number += 1
            name = base.with_name(f"{base.stem}-{number}{base.suffix}")
        taken.add(name.name)
        names[path] = name.name
    return {alias: Avatar(config.root / path, names[path]) for alias, path in paths.items()}


def _access(spec: RoomSpec, by_alias: dict[str, RoomSpec], config: Config) -> Access | None:
    rule = spec.get("join_rule")
    if rule not in (PUBLIC, KNOCK, RESTRICTED, INVITE):
        return None
    names: tuple[str, ...] = ()
    if rule == RESTRICTED:
        names = tuple(
            (by_alias[link.space].get("name") if link.space in by_alias else None) or config.alias(link.space)
            for link in spec.spaces
        )
    return Access(rule, names)


def _successor(
    spec: RoomSpec, current: dict[str, RoomSpec], config: Config, entry: Callable[[RoomSpec], Entry]
) -> Entry | None:
    """The room a retired one moved to: a listed room of this config, or an alias elsewhere."""
    successor = spec.get("successor")
    if not isinstance(successor, str) or not successor:
        return None
    if successor.startswith("#"):  # a full alias: maybe another server's room
        local, _, server = successor[1:].partition(":")
        if server != config.server_name:
            return Entry(alias=successor, name=None, topic=None, access=None)
        successor = local
    if successor in current:
        return entry(current[successor])
    if config.room(successor) is not None:  # declared here but not listed (private, or retired too)
        return None
    return Entry(alias=config.alias(successor), name=None, topic=None, access=None)
