"""The join page as one self-contained HTML file: inline CSS, no script, nothing fetched.

Every string from the config goes through html.escape; the only links are the rooms'
matrix.to links and the intro's http/https/mailto links. A Content-Security-Policy
meta tag allows nothing but the page's own stylesheet (by its hash), so even a
browser that found markup in the page would neither run nor fetch anything.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape

from . import markup
from .page import Entry, Moved, Page, Section

CSS = """\
:root{color-scheme:light dark;--fg:#1c1f24;--muted:#59606d;--bg:#fff;--card:#f4f6f9;--line:#d9dee6;--accent:#0b6b5c}
@media (prefers-color-scheme:dark){:root{--fg:#e4e7eb;--muted:#a0a8b5;--bg:#14171b;--card:#1d2126;\
--line:#323842;--accent:#5fd4ba}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,\
"Noto Sans",sans-serif;overflow-wrap:anywhere}
main{max-width:46rem;margin:0 auto;padding:1.25rem 1rem 2.5rem}
h1{font-size:1.8rem;line-height:1.2;margin:.5rem 0 1rem}
h2{font-size:1.35rem;margin:2.2rem 0 .4rem;padding-bottom:.2rem;border-bottom:1px solid var(--line)}
h3,h4,h5,h6{font-size:1.12rem;margin:1.6rem 0 .4rem}
a{color:var(--accent)}
code{font:.88em ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace}
section section{border-left:3px solid var(--line);padding-left:.9rem;margin-left:.1rem}
.meta,.bots,footer{color:var(--muted)}
.meta{margin:.2rem 0}
.topic{white-space:pre-line;margin:.3rem 0}
ul.rooms{list-style:none;padding:0;margin:.6rem 0}
li.room{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.55rem .8rem;margin:.5rem 0}
.name{font-weight:600;margin-right:.4rem}
.badge{display:inline-block;font-size:.8rem;line-height:1.5;border:1px solid var(--line);border-radius:1rem;\
padding:0 .5rem;margin:.15rem .2rem 0 0;color:var(--muted);background:var(--bg)}
.badge.public{color:var(--accent);border-color:var(--accent)}
.bots{font-size:.9rem;margin:.3rem 0 0}
footer{font-size:.85rem;margin-top:2.5rem;border-top:1px solid var(--line);padding-top:.6rem}
"""
CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
CSP = (
    f"default-src 'none'; script-src 'none'; style-src 'sha256-{CSS_HASH}'; img-src 'none'; "
    "base-uri 'none'; form-action 'none'"
)


def esc(text: str) -> str:
    return escape(text, quote=True)


def render(page: Page) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="roomsync docs">',
        f"<title>{esc(page.title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{esc(page.title)}</h1>",
    ]
    if page.intro:
        out += ['<div class="intro">', *blocks(page.intro), "</div>"]
    out += ['<section class="how-to-join">', "<h2>How to join</h2>", *blocks(page.how_to_join), "</section>"]
    for section in page.spaces:
        out += space_section(section, 2)
    if page.other_rooms:
        out += ['<section class="other-rooms">', "<h2>Other rooms</h2>", *room_list(page.other_rooms), "</section>"]
    if page.moved:
        out += ['<section class="moved">', "<h2>Moved</h2>", '<ul class="rooms">']
        out += [moved_item(m) for m in page.moved]
        out += ["</ul>", "</section>"]
    out += [
        f"<footer>Made by roomsync from the room definitions of {esc(page.server_name)}.</footer>",
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(out) + "\n"


def space_section(section: Section, level: int) -> list[str]:
    space, h = section.space, min(level, 6)
    out = [
        '<section class="space">',
        f'<h{h}><a href="{esc(space.link)}">{esc(space.label)}</a></h{h}>',
        f'<p class="meta">{meta(space, "space")}</p>',
    ]
    if space.topic:
        out.append(f'<p class="topic">{esc(space.topic)}</p>')
    out += room_list(section.rooms)
    for sub in section.spaces:
        out += space_section(sub, level + 1)
    out.append("</section>")
    return out


def room_list(entries: tuple[Entry, ...]) -> list[str]:
    return ['<ul class="rooms">', *(room_item(e) for e in entries), "</ul>"] if entries else []


def meta(entry: Entry, kind: str | None = None) -> str:
    parts = [f"<code>{esc(entry.alias)}</code>"]
    if kind:
        parts.append(f'<span class="badge">{kind}</span>')
    if entry.access is not None:
        parts.append(f'<span class="badge {esc(entry.access.rule)}">{esc(entry.access.label)}</span>')
    if entry.encrypted:
        parts.append('<span class="badge encrypted">encrypted</span>')
    return " ".join(parts)


def room_item(entry: Entry) -> str:
    parts = [
        f'<li class="room"><a class="name" href="{esc(entry.link)}">{esc(entry.label)}</a> '
        + meta(entry, "space" if entry.is_space else None)
    ]
    if entry.topic:
        parts.append(f'<p class="topic">{esc(entry.topic)}</p>')
    if entry.bots:
        bots = ", ".join(f"{esc(b.label)} <code>{esc(b.user)}</code>" for b in entry.bots)
        parts.append(f'<p class="bots">Bots: {bots}</p>')
    return "\n".join(parts) + "</li>"


def moved_item(moved: Moved) -> str:
    old = moved.entry
    head = f'<li class="room"><span class="name">{esc(old.label)}</span> <code>{esc(old.alias)}</code>'
    if moved.successor is None:
        return head + '\n<p class="meta">This room is closed.</p></li>'
    new = moved.successor
    return (
        head + f'\n<p class="meta">Moved to <a class="name" href="{esc(new.link)}">{esc(new.label)}</a> '
        f"<code>{esc(new.alias)}</code></p></li>"
    )


# --- the Markdown subset (intro, "How to join") ---------------------------------------------------


def blocks(items: tuple[markup.Block, ...]) -> list[str]:
    out = []
    for block in items:
        if isinstance(block, markup.Paragraph):
            out.append(f"<p>{inlines(block.children)}</p>")
        else:
            tag = "ul" if block.start is None else "ol"
            start = f' start="{block.start}"' if block.start not in (None, 1) else ""
            out += [f"<{tag}{start}>", *(f"<li>{inlines(item)}</li>" for item in block.items), f"</{tag}>"]
    return out


def inlines(nodes: tuple[markup.Inline, ...]) -> str:
    out = []
    for node in nodes:
        if isinstance(node, markup.Text):
            out.append(esc(node.text))
        elif isinstance(node, markup.Code):
            out.append(f"<code>{esc(node.text)}</code>")
        elif isinstance(node, markup.Emphasis):
            out.append(f"<em>{inlines(node.children)}</em>")
        elif isinstance(node, markup.Strong):
            out.append(f"<strong>{inlines(node.children)}</strong>")
        elif isinstance(node, markup.Link) and markup.safe_href(node.href):
            out.append(f'<a href="{esc(node.href)}" rel="nofollow noopener noreferrer">{inlines(node.children)}</a>')
        elif isinstance(node, markup.Link):  # never made by the parser; belt and braces
            out.append(inlines(node.children))
    return "".join(out)
