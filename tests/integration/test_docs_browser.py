"""The join page (`roomsync docs`) in a real browser: Debian's headless Chromium, through WebDriver.

The test setup installs Chromium and its driver (Debian packages chromium and
chromium-driver) when they are missing, as CI's clean machine needs; when they
cannot be installed the tests fail. Each test writes the page with the real CLI,
opens it from file://, takes a screenshot into its tmp_path, and checks through
the DOM that every link is a matrix.to link of a listed room and that no script
ran and nothing was fetched.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
import yaml
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.wait import WebDriverWait

from roomsync.config import load_config
from roomsync.docs.page import SPACE_SENTENCE, build_page, matrix_to
from roomsync.model import DEFAULT_CLIENTS

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PACKAGES = ["chromium", "chromium-driver"]
PHONE = (390, 844)
# Every element the page may hold: no script, frame, form, object, svg, link or base; images only for the
# avatars copied next to the page (checked in assert_nothing_ran_or_was_fetched).
ALLOWED_TAGS = {
    "HTML",
    "HEAD",
    "META",
    "TITLE",
    "STYLE",
    "BODY",
    "MAIN",
    "H1",
    "H2",
    "H3",
    "H4",
    "H5",
    "H6",
    "DIV",
    "SECTION",
    "P",
    "UL",
    "OL",
    "LI",
    "A",
    "CODE",
    "SPAN",
    "STRONG",
    "EM",
    "FOOTER",
    # the intro's CommonMark
    "BR",
    "PRE",
    "BLOCKQUOTE",
    "HR",
    "IMG",
}
MARKER = "window.roomsyncPwned"  # what every hostile script below would set
HOSTILE_FILE_NAME = '"><img src=x onerror="window.roomsyncPwned = 5">.png'  # an avatar file's name

HOSTILE = [
    "<script>window.roomsyncPwned = 1</script>",
    '<img src="x" onerror="window.roomsyncPwned = 2">',
    '"><svg onload="window.roomsyncPwned = 3">',
    "javascript:window.roomsyncPwned=4",
    '<a href="https://evil.example/">click</a>',
    "[a link](https://evil.example/) ![img](https://evil.example/x.png)",
    "<style>body{display:none}</style><link rel=stylesheet href=https://evil.example/x.css>",
]


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        ["apt-get", *args], env=env, capture_output=True, text=True, timeout=1200, stdin=subprocess.DEVNULL
    )


def ensure_chromium() -> None:
    """Install Debian's chromium and chromium-driver when missing (quietly, once). Fails, never skips."""
    if CHROMIUM.is_file() and CHROMEDRIVER.is_file():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.fail(
            f"Chromium is missing: install the Debian packages {' '.join(PACKAGES)} "
            "(these tests install them themselves only as root on Debian)"
        )
    install = ("install", "-y", "-qq", "--no-install-recommends", *PACKAGES)
    result = _apt(*install)
    if result.returncode != 0:  # a clean machine may have no package lists yet, or old ones
        update = _apt("update", "-qq")
        result = _apt(*install) if update.returncode == 0 else update
    if result.returncode != 0 or not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.fail(
            f"could not install {' '.join(PACKAGES)}: exit {result.returncode}\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    ensure_chromium()
    work = tmp_path_factory.mktemp("chromium")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--disable-default-apps",
        "--disable-extensions",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--user-data-dir={work / 'profile'}",
        f"--window-size={PHONE[0]},{PHONE[1]}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(work / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(10)
    try:
        yield driver
    finally:
        driver.quit()


def write_docs(config: Path, out: Path) -> Path:
    """`roomsync docs` as a user runs it: offline (no token, a homeserver nothing listens on)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROOMSYNC_")}
    env["ROOMSYNC_HOMESERVER"] = "http://127.0.0.1:9"
    proc = subprocess.run(
        [sys.executable, "-m", "roomsync", "-C", str(config), "docs", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    page = out / "index.html"
    assert proc.stdout.strip() == f"wrote {page}"
    return page


def open_page(driver: webdriver.Chrome, page: Path, width: int, height: int) -> None:
    driver.get_log("browser")  # drop what an earlier page logged
    driver.set_window_size(width, height)
    driver.get(page.as_uri())
    # get() returns once the load event fired; on a busy machine an image may still be decoding
    # then (complete false). Wait, bounded, until each one has loaded or failed for good.
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return Array.from(document.images).every(i => i.complete)")
    )


def dom_facts(driver: webdriver.Chrome) -> dict:
    return driver.execute_script(
        """
        const all = Array.from(document.querySelectorAll('*'));
        return {
          tags: Array.from(new Set(all.map(e => e.tagName))),
          links: Array.from(document.querySelectorAll('a')).map(a => a.getAttribute('href')),
          linkTargets: Array.from(document.links).map(a => a.href),
          handlers: all.flatMap(e => Array.from(e.attributes).filter(a => a.name.startsWith('on'))
                                                        .map(a => e.tagName + ' ' + a.name)),
          urlAttributes: all.flatMap(e => Array.from(e.attributes)
              .filter(a => ['src', 'srcset', 'action', 'formaction', 'data', 'poster', 'background', 'xlink:href']
                           .includes(a.name)).map(a => e.tagName + ' ' + a.name)),
          scripts: document.scripts.length,
          marker: typeof """
        + MARKER
        + """,
          fetched: performance.getEntriesByType('resource').map(r => r.name),
          text: document.body.innerText,
          title: document.title,
          scrollWidth: document.documentElement.scrollWidth,
          innerWidth: window.innerWidth,
          height: document.documentElement.scrollHeight,
          stylesheets: document.styleSheets.length,
          csp: document.querySelector('meta[http-equiv="Content-Security-Policy"]').getAttribute('content'),
          images: Array.from(document.images).map(i => {
            const r = i.getBoundingClientRect();
            return {src: i.getAttribute('src'), url: i.currentSrc, complete: i.complete, naturalWidth: i.naturalWidth,
                    x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height};
          }),
        };
    """
    )


def screenshot(driver: webdriver.Chrome, path: Path, width: int, height: int) -> Path:
    """The whole page, not only the window, as a PNG."""
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": min(height, 10000), "scale": 1},
        },
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    return path


def assert_nothing_ran_or_was_fetched(driver: webdriver.Chrome, facts: dict, page: Path | None = None) -> None:
    """No script, no handler, nothing fetched but the avatars the page copied next to itself (page: where it is)."""
    assert facts["scripts"] == 0
    assert facts["marker"] == "undefined", "a script from the config ran"
    assert facts["handlers"] == [], "an inline event handler made it into the page"
    images = facts["images"]
    assert facts["urlAttributes"] == ["IMG src"] * len(images), "something on the page would fetch a resource"
    avatars = (page.parent / "avatars").as_uri() + "/" if page else None
    for image in images:  # a relative URL into the avatars/ directory next to the page, loaded from there
        assert image["src"].startswith("avatars/") and "/" not in image["src"][len("avatars/") :], image
        assert avatars and image["url"].startswith(avatars) and image["complete"], image
    assert ("img-src 'self';" if images else "img-src 'none';") in facts["csp"]
    assert set(facts["tags"]) <= ALLOWED_TAGS, set(facts["tags"]) - ALLOWED_TAGS
    assert [url for url in facts["fetched"] if not (avatars and url.startswith(avatars))] == [], "fetched something"
    assert facts["stylesheets"] == 1, "only the page's own inline stylesheet"
    assert "script-src 'none'" in facts["csp"] and "default-src 'none'" in facts["csp"]
    messages = [entry["message"] for entry in driver.get_log("browser")]
    assert messages == [], messages  # no CSP violation, no error: nothing even tried to run or load


def hostile_config(root: Path) -> Path:
    """A valid config with markup in every free-text field; `p` is an invite-only room not in the directory."""
    root.mkdir()
    evil = "\n".join(HOSTILE)
    # The intro is Markdown, where [text](https://...) is a link by design: it links only a listed room.
    intro = (
        "Welcome! [The lobby](https://matrix.to/#/%23lobby%3Aexample.org) is the place to start.\n\n"
        + "\n".join(h for h in HOSTILE if "evil.example/)" not in h)
        + "\n\n- [x](javascript:alert(1))\n- <b>bold</b>"
    )
    (root / "roomsync.yaml").write_text(
        yaml.safe_dump(
            {
                "server_name": "example.org",
                "docs": {
                    "title": "Join us " + HOSTILE[0],
                    "intro": intro,
                    "show_bots": True,
                    "contact": "@fungi:example.org",
                    "clients": [{"name": HOSTILE[2], "url": "https://client.example/?a=1&b=2", "description": evil}],
                },
                "defaults": {"join_rule": "public"},
            }
        )
    )
    (root / "rooms").mkdir()
    (root / "avatars").mkdir()
    Image.new("RGB", (32, 32), (40, 90, 200)).save(root / "avatars" / HOSTILE_FILE_NAME, format="PNG")
    (root / "rooms" / "rooms.yaml").write_text(
        yaml.safe_dump(
            {
                "rooms": [
                    {"alias": "hub", "type": "space", "name": HOSTILE[2], "topic": evil},
                    {
                        "alias": "inner",
                        "type": "space",
                        "name": "Inner " + HOSTILE[1],
                        "spaces": [{"space": "hub", "order": "2"}],
                    },
                    {
                        "alias": "lobby",
                        "name": HOSTILE[0],
                        "topic": evil,
                        "spaces": [{"space": "hub", "order": "1"}],
                        "avatar": f"avatars/{HOSTILE_FILE_NAME}",
                    },
                    {
                        "alias": "knock",
                        "name": HOSTILE[5],
                        "join_rule": "knock",
                        "room_version": "12",
                        "spaces": ["inner"],
                    },
                    {
                        "alias": "members",
                        "name": "x" * 120,
                        "topic": "y" * 300,
                        "join_rule": "restricted",
                        "spaces": ["inner"],
                        "encrypted": True,
                    },
                    {"alias": "loose", "name": HOSTILE[4], "topic": HOSTILE[6]},
                    {"alias": "p", "name": "Private room", "topic": "secret plans", "join_rule": "invite"},
                ]
            }
        )
    )
    (root / "bots.yaml").write_text(
        yaml.safe_dump(
            {
                "bots": [
                    {"name": "logger", "user": "@logger:example.org", "rooms": ["*"], "display_name": HOSTILE[1]},
                ]
            }
        )
    )
    return root


def test_hostile_strings_stay_text_on_a_phone_and_nothing_runs(browser, tmp_path):
    config = hostile_config(tmp_path / "config")
    page = write_docs(config, tmp_path / "site")
    open_page(browser, page, *PHONE)
    facts = dom_facts(browser)
    screenshot(browser, tmp_path / "join-page-phone.png", facts["innerWidth"], facts["height"])

    # Every link is the matrix.to link of a room the page lists, the contact's or the client's; the
    # private room is not there.
    listed = {"hub", "inner", "lobby", "knock", "members", "loose"}
    expected = {matrix_to(f"#{alias}:example.org") for alias in listed}
    contact, client = matrix_to("@fungi:example.org"), "https://client.example/?a=1&b=2"
    assert set(facts["links"]) == expected | {contact, client}
    assert set(facts["linkTargets"]) == expected | {contact, client}
    assert "secret plans" not in facts["text"] and "#p:example.org" not in page.read_text()
    assert (
        "Some rooms are private and not listed here. To be invited into one, ask @fungi:example.org." in facts["text"]
    )

    # The markup in the config shows as the text it is.
    for hostile in HOSTILE:
        assert hostile.split("\n")[0] in facts["text"], hostile
    assert "[x](javascript:alert(1))" in facts["text"] and "<b>bold</b>" in facts["text"]
    assert facts["title"] == "Join us " + HOSTILE[0]
    (avatar,) = facts["images"]  # the lobby's, whose file name is markup: a URL, percent-encoded
    assert avatar["naturalWidth"] == 32 and avatar["src"] == "avatars/" + quote(HOSTILE_FILE_NAME, safe="")
    assert_nothing_ran_or_was_fetched(browser, facts, page)
    # Readable on a phone: nothing wider than the screen, long names and topics wrap.
    assert facts["scrollWidth"] <= facts["innerWidth"], (facts["scrollWidth"], facts["innerWidth"])
    assert "members of Inner" in facts["text"] and "ask to join" in facts["text"] and "encrypted" in facts["text"]
    assert facts["text"].count("Bots: ") == 4  # show_bots: the logger, named in markup, in each of the 4 rooms


def test_this_repositorys_own_join_page(browser, tmp_path):
    page = write_docs(REPO, tmp_path / "site")
    open_page(browser, page, 800, 900)
    facts = dom_facts(browser)
    shot = screenshot(browser, tmp_path / "join-page.png", facts["innerWidth"], facts["height"])
    print(f"screenshot: {shot}")  # the guide's doc/source/images/join-page.png is this picture

    config = load_config(REPO)
    expected = {entry.link for entry in build_page(config).entries()}
    public = [r for r in config.rooms if r.get("join_rule") != "invite" or r.get("directory") == "public"]
    assert expected == {matrix_to(f"#{r.alias}:opendev.org") for r in public} and len(expected) >= 2
    # The rooms' links, the clients' real https pages and the contact to ask for an invitation.
    clients = [c.url for c in DEFAULT_CLIENTS]
    assert facts["links"] == [*clients, matrix_to("#opendev:opendev.org"), *facts["links"][len(clients) + 1 :]]
    assert set(facts["links"]) == expected | set(clients) | {matrix_to("#opendev:opendev.org")}
    assert {"https://app.element.io", "https://element.io/download", "https://github.com/ulyssa/iamb"} <= set(clients)
    text = facts["text"]
    assert all(f"{c.name}: {c.description}" in text for c in DEFAULT_CLIENTS)
    assert text.index("How to join") < text.index(SPACE_SENTENCE) < text.index("#opendev-space:opendev.org")
    assert "Some rooms are private and not listed here. To be invited into one, ask in #opendev:opendev.org." in text
    assert "#opendev-sysadmins:opendev.org" not in text and "sysadmins" not in text.lower()
    assert "#zuul:opendev.org" in text
    # No bot by default: bots.yaml's are not listed.
    assert "Bots:" not in text and not any(bot.user in text for bot in config.bots) and config.bots
    # The space's avatar, copied from the config's avatars/ next to the page.
    (avatar,) = facts["images"]
    assert avatar["src"] == "avatars/opendev-space.png" and avatar["naturalWidth"] > 0
    assert (page.parent / "avatars" / "opendev-space.png").read_bytes() == (
        REPO / "avatars/opendev-space.png"
    ).read_bytes()
    assert_nothing_ran_or_was_fetched(browser, facts, page)


def test_avatars_render_from_the_files_copied_next_to_the_page(browser, tmp_path):
    """Each image type roomsync accepts, loaded from DIR/avatars/ and drawn where the page puts it."""
    root = tmp_path / "config"
    (root / "avatars").mkdir(parents=True)
    colors = {
        "hub.png": (200, 30, 30),
        "zuul.jpg": (30, 160, 40),
        "logo.gif": (30, 60, 200),
        "bot.webp": (210, 160, 20),
        'we"ird <name> & more.png': (150, 40, 170),
    }
    for name, color in colors.items():
        Image.new("RGB", (64, 64), color).save(root / "avatars" / name)
    (root / "roomsync.yaml").write_text(
        yaml.safe_dump({"server_name": "example.org", "defaults": {"join_rule": "public"}})
    )
    (root / "rooms").mkdir()
    rooms = [{"alias": "hub", "type": "space", "name": "Hub", "avatar": "avatars/hub.png"}]
    rooms += [
        {"alias": f"room{i}", "name": f"Room {i}", "avatar": f"avatars/{name}", "spaces": ["hub"]}
        for i, name in enumerate(colors)
        if name != "hub.png"
    ]
    rooms += [
        {"alias": "remote", "name": "Remote avatar", "avatar": "mxc://example.org/AbCdEf", "spaces": ["hub"]},
        {"alias": "plain", "name": "No avatar", "spaces": ["hub"]},
    ]
    (root / "rooms" / "rooms.yaml").write_text(yaml.safe_dump({"rooms": rooms}))

    page = write_docs(root, tmp_path / "site")
    assert sorted(p.name for p in (page.parent / "avatars").iterdir()) == sorted(colors)
    open_page(browser, page, 800, 900)
    facts = dom_facts(browser)
    shot = screenshot(browser, tmp_path / "avatars.png", facts["innerWidth"], facts["height"])
    print(f"screenshot: {shot}")

    images = facts["images"]
    assert sorted(unquote(i["src"].removeprefix("avatars/")) for i in images) == sorted(colors)
    assert all(i["complete"] and i["naturalWidth"] == 64 and i["width"] > 10 for i in images), images
    picture = Image.open(shot).convert("RGB")
    for image in images:  # the middle of each avatar on the screenshot has its file's colour
        middle = (int(image["x"] + image["width"] / 2), int(image["y"] + image["height"] / 2))
        expected = colors[unquote(image["src"].removeprefix("avatars/"))]
        assert all(abs(a - b) <= 12 for a, b in zip(picture.getpixel(middle), expected, strict=True)), (image, middle)
    assert "mxc://" not in page.read_text() and "Remote avatar" in facts["text"]
    assert_nothing_ran_or_was_fetched(browser, facts, page)
