"""The roomsync-build-docs Zuul job's run and post playbooks, run with ansible-playbook as an executor would.

The change under test is roomsync's own repository. tox is a stand-in (`roomsync_tox_command`)
that records how it was called and writes a small site where `tox -e docs` writes the guide:
the job's own steps are what is tested here; the real `tox -e docs` build is the docs CI
environment, and tests/unit/test_zuul_config.py checks that the job runs exactly it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.integration.test_zuul_jobs import ROOMSYNC_PROJECT, node, zuul_job  # noqa: F401  (the fixtures)

STAND_IN = """\
import json, pathlib, sys
pathlib.Path({record!r}).write_text(json.dumps({{"argv": sys.argv[1:], "cwd": str(pathlib.Path.cwd())}}))
if {fail!r}:
    sys.exit("sphinx-build: warning treated as error")
site = pathlib.Path("doc/build/html")
(site / "_static").mkdir(parents=True)
(site / "index.html").write_text("<h1>roomsync</h1>")
(site / "commands.html").write_text("<h1>Commands</h1>")
(site / "_static" / "basic.css").write_text("body {{}}")
"""


def build_docs_job(zuul_job, tmp_path: Path, fail: bool = False):  # noqa: F811
    record = tmp_path / "tox-call.json"
    stand_in = tmp_path / "tox.py"
    stand_in.write_text(STAND_IN.format(record=str(record), fail=fail))
    job = zuul_job("roomsync-build-docs", roomsync_tox_command=f"{sys.executable} {stand_in}")
    job.variables["zuul"]["project"] = ROOMSYNC_PROJECT  # the change is to roomsync itself
    return job, record


def test_build_docs_job_builds_with_tox_docs_and_returns_the_site(tmp_path, node, zuul_job):  # noqa: F811
    job, record = build_docs_job(zuul_job, tmp_path)
    for phase in ("run", "post"):  # pre.yaml installs tox from the package index
        run = job.run(phase)
        assert run.code == 0, run
    assert json.loads(record.read_text()) == {"argv": ["-e", "docs"], "cwd": str(node.roomsync)}

    logs = job.log_root / "docs"
    assert sorted(str(p.relative_to(logs)) for p in logs.rglob("*") if p.is_file()) == [
        "_static/basic.css",
        "commands.html",
        "index.html",
    ]
    assert (logs / "index.html").read_text() == "<h1>roomsync</h1>"
    assert job.returned["zuul"]["artifacts"] == [
        {"name": "Guide (HTML)", "url": "docs/index.html", "metadata": {"type": "docs_site"}}
    ]


def test_build_docs_job_fails_on_a_failed_build_and_returns_nothing(tmp_path, node, zuul_job):  # noqa: F811
    job, record = build_docs_job(zuul_job, tmp_path, fail=True)
    run = job.run("run")
    assert run.code != 0 and "warning treated as error" in run.out + run.err, run
    assert json.loads(record.read_text())["argv"] == ["-e", "docs"]
    assert job.run("post").code == 0  # post-run still runs, and finds nothing to collect
    assert not (job.log_root / "docs").exists()
    assert job.returned == {}
