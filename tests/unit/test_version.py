"""The version comes from the git tag: pyproject.toml's hatch-vcs settings, asked of the build
backend itself (`hatchling version`) in a small copy of the project, and `roomsync --version`."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import roomsync

REPO = Path(__file__).resolve().parents[2]
GIT_ENV = {  # commits that do not depend on the machine's git configuration
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Release Test",
    "GIT_AUTHOR_EMAIL": "release@example.org",
    "GIT_COMMITTER_NAME": "Release Test",
    "GIT_COMMITTER_EMAIL": "release@example.org",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """What the build backend needs to tell the version: pyproject.toml, the readme, the package."""
    root = tmp_path / "roomsync"
    (root / "roomsync").mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "roomsync/__init__.py"):
        shutil.copy2(REPO / name, root / name)
    return root


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, env={**os.environ, **GIT_ENV}, check=True, capture_output=True, text=True, timeout=60
    ).stdout.strip()


def commit(root: Path, message: str) -> str:
    (root / "roomsync" / "__init__.py").write_text((root / "roomsync" / "__init__.py").read_text() + f"# {message}\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def built_version(root: Path) -> str:
    """The version the build backend gives a distribution built from root."""
    proc = subprocess.run(
        [sys.executable, "-m", "hatchling", "version"],
        cwd=root,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip()


def test_a_tagged_commit_has_the_tags_version_and_a_later_one_a_dev_version(project):
    git(project, "init", "-q")
    commit(project, "first")
    git(project, "tag", "-a", "0.2.0", "-m", "roomsync 0.2.0")
    assert built_version(project) == "0.2.0"

    for n in range(3):
        head = commit(project, f"after the release {n}")
    version = built_version(project)
    found = re.fullmatch(r"0\.2\.1\.dev3\+g([0-9a-f]{7,})", version)
    assert found and head.startswith(found.group(1)), version

    git(project, "tag", "0.3.0rc1")  # a lightweight tag counts too
    assert built_version(project) == "0.3.0rc1"


def test_a_clone_without_tags_builds_with_a_dev_version(project):
    git(project, "init", "-q")
    commit(project, "first")
    head = commit(project, "second")
    version = built_version(project)
    found = re.fullmatch(r"0\.1\.dev2\+g([0-9a-f]{7,})", version)
    assert found and head.startswith(found.group(1)), version


def test_a_tree_without_git_builds_from_its_pkg_info_or_with_the_fallback(project):
    assert built_version(project) == roomsync.FALLBACK_VERSION == "0.0"
    # An sdist has no .git; its PKG-INFO keeps the version it was made with.
    (project / "PKG-INFO").write_text("Metadata-Version: 2.4\nName: roomsync\nVersion: 0.2.0\n")
    assert built_version(project) == "0.2.0"


def test_version_option_prints_the_installed_version_without_loading_the_heavy_modules():
    probe = (
        "import sys\n"
        "from roomsync.cli import run\n"
        "try:\n"
        "    run(['--version'])\n"
        "finally:\n"
        "    heavy = sorted(m for m in sys.modules if m == 'nio' or m.startswith(('nio.', 'roomsync.plan')))\n"
        "    print('loaded:', heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"roomsync, version {importlib.metadata.version('roomsync')}", "loaded: []"]
    assert roomsync.__version__ == importlib.metadata.version("roomsync")
