"""docs: settings in roomsync.yaml (clients, contact, show_bots, template) and the community's own
Jinja2 template: the same page model, autoescaped, sandboxed, its mistakes reported in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from roomsync.config import load_config
from roomsync.docs import render, to_html
from roomsync.errors import ConfigError
from roomsync.model import DEFAULT_CLIENTS, DocsClient, DocsSettings

from .test_docs import SERVER, Collector, run_cli

ROOMS = {
    "rooms": [
        {"alias": "hub", "type": "space", "name": "Hub", "join_rule": "public"},
        {"alias": "lobby", "name": "<script>alert(1)</script>", "topic": "*hi*", "spaces": ["hub"]},
    ]
}


def make_config(root: Path, template: str | None = None, **docs) -> Path:
    """A config dir; with template, docs.template names templates/page.html.j2 holding it."""
    (root / "rooms").mkdir(parents=True)
    (root / "rooms" / "a.yaml").write_text(yaml.safe_dump(ROOMS))
    if template is not None:
        (root / "templates").mkdir()
        (root / "templates" / "page.html.j2").write_text(template)
        docs["template"] = "templates/page.html.j2"
    settings = {"server_name": SERVER, "defaults": {"join_rule": "public"}, "docs": docs} if docs else {}
    (root / "roomsync.yaml").write_text(yaml.safe_dump(settings or {"server_name": SERVER}))
    return root


def test_the_new_docs_fields_are_loaded(tmp_path):
    make_config(
        tmp_path,
        clients=[{"name": "gomuks", "url": "https://github.com/tulir/gomuks", "description": "terminal"}],
        contact="@fungi:opendev.org",
        show_bots=True,
    )
    docs = load_config(tmp_path).docs
    assert docs.clients == (DocsClient("gomuks", "https://github.com/tulir/gomuks", "terminal"),)
    assert (docs.contact, docs.show_bots, docs.template) == ("@fungi:opendev.org", True, None)
    assert DocsSettings() == DocsSettings(clients=DEFAULT_CLIENTS, contact=None, show_bots=False, template=None)


def test_a_communitys_template_gets_the_page_model_autoescaped(tmp_path):
    template = (
        "<title>{{ page.title }}</title>\n"
        "{% for entry in page.listed() %}<li><a href='{{ entry.link }}'>{{ entry.label }}</a> {{ entry.topic }}</li>\n"
        "{% endfor %}{{ page.intro | markdown }}{% for c in page.clients %}{% if c.url is safe_href %}"
        "<a href='{{ c.url }}'>{{ c.name }}</a>{% endif %}{% endfor %}"
        "<meta http-equiv='Content-Security-Policy' content='{{ csp(css, page.avatars()) }}'>"
    )
    root = make_config(tmp_path / "config", template, intro="Welcome **all** <b>x</b>")
    proc = run_cli("docs", "--out", "site", cwd=root)
    assert proc.returncode == 0, proc.stderr
    html = (root / "site" / "index.html").read_text()
    lobby = "<a href='https://matrix.to/#/%23lobby%3Aexample.org'>&lt;script&gt;alert(1)&lt;/script&gt;</a> *hi*"
    assert f"<li>{lobby}</li>" in html
    assert "<p>Welcome <strong>all</strong> &lt;b&gt;x&lt;/b&gt;</p>" in html
    assert all(f"<a href='{c.url}'>{c.name}</a>" in html for c in DEFAULT_CLIENTS)
    assert to_html.CSP.replace("'", "&#39;") in html
    assert html == render(load_config(root), "html")


def test_a_template_may_extend_the_built_in_one(tmp_path):
    footer = "<footer>Be kind: {{ page.server_name }}'s code of conduct.</footer>"
    template = '{% extends "roomsync/page.html.j2" %}{% block footer %}' + footer + "{% endblock %}"
    root = make_config(tmp_path / "config", template)
    built_in = render(load_config(make_config(tmp_path / "plain", intro="")), "html")
    html = render(load_config(root), "html")
    assert html.replace("<footer>Be kind: example.org's code of conduct.</footer>", "") == built_in.replace(
        "<footer>Made by roomsync from the room definitions of example.org.</footer>\n", ""
    )
    assert render(load_config(root), "markdown") == render(load_config(tmp_path / "plain"), "markdown")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ page.__class__.__mro__ }}", "docs.template 'templates/page.html.j2' failed: SecurityError: "),
        ("{{ page.title.__class__ }}", "failed: SecurityError: access to attribute '__class__' of 'str'"),
        ("{{ nothing_here }}", "failed: UndefinedError: 'nothing_here' is undefined"),
        ("{{ page.no_such_field }}", "failed: UndefinedError: 'roomsync.docs.page.Page object' has no attribute"),
        ('{% include "missing.html.j2" %}', "docs.template 'templates/page.html.j2': template 'missing.html.j2' not"),
    ],
)
def test_a_template_that_fails_is_one_line_and_writes_nothing(tmp_path, template, message):
    root = make_config(tmp_path / "config", template)
    proc = run_cli("docs", "--out", "site", cwd=root)
    assert proc.returncode == 1 and proc.stdout == "" and "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and message in proc.stderr, proc.stderr
    assert not (root / "site").exists()


def test_syntax_errors_point_into_the_template(tmp_path):
    root = make_config(tmp_path / "config", "<p>\n{{ page.title | no_such_filter }}\n")
    proc = run_cli("validate", cwd=root)
    assert proc.returncode == 1
    assert proc.stderr.startswith("templates/page.html.j2:2:1: template syntax error: No filter named 'no_such_filter'")
    # A template it includes is only read when the page is made: the error points there.
    (root / "templates" / "page.html.j2").write_text('{% include "part.html.j2" %}')
    (root / "part.html.j2").write_text("ok\n{% if %}\n")
    assert run_cli("validate", cwd=root).returncode == 0
    proc = run_cli("docs", "--out", "site", cwd=root)
    assert proc.returncode == 1 and proc.stderr.startswith("part.html.j2:2:1: template syntax error: "), proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and not (root / "site").exists()


def test_the_template_must_be_a_file(tmp_path):
    root = make_config(tmp_path / "config")
    (root / "templates").mkdir()
    (root / "roomsync.yaml").write_text(f"server_name: {SERVER}\ndocs:\n  template: templates\n")
    with pytest.raises(ConfigError) as caught:
        load_config(root)
    (problem,) = caught.value.problems
    assert (problem.mark.line, problem.mark.column) == (3, 13)
    assert problem.message == "docs.template 'templates' is not a file"


def test_the_built_in_template_is_the_default(tmp_path):
    root = make_config(tmp_path, intro="hi")
    doc = Collector(render(load_config(root), "html"))
    assert doc.tags[:3] == ["html", "head", "meta"] and "How to join" in doc.text
    assert to_html.BUILTIN == "roomsync/page.html.j2" and (to_html.TEMPLATES / "page.html.j2").is_file()
