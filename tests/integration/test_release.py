"""The release as a user gets it: the wheel built from this checkout the way the release job
builds it (`python -m build`: the sdist, then the wheel from the sdist, which has no .git),
installed into a fresh virtualenv that sees nothing of this test run's packages (its
dependencies come from the package index through pip), and run from there: the version,
the schemas and the join page must all come from the wheel itself.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = tuple(sorted(p.name for p in (REPO / "schema").glob("*.schema.json")))  # every one the checkout has


@dataclass
class Release:
    version: str
    dist: Path
    venv: Path

    def roomsync(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "ROOMSYNC_", "VIRTUAL_ENV"))}
        return subprocess.run(
            [str(self.venv / "bin" / "roomsync"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
        )


def run(*argv: str | Path, cwd: Path = REPO, timeout: int = 600) -> str:
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{argv}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    root = tmp_path_factory.mktemp("release")
    dist, venv = root / "dist", root / "venv"
    # As the release job builds: isolated, with pyproject.toml's build requirements only.
    run(sys.executable, "-m", "build", "--outdir", dist, REPO)
    expected = run(sys.executable, "-m", "hatchling", "version").strip()  # what hatch-vcs makes of this checkout
    assert sorted(p.name for p in dist.iterdir()) == [
        f"roomsync-{expected}-py3-none-any.whl",
        f"roomsync-{expected}.tar.gz",
    ]
    run(sys.executable, "-m", "twine", "check", "--strict", *sorted(dist.iterdir()))
    # No --system-site-packages: a file or a dependency missing from the wheel would show. This
    # run's pip installs into it (and reuses its cache): the virtualenv needs no pip of its own.
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-compile", *dist.glob("*.whl"))
    return Release(expected, dist, venv)


def test_installed_wheel_is_the_built_version_and_runs_from_the_virtualenv(release, tmp_path):
    proc = release.roomsync("--version", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"roomsync, version {release.version}\n"
    where = run(release.venv / "bin" / "python", "-I", "-c", "import roomsync; print(roomsync.__file__)", cwd=tmp_path)
    assert Path(where.strip()).is_relative_to(release.venv)  # not this checkout


def test_installed_wheel_writes_the_schemas_it_validates_with(release, tmp_path):
    out = tmp_path / "schemas"
    proc = release.roomsync("schema", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(SCHEMAS)
    for name in SCHEMAS:
        written = json.loads((out / name).read_text())
        assert written == json.loads((REPO / "schema" / name).read_text()), name
        assert written["$schema"].startswith("https://json-schema.org/"), name


class References(HTMLParser):
    """Every src and href of a page, and url(...) in its inline styles."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        self.found += [v for k, v in attrs if k in ("src", "href") and v]
        self.found += re.findall(r"url\(['\"]?([^'\")]+)", dict(attrs).get("style") or "")

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.found += re.findall(r"url\(['\"]?([^'\")]+)", data)


def test_installed_wheel_writes_the_join_page_with_everything_it_references(release, tmp_path):
    config = tmp_path / "rooms-repo"
    shutil.copytree(REPO / "examples" / "rooms-repo", config)
    out = tmp_path / "page"
    proc = release.roomsync("-C", str(config), "docs", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    page = (out / "index.html").read_text()
    # The same page as this checkout's own roomsync writes.
    here = tmp_path / "here"
    run(sys.executable, "-m", "roomsync", "-C", config, "docs", "--out", here)
    assert page == (here / "index.html").read_text()
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in here.iterdir())

    parser = References()
    parser.feed(page)
    assert parser.found, "the page links nothing: the parser read nothing"
    assert any("matrix.to/#/" in ref for ref in parser.found)  # the example's rooms, linked
    local = [ref for ref in parser.found if not urlsplit(ref).scheme and not ref.startswith("#")]
    missing = [ref for ref in local if not (out / urlsplit(ref).path).is_file()]
    assert not missing, f"the page references files that were not written: {missing}"
