"""The pre-commit hook roomsync-validate, run by pre-commit itself on a temporary rooms repo.

`pre-commit try-repo` installs the hook from this checkout into a virtualenv of its own (pip,
with the machine's package index) and runs it on what is staged, as a commit would. Every
try-repo installs that environment afresh (about 10 s here); each run is bounded in time.
Which files make the hook run is checked in tests/unit/test_editor_cli.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
GIT_ID = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org",
}

GOOD_ROOMS = """\
rooms:
  - alias: general
    name: General
"""
BROKEN_ROOMS = """\
rooms:
  - alias: General Chat
    name: General
"""


def git(repo: Path, *args: str, env: dict[str, str]) -> None:
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, timeout=60)


def test_hook_fails_a_broken_commit_with_file_line_column_and_passes_a_good_one(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROOMSYNC_", "GIT_", "PRE_COMMIT"))}
    env.update(
        GIT_ID, GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home")
    )
    rooms = tmp_path / "rooms-repo"
    (rooms / "rooms").mkdir(parents=True)
    (rooms / "roomsync.yaml").write_text("server_name: example.org\n")
    (rooms / "rooms" / "general.yaml").write_text(GOOD_ROOMS)
    git(rooms, "init", "-q", env=env)
    git(rooms, "add", "-A", env=env)
    git(rooms, "commit", "-q", "-m", "rooms", env=env)

    def hook() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PRE_COMMIT), "try-repo", str(REPO), "roomsync-validate"],
            cwd=rooms,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    (rooms / "rooms" / "general.yaml").write_text(BROKEN_ROOMS)
    git(rooms, "add", "-A", env=env)
    broken = hook()
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert re.search(r"^rooms/general\.yaml:2:12: alias 'General Chat' ", broken.stdout, re.M), broken.stdout
    assert "Traceback" not in broken.stdout + broken.stderr

    (rooms / "rooms" / "general.yaml").write_text(GOOD_ROOMS.replace("General\n", "General discussion\n"))
    git(rooms, "add", "-A", env=env)
    good = hook()
    assert good.returncode == 0, good.stdout + good.stderr
    assert re.search(r"^roomsync validate\.+Passed$", good.stdout, re.M), good.stdout
