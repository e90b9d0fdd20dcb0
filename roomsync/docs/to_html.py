"""The join page as one self-contained HTML file, from a Jinja2 template: inline CSS, no script.

The built-in template is templates/page.html.j2; docs.template may name the community's
own, which gets the same page model. Jinja2 runs sandboxed (a template cannot reach
Python's internals) with autoescaping on: every string from the config is escaped, the
intro goes through the `markdown` filter (markdown-it-py, no raw HTML, http/https/mailto
links only), and links are made only of URLs that pass the `safe_href` test. A
Content-Security-Policy meta tag allows nothing but the page's own stylesheet (by its
hash) and, when the page shows avatars, images from the page's own directory.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from ..config import display_path
from ..errors import ConfigError, Mark, Problem, RoomsyncError
from ..yamlfile import one_line
from . import intro
from .page import Page

BUILTIN = "roomsync/page.html.j2"  # how templates name the built-in one, to extend or include it
TEMPLATES = Path(__file__).with_name("templates")

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
code,pre{font:.88em ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace}
pre{white-space:pre-wrap;background:var(--card);padding:.5rem .7rem;border-radius:6px}
blockquote{margin:.6rem 0;padding-left:.9rem;border-left:3px solid var(--line);color:var(--muted)}
section section{border-left:3px solid var(--line);padding-left:.9rem;margin-left:.1rem}
.meta,.bots,footer{color:var(--muted)}
.meta{margin:.2rem 0}
.topic{white-space:pre-line;margin:.3rem 0}
ul.rooms{list-style:none;padding:0;margin:.6rem 0}
li.room{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.55rem .8rem;margin:.5rem 0}
.name{font-weight:600;margin-right:.4rem}
.avatar{width:1.6em;height:1.6em;border-radius:50%;object-fit:cover;vertical-align:middle;margin-right:.45rem}
.badge{display:inline-block;font-size:.8rem;line-height:1.5;border:1px solid var(--line);border-radius:1rem;\
padding:0 .5rem;margin:.15rem .2rem 0 0;color:var(--muted);background:var(--bg)}
.badge.public{color:var(--accent);border-color:var(--accent)}
.bots{font-size:.9rem;margin:.3rem 0 0}
footer{font-size:.85rem;margin-top:2.5rem;border-top:1px solid var(--line);padding-top:.6rem}
"""


def csp(stylesheet: str, images: object = False) -> str:
    """The Content-Security-Policy of a page whose only stylesheet is `stylesheet`: images from the
    page's own directory when `images` is true (the page shows avatars), else none."""
    digest = base64.b64encode(hashlib.sha256(str(stylesheet).encode()).digest()).decode()
    img = "'self'" if images else "'none'"
    return (
        f"default-src 'none'; script-src 'none'; style-src 'sha256-{digest}'; img-src {img}; "
        "base-uri 'none'; form-action 'none'"
    )


CSP = csp(CSS)  # the built-in page's, without avatars


def environment(root: Path | None = None) -> jinja2.Environment:
    """Templates named roomsync/... are the built-in ones; any other name is a file under root."""
    loaders: list[jinja2.BaseLoader] = [jinja2.PrefixLoader({"roomsync": jinja2.FileSystemLoader(TEMPLATES)})]
    if root is not None:
        loaders.append(jinja2.FileSystemLoader(root))
    env = ImmutableSandboxedEnvironment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["markdown"] = lambda source: Markup(intro.to_html(source))
    env.tests["safe_href"] = lambda url: isinstance(url, str) and intro.safe_href(url)
    env.globals.update(css=Markup(CSS), csp=csp)
    return env


def render(page: Page, template: str | None = None, root: Path | None = None) -> str:
    """The page through the built-in template, or through `template` (a path under root).

    A community's template that fails is the config's error, in one line: its syntax errors
    (also in a template it extends or includes) as FILE:LINE:COLUMN, anything else by name.
    """
    env = environment(root)
    if template is None:
        return env.get_template(BUILTIN).render(page=page)
    try:
        return env.get_template(template).render(page=page)
    except jinja2.TemplateSyntaxError as exc:
        shown = display_path(Path(exc.filename)) if exc.filename else template
        problem = Problem(Mark(shown, exc.lineno, 1), one_line(f"template syntax error: {exc.message}"))
        raise ConfigError([problem]) from None
    except jinja2.TemplateNotFound as exc:
        raise RoomsyncError(one_line(f"docs.template '{template}': template '{exc.name}' not found")) from None
    except Exception as exc:  # the template's own mistake (an undefined name, a forbidden call, ...)
        raise RoomsyncError(one_line(f"docs.template '{template}' failed: {type(exc).__name__}: {exc}")) from None


def syntax_problem(path: Path) -> tuple[int, str] | None:
    """A template's syntax error, or an unknown filter or test: (line, message); None when it compiles."""
    try:
        environment(path.parent).compile(path.read_text(encoding="utf-8"), filename=str(path))
    except jinja2.TemplateSyntaxError as exc:
        return exc.lineno, one_line(f"template syntax error: {exc.message}")
    except UnicodeDecodeError:
        return 1, "the template is not UTF-8 text"
    return None
