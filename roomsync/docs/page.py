"""The join page as data: built from a Config, rendered by to_html and to_markdown. Pure: no I/O.

What a reader needs to find and join a room: the spaces as nested sections, in the
order clients show them (`order`, then alias), each space's rooms with name, alias,
topic, matrix.to link, how to get in, an encryption mark and the bots that serve
it; rooms in no space under "Other rooms"; retired rooms under "Moved" with their
successor. Rooms that are invite-only and not in the room directory are left out
unless `docs.include_private`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from urllib.parse import quote

from ..ids import full_alias
from ..model import Config, RoomSpec, SpaceLink
from . import markup

MATRIX_TO = "https://matrix.to/#/"
MAX_DEPTH = 4  # spaces nested deeper than this are listed at this depth (headings stop at h6)

PUBLIC, KNOCK, RESTRICTED, INVITE = "public", "knock", "restricted", "invite"


def matrix_to(alias: str) -> str:
    """https://matrix.to/#/%23alias%3Aserver_name: the alias fully percent-encoded."""
    return MATRIX_TO + quote(alias, safe="")


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
class Entry:
    """One room or space as the page shows it."""

    alias: str  # the full alias, #alias:server_name
    name: str | None
    topic: str | None
    access: Access | None  # None: the config does not manage the join rule
    encrypted: bool = False
    bots: tuple[Bot, ...] = ()
    is_space: bool = False

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
class Page:
    title: str
    intro: tuple[markup.Block, ...]
    server_name: str
    how_to_join: tuple[markup.Block, ...] = ()
    spaces: tuple[Section, ...] = ()
    other_rooms: tuple[Entry, ...] = ()
    moved: tuple[Moved, ...] = ()

    def entries(self) -> Iterator[Entry]:
        """Every room and space listed (with a link), in page order."""

        def walk(section: Section) -> Iterator[Entry]:
            yield section.space
            yield from section.rooms
            for sub in section.spaces:
                yield from walk(sub)

        for section in self.spaces:
            yield from walk(section)
        yield from self.other_rooms
        for moved in self.moved:
            if moved.successor is not None:
                yield moved.successor

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


def build_page(config: Config) -> Page:
    settings = config.docs
    shown = [r for r in config.rooms if settings.include_private or not is_private(r)]
    by_alias = {r.alias: r for r in config.rooms}
    current = {r.alias: r for r in shown if not is_retired(r)}
    spaces = {alias: r for alias, r in current.items() if r.is_space}

    def parents(spec: RoomSpec) -> list[SpaceLink]:
        return [link for link in spec.spaces if link.space in spaces and link.space != spec.alias]

    def entry(spec: RoomSpec) -> Entry:
        return Entry(
            alias=config.alias(spec.alias),
            name=spec.get("name"),
            topic=spec.get("topic"),
            access=_access(spec, by_alias, config),
            encrypted=spec.get("encrypted") is True,
            bots=tuple(Bot(b.name, b.user, b.display_name) for b in config.bots if b.serves(spec.alias)),
            is_space=spec.is_space,
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
    page = Page(
        title=settings.title or f"Matrix rooms of {config.server_name}",
        intro=markup.parse(settings.intro),
        server_name=config.server_name,
        spaces=tuple(section(s, (s.alias,)) for s in top),
        other_rooms=tuple(entry(r) for r in others),
        moved=tuple(moved),
    )
    return replace(page, how_to_join=how_to_join(page))


def how_to_join(page: Page) -> tuple[markup.Block, ...]:
    """The "How to join" text, as blocks both renderers already know how to write."""
    T, C = markup.Text, markup.Code

    def B(text: str) -> markup.Strong:
        return markup.Strong((markup.Text(text),))

    server = page.server_name
    steps = markup.ListBlock(
        (
            (
                B("Choose a Matrix client."),
                T(" Element runs in the browser, on desktops and on phones; any other Matrix client works as well."),
            ),
            (
                B("Make an account on any homeserver."),
                T(
                    " Matrix is federated: an account on matrix.org, on your own server or on any other homeserver "
                    f"can "
                    f"join the rooms of {server}. You do not need an account on {server}."
                ),
            ),
            (
                B("Follow a room's link below."),
                T(" matrix.to then offers to open the room in your client. Or search for the room's address, such as "),
                C(page.example_alias()),
                T(', in your client\'s "join a room" dialog.'),
            ),
        ),
        start=1,
    )
    listed = list(page.entries())
    rules = {e.access.rule for e in listed if e.access is not None}
    explained = []
    for rule, text in (
        (PUBLIC, "anyone can join."),
        (KNOCK, "knock from your client; a moderator lets you in."),
        (RESTRICTED, "join one of the spaces named first, then the room."),
        (INVITE, "ask a member of the room for an invitation."),
    ):
        if rule in rules:
            label = "members of …" if rule == RESTRICTED else Access(rule).label
            explained.append((B(label), T(": " + text)))
    if any(e.encrypted for e in listed):
        explained.append(
            (
                B("encrypted"),
                T(": end-to-end encrypted; set up your client's key backup, or you lose the history when you log out."),
            )
        )
    if rules <= {PUBLIC} and not any(e.encrypted for e in listed):
        return (steps,)  # every room is public: nothing to explain
    return steps, markup.Paragraph((T("What the marks next to a room mean:"),)), markup.ListBlock(tuple(explained))


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
