"""roomsync.yaml's `docs:` section (the join page that `roomsync docs` writes): its checks beyond the
schema, and the DocsSettings it gives.

`contact` must be a room alias or a user id; `template` must name a file inside the config
directory, and a Jinja2 template that parses (its syntax error points into the template).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import ids
from .errors import Mark, Problem
from .model import DEFAULT_CLIENTS, DocsClient, DocsSettings
from .yamlfile import LoadedFile

CONTACT_FORM = "a room alias such as '#opendev:opendev.org' or a user id such as '@fungi:opendev.org'"


def contact_problem(contact: str) -> str | None:
    """Why docs.contact is neither a room alias (#name:server) nor a user id (@name:server), or None."""
    if contact.startswith("@"):
        problem = ids.user_id_problem(contact)
        return f"docs.contact: {problem}" if problem else None
    localpart, sep, server = contact[1:].partition(":")
    if not contact.startswith("#") or not sep or not localpart or any(c.isspace() for c in contact):
        return f"docs.contact must be {CONTACT_FORM} (got {contact!r})"
    if ids.server_name_problem(server):
        return f"docs.contact: '{server}' in '{contact}' is not a valid server name"
    return None


def template_problem(root: Path, value: str) -> str | None:
    """Why docs.template cannot be the page's template: it must be a file inside the config directory."""
    if Path(value).is_absolute() or value.startswith("~"):
        return f"docs.template '{value}' must be a path inside the config directory, such as templates/page.html.j2"
    base = root.resolve()
    try:
        real = (base / value).resolve(strict=True)
    except (OSError, RuntimeError):
        return f"docs.template file '{value}' does not exist (paths are relative to the config directory)"
    if not real.is_relative_to(base):
        return f"docs.template '{value}' leads outside the config directory; keep the template in the rooms repo"
    if not real.is_file():
        return f"docs.template '{value}' is not a file"
    return None


def check(settings: LoadedFile, root: Path, section: Any, shown: Callable[[Path], str]) -> list[Problem]:
    """The problems of the docs: section that the schema cannot see. shown: how messages name a file."""
    if not isinstance(section, dict):
        return []
    problems = []
    contact = section.get("contact")
    if isinstance(contact, str) and (problem := contact_problem(contact)):
        problems.append(settings.problem(("docs", "contact"), problem))
    template = section.get("template")
    if isinstance(template, str) and template:
        if problem := template_problem(root, template):
            problems.append(settings.problem(("docs", "template"), problem))
        else:
            from .docs.to_html import syntax_problem  # Jinja2, only for a config that names a template

            found = syntax_problem(root / template)
            if found is not None:
                line, message = found
                problems.append(Problem(Mark(shown(root / template), line, 1), message))
    return problems


def load(section: dict[str, Any]) -> DocsSettings:
    """The DocsSettings of a docs: section that passed the schema and check()."""
    clients = section.get("clients")
    return DocsSettings(
        title=section.get("title"),
        intro=section.get("intro"),
        include_private=section.get("include_private", False),
        clients=(
            tuple(DocsClient(c["name"], c["url"], c.get("description")) for c in clients)
            if clients
            else DEFAULT_CLIENTS
        ),
        contact=section.get("contact"),
        show_bots=section.get("show_bots", False),
        template=section.get("template"),
    )
