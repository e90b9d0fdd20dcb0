"""The join page's content beyond the rooms: the clients, what a space is, whom to ask for an invitation,
bots only when asked for, and nothing for a missing topic. Each in both formats (HTML, and the
Markdown read back by markdown-it-py and Python-Markdown)."""

from __future__ import annotations

import re

from roomsync.config import load_config
from roomsync.docs import build_page, render
from roomsync.docs.page import SPACE_SENTENCE, Contact, matrix_to
from roomsync.model import DEFAULT_CLIENTS, BotSpec, DocsClient

from .test_docs import MARKDOWN_READERS, REPO, SERVER, Collector, config, full, space, spec


def html_and_markdowns(cfg) -> dict[str, Collector]:
    """The page as the browser's DOM would hold it, from the HTML and from both Markdown readers."""
    md = render(cfg, "markdown")
    return {"html": Collector(render(cfg, "html"))} | {name: Collector(r(md)) for name, r in MARKDOWN_READERS.items()}


# --- clients ---------------------------------------------------------------------------------------


def test_default_clients_are_element_everywhere_and_text_clients_with_real_https_urls():
    names = {c.name: c for c in DEFAULT_CLIENTS}
    assert names["Element"].url == "https://app.element.io"
    assert names["Element desktop and mobile"].url == "https://element.io/download"
    assert "Android" in (names["Element desktop and mobile"].description or "")
    assert names["iamb"].url == "https://github.com/ulyssa/iamb"
    assert names["weechat-matrix"].url == "https://github.com/poljar/weechat-matrix"
    assert all(re.fullmatch(r"https://[a-z0-9.-]+(/[A-Za-z0-9/_.-]*)?", c.url) for c in DEFAULT_CLIENTS)
    page = build_page(config(spec("r")))
    assert page.clients == DEFAULT_CLIENTS
    for name, doc in html_and_markdowns(config(spec("r"))).items():
        for client in DEFAULT_CLIENTS:
            assert client.url in doc.hrefs, (name, client.url)
            assert f"{client.name}: {client.description}" in doc.text, (name, client.name)
        assert "Choose a Matrix client. Any Matrix client works, for instance:" in doc.text


def test_configured_clients_replace_the_defaults_in_their_order():
    clients = (
        DocsClient("gomuks", "https://github.com/tulir/gomuks"),
        DocsClient("Nheko", "https://nheko-reborn.github.io"),
    )
    for name, doc in html_and_markdowns(config(spec("r"), clients=clients)).items():
        hrefs = [h for h in doc.hrefs if not h.startswith("https://matrix.to/")]
        assert hrefs == ["https://github.com/tulir/gomuks", "https://nheko-reborn.github.io"], name
        assert "Element" not in doc.text and "gomuks Nheko" in doc.text, name  # no description: the name alone


def test_no_clients_no_list():
    for name, doc in html_and_markdowns(config(spec("r"), clients=())).items():
        assert "Choose a Matrix client. Make an account" in doc.text, name
        assert "for instance" not in doc.text and all(h.startswith("https://matrix.to/") for h in doc.hrefs), name
        assert ("ul", "class", "clients") not in doc.attrs, name


def test_a_client_url_that_is_not_http_is_shown_but_not_linked():
    clients = (DocsClient("Sneaky", "javascript:alert(1)", "x"), DocsClient("Mail", "mailto:help@example.org"))
    for name, doc in html_and_markdowns(config(spec("r"), clients=clients)).items():
        assert "Sneaky: x" in doc.text and not any("javascript" in h for h in doc.hrefs), name
        assert "mailto:help@example.org" in doc.hrefs, name


# --- what a space is -------------------------------------------------------------------------------


def test_one_sentence_says_what_a_space_is_where_spaces_first_appear():
    assert SPACE_SENTENCE.count(". ") == 0 and SPACE_SENTENCE.endswith(".") and "space" in SPACE_SENTENCE
    cfg = config(
        space("hub", name="The Hub", join_rule="public"),
        spec("members", join_rule="restricted", spaces=["hub"]),
    )
    assert build_page(cfg).space_note == SPACE_SENTENCE
    for name, doc in html_and_markdowns(cfg).items():
        text = doc.text
        assert text.count(SPACE_SENTENCE) == 1, name
        first_space = min(text.index("members of"), text.index("The Hub"), text.index(full("hub")))
        assert text.index(SPACE_SENTENCE) < first_space, name  # before the marks' "members of" and the space
        assert text.index("How to join") < text.index(SPACE_SENTENCE), name


def test_no_space_no_sentence():
    cfg = config(spec("a"), space("hidden", join_rule="invite"))  # the only space is private: not listed
    assert build_page(cfg).space_note is None
    assert all(SPACE_SENTENCE not in doc.text for doc in html_and_markdowns(cfg).values())


# --- private rooms and whom to ask -----------------------------------------------------------------


def private_rooms(**docs):
    return config(
        spec("lobby", join_rule="public"),
        spec("secret-ops", name="Secret operations", join_rule="invite", directory="private", topic="hush"),
        **docs,
    )


def test_with_a_contact_the_page_says_private_rooms_exist_and_whom_to_ask_without_naming_them():
    for contact, ask in (
        ("@fungi:opendev.org", "ask @fungi:opendev.org."),
        ("#opendev:opendev.org", "ask in #opendev"),
    ):
        cfg = private_rooms(contact=contact)
        assert build_page(cfg).contact == Contact(contact, hidden=True)
        for name, doc in html_and_markdowns(cfg).items():
            assert "Some rooms are private and not listed here. To be invited into one, " + ask in doc.text, name
            assert matrix_to(contact) in doc.hrefs, name
            assert "secret" not in doc.text.lower() and "hush" not in doc.text, name
    assert matrix_to("@fungi:opendev.org") == "https://matrix.to/#/%40fungi%3Aopendev.org"


def test_without_a_contact_nothing_is_said_and_with_include_private_the_rooms_are_listed():
    for doc in html_and_markdowns(private_rooms()).values():
        assert "private" not in doc.text and "secret" not in doc.text.lower()
    cfg = private_rooms(contact="@fungi:opendev.org", include_private=True)
    assert build_page(cfg).contact == Contact("@fungi:opendev.org", hidden=False)
    for name, doc in html_and_markdowns(cfg).items():
        assert "Some rooms are private. To be invited into one, ask @fungi:opendev.org." in doc.text, name
        assert "Secret operations" in doc.text and "invite only" in doc.text, name


# --- bots and topics -------------------------------------------------------------------------------


def test_bots_are_listed_only_with_show_bots():
    bots = (BotSpec("logger", "@logger:example.org", ("*",), display_name="The Logger"),)
    quiet = config(spec("r", topic="t"), bots=bots)
    assert build_page(quiet).other_rooms[0].bots == ()
    for name, doc in html_and_markdowns(quiet).items():
        assert "Bots" not in doc.text and "@logger" not in doc.text and "The Logger" not in doc.text, name
    shown = config(spec("r", topic="t"), bots=bots, show_bots=True)
    for name, doc in html_and_markdowns(shown).items():
        assert "Bots: The Logger @logger:example.org" in doc.text.replace("(", "").replace(")", ""), name
    assert 'class="bots"' in render(shown, "html") and 'class="bots"' not in render(quiet, "html")


def test_the_repos_own_page_lists_no_bot_by_default():
    assert load_config(REPO).bots and not load_config(REPO).docs.show_bots
    for doc in html_and_markdowns(load_config(REPO)).values():
        assert "Bots:" not in doc.text and "@gerrit:opendev.org" not in doc.text


def test_a_room_without_a_topic_shows_nothing_for_it():
    cfg = config(
        space("hub", topic=" \n "),
        spec("blank", topic="  ", spaces=["hub"]),
        spec("empty", topic="", spaces=["hub"]),
        spec("none", spaces=["hub"]),
        spec("loose", topic="\t"),
    )
    page = build_page(cfg)
    assert [e.topic for e in page.listed()] == [None] * 5
    html = render(cfg, "html")
    assert 'class="topic"' not in html
    assert not re.search(r"<p[^>]*>\s*</p>", html), "an empty paragraph"
    md = render(cfg, "markdown")
    assert "  \n  \n" not in md and not re.search(r"\n {2,}\n", md), "an empty line in an item"
    for line in md.splitlines():
        assert line == line.rstrip() or line.endswith("  "), repr(line)
    for room in ("blank", "empty", "none"):
        (item,) = [line for line in md.splitlines() if line.startswith("- **") and f"`#{room}:{SERVER}`" in line]
        assert item.endswith(f"`#{room}:{SERVER}`"), item  # the item ends with its address: no topic line
