"""The roomsync-docs Zuul job's playbooks, run with ansible-playbook as an executor would.

No homeserver: the job is offline. The build machinery (ZuulJob, the stand-in
zuul_return) is the one tests/integration/test_zuul_jobs.py uses, which also covers
how roomsync-run reports a failed run (exit 1) and a post-run with nothing to collect.
"""

from __future__ import annotations

from pathlib import Path

from roomsync.config import load_config
from roomsync.docs import render
from tests.integration.helpers import write_config
from tests.integration.test_zuul_jobs import node, zuul_job  # noqa: F401  (the fixtures)

SERVER = "opendev.org"
REPO = Path(__file__).resolve().parents[2]


def test_docs_job_writes_the_page_into_the_logs_and_returns_it(tmp_path, node, zuul_job):  # noqa: F811
    avatar = (REPO / "avatars" / "opendev-space.png").read_bytes()
    (node.rooms / "avatars").mkdir(parents=True)
    (node.rooms / "avatars" / "zuul.png").write_bytes(avatar)
    config = write_config(
        node.rooms,
        SERVER,
        [
            {"alias": "zuul", "name": "Zuul <b>", "topic": "Project gating", "join_rule": "public"},
            {"alias": "zuul-ci", "name": "Zuul CI", "join_rule": "public", "avatar": "avatars/zuul.png"},
            {"alias": "ops", "name": "Ops", "join_rule": "invite", "directory": "private"},
        ],
    )
    node_dir = tmp_path / "node" / "roomsync-docs"
    job = zuul_job(
        "roomsync-docs", roomsync_docs_dir=str(node_dir), roomsync_homeserver="http://127.0.0.1:9"
    )  # nothing listens: the job is offline
    for phase in ("run", "post"):  # pre.yaml (roomsync-base) runs in test_zuul_jobs.py
        run = job.run(phase)
        assert run.code == 0, run
    assert f"wrote {node_dir / 'index.html'}" in job.runs[0].out and f"wrote {node_dir / 'index.md'}" in job.runs[0].out

    logs = job.log_root / "roomsync-docs"
    assert sorted(p.name for p in logs.iterdir()) == ["avatars", "index.html", "index.md"]
    assert [p.name for p in (logs / "avatars").iterdir()] == ["zuul.png"]  # next to the page, as it links it
    assert (logs / "avatars" / "zuul.png").read_bytes() == avatar
    assert 'src="avatars/zuul.png"' in (logs / "index.html").read_text()
    expected = load_config(config)
    assert (logs / "index.html").read_text() == render(expected, "html")
    assert (logs / "index.md").read_text() == render(expected, "markdown")
    assert "Zuul &lt;b&gt;" in (logs / "index.html").read_text() and "#ops:" not in (logs / "index.html").read_text()

    artifacts = job.returned["zuul"]["artifacts"]
    assert sorted(a["url"] for a in artifacts) == ["roomsync-docs/index.html", "roomsync-docs/index.md"]
    assert all(a["name"] and a["metadata"] == {"type": "roomsync_docs"} for a in artifacts)
