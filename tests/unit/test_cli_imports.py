"""The offline commands start without the network stack and the planner: pre-commit runs validate on
every commit, so the command line imports those only in the commands that use them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("nio", "aiohttp", "roomsync.client", "roomsync.observe", "roomsync.plan", "roomsync.apply")

# Runs the command in a fresh interpreter, then prints the modules it imported as JSON on stdout.
CODE = """
import json, sys
from roomsync.cli import run
try:
    run(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


@pytest.mark.parametrize("args", [["--version"], ["-C", str(REPO), "validate"], ["--help"]])
def test_offline_commands_import_neither_nio_nor_the_planner(args):
    result = subprocess.run(
        [sys.executable, "-c", CODE, *args], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["code"] == 0, result.stderr
    loaded = [m for m in report["modules"] if any(m == name or m.startswith(name + ".") for name in HEAVY)]
    assert loaded == []
    assert "roomsync.cli.reconcile" in report["modules"]  # the commands are all registered, only not run
