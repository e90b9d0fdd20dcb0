"""roomsync-sync-reviewed, run with ansible-playbook as an executor would, against the real Synapse.

The gate build is the real roomsync-plan job (its run and post playbooks, reading with the
observer's token): its returned artifacts, plan.json among them, are served by a stand-in for
the tenant's Zuul API on 127.0.0.1, which answers the builds query as Zuul does (the newest build
first, artifact URLs under the build's log URL). The promote build then downloads the saved plan
with the stand-in for zuul-jobs' download-artifact role (tests/ansible/roles) and applies it with
`roomsync sync --plan`. The build machinery (ZuulJob, the node's git trees) is
tests/integration/test_zuul_jobs.py's; it checks every output and log for the tokens.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Account
from tests.integration import test_zuul_jobs
from tests.integration.helpers import joined_rooms, put_state, resolve, roomsync, state, write_config
from tests.integration.test_zuul_jobs import ACCOUNT, SERVER, ZuulJob, observed_config, rooms_for, write_bots
from tests.synapse import SynapseServer

node, zuul_job = test_zuul_jobs.node, test_zuul_jobs.zuul_job  # the build machinery's fixtures

CHANGE, PATCHSET = "4242", "2"
PLAN_JOB = "example-rooms-plan"  # the rooms repo's child of roomsync-plan
TENANT = "/api/tenant/example"


@dataclass
class ZuulApi:
    """The builds endpoint of a tenant's Zuul API, and the log server holding the builds' files."""

    url: str = ""
    builds: list[dict[str, Any]] = field(default_factory=list)  # newest first, as Zuul lists them
    logs: dict[str, Path] = field(default_factory=dict)  # build uuid -> its log root
    queries: list[dict[str, str]] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)

    @property
    def api(self) -> str:
        return self.url + TENANT

    def add_build(self, plan_job: ZuulJob, pipeline: str = "gate") -> None:
        """plan_job's build, in pipeline, for the change under test: what it returned, as Zuul serves it."""
        uuid = f"build{len(self.builds)}"
        self.logs[uuid] = plan_job.log_root
        log_url = f"{self.url}/logs/{uuid}/"
        artifacts = [{**a, "url": log_url + a["url"]} for a in plan_job.returned.get("zuul", {}).get("artifacts", [])]
        build = {"uuid": uuid, "job_name": PLAN_JOB, "pipeline": pipeline, "change": int(CHANGE)}
        build.update(patchset=PATCHSET, result="SUCCESS", log_url=log_url, artifacts=artifacts)
        self.builds.insert(0, build)


@pytest.fixture
def zuul_api() -> Iterator[ZuulApi]:
    served = ZuulApi()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            if url.path == TENANT + "/builds":
                query = dict(urllib.parse.parse_qsl(url.query))
                served.queries.append(query)
                found = [
                    b
                    for b in served.builds
                    if str(b["change"]) == query.get("change")
                    and b["patchset"] == query.get("patchset")
                    and b["pipeline"] == query.get("pipeline")
                    and b["job_name"] == query.get("job_name")
                ]
                return self.answer(json.dumps(found).encode(), "application/json")
            parts = url.path.split("/")  # /logs/<uuid>/<file>
            if len(parts) == 4 and parts[1] == "logs" and parts[2] in served.logs:
                path = served.logs[parts[2]] / parts[3]
                if path.is_file():
                    served.downloads.append(parts[3])
                    return self.answer(path.read_bytes(), "application/octet-stream")
            self.send_response(404)
            self.end_headers()

        def answer(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def gate_plan(zuul_job: Callable[..., ZuulJob], synapse: SynapseServer, observer: Account) -> ZuulJob:
    """The change's gate build of the plan job, read with the observer: the plan the reviewers saw."""
    job = zuul_job(
        "roomsync-plan", secrets={"roomsync_observer": {"access_token": observer.token, "homeserver": synapse.url}}
    )
    job.variables["zuul"].update(change=CHANGE, patchset=PATCHSET, pipeline="gate")
    for phase in ("run", "post"):
        run = job.run(phase)
        assert run.code == 0, run
    return job


def reviewed_sync(
    zuul_job: Callable[..., ZuulJob], synapse: SynapseServer, provisioner: Account, api: ZuulApi
) -> ZuulJob:
    """The promote build of the rooms repo's child of roomsync-sync-reviewed, for the same change."""
    job = zuul_job(
        "roomsync-sync-reviewed",
        secrets={"roomsync_admin": {"access_token": provisioner.token, "homeserver": synapse.url}},
        roomsync_zuul_api=api.api,
        roomsync_reviewed_plan_job=PLAN_JOB,
        roomsync_reviewed_plan_pipeline="gate",  # the job's vars
        roomsync_sync_time_budget="50m",
    )
    job.variables["zuul"].update(change=CHANGE, patchset=PATCHSET, pipeline="promote")
    return job


def downloaded(job: ZuulJob) -> list[str]:
    directory = job.node.home / "roomsync-reviewed-plan"  # download-roomsync-plan's default
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


def assert_tokens_absent(job: ZuulJob, *tokens: str) -> None:
    job.secrets.extend(tokens)
    job.assert_no_secret_leaked()
    for path in (job.node.home / "roomsync-reviewed-plan").glob("*"):
        assert not any(t in path.read_text() for t in tokens), path


def test_reviewed_sync_applies_the_plan_of_the_changes_gate_build(
    synapse,
    provisioner,
    make_user,
    prefix,
    node,
    zuul_job,
    zuul_api,
):
    observer = make_user("observer")
    write_config(node.rooms, SERVER, rooms_for(prefix), account=ACCOUNT)
    plan = gate_plan(zuul_job, synapse, observer)
    types = {a["url"]: a["metadata"]["type"] for a in plan.returned["zuul"]["artifacts"]}
    assert types == {"plan.json": "roomsync_saved_plan", "plan.txt": "roomsync_plan", "plan.md": "roomsync_plan"}
    zuul_api.add_build(plan)

    job = reviewed_sync(zuul_job, synapse, provisioner, zuul_api)
    run = job.run("run")
    assert run.code == 0, run
    assert zuul_api.queries == [
        {"change": CHANGE, "patchset": PATCHSET, "pipeline": "gate", "job_name": PLAN_JOB}
    ]  # this change and patchset, the plan job's gate build
    assert zuul_api.downloads == ["plan.json"] and downloaded(job) == ["plan.json"]  # the saved plan only
    assert "Sync: 2 created" in run.out, run
    for room in rooms_for(prefix):
        assert resolve(synapse, f"#{room['alias']}:{SERVER}"), room
    converged = roomsync(node.rooms, "plan", "--detailed-exitcode", url=synapse.url, token=provisioner.token)
    assert converged.code == 0, converged.out + converged.err
    assert_tokens_absent(job, observer.token)
    assert_tokens_absent(plan, provisioner.token)

    # Promote run again (a re-enqueue): every change is made already, nothing else moved.
    again = reviewed_sync(zuul_job, synapse, provisioner, zuul_api)
    run = again.run("run")
    assert run.code == 0, run
    assert "made already" in run.out, run


def test_reviewed_sync_refuses_a_stale_plan_and_sends_nothing(
    synapse,
    provisioner,
    make_user,
    prefix,
    node,
    zuul_job,
    zuul_api,
):
    observer = make_user("observer")
    zuul_id = observed_config(synapse, provisioner, observer, prefix, node.rooms)[f"{prefix}-zuul"]
    rooms = rooms_for(prefix)

    # The reviewed change: a new topic and name for #zuul.
    rooms[0].update(topic="Project gating, reviewed", name="Zuul CI")
    write_config(node.rooms, SERVER, rooms, account=ACCOUNT)
    zuul_api.add_build(gate_plan(zuul_job, synapse, observer))
    # After the review, someone changes the topic by hand.
    put_state(synapse, provisioner.token, zuul_id, "m.room.topic", {"topic": "changed by hand"})

    job = reviewed_sync(zuul_job, synapse, provisioner, zuul_api)
    run = job.run("run")
    assert run.code != 0, run
    assert "the plan is stale: run plan again" in run.out and "nothing was sent" in run.out, run
    assert "exited 1" in run.out and "a saved plan that is stale" in run.out, run
    assert f"#{prefix}-zuul:{SERVER} topic" in run.out, run  # which room and field moved
    now = state(synapse, provisioner.token, zuul_id)
    assert now[("m.room.topic", "")]["topic"] == "changed by hand"
    assert now[("m.room.name", "")]["name"] == "Zuul"  # the reviewed name change was not sent either
    assert_tokens_absent(job, observer.token)


@pytest.mark.parametrize("gate_build", ["none", "without a saved plan"])
def test_reviewed_sync_without_a_saved_plan_fails_and_never_plans_again(
    gate_build,
    synapse,
    provisioner,
    make_user,
    prefix,
    node,
    zuul_job,
    zuul_api,
):
    write_config(node.rooms, SERVER, rooms_for(prefix), account=ACCOUNT)
    if gate_build == "without a saved plan":
        observer = make_user("observer")
        plan = gate_plan(zuul_job, synapse, observer)
        (plan.log_root / "plan.json").unlink()  # e.g. returned by a roomsync that saved no plan
        returned = plan.returned["zuul"]["artifacts"]
        plan.output_file.write_text(
            json.dumps({"data": {"zuul": {"artifacts": [a for a in returned if a["url"] != "plan.json"]}}})
        )
        zuul_api.add_build(plan)
    job = reviewed_sync(zuul_job, synapse, provisioner, zuul_api)
    run = job.run("run")
    assert run.code != 0, run
    assert "No reviewed plan to apply" in run.out, run
    assert f"example-rooms-plan for change {CHANGE}, patchset {PATCHSET}" in run.out, run
    if gate_build == "none":
        assert f"{zuul_api.api} has no gate build of" in run.out, run
    assert "roomsync sync" not in run.out.replace("roomsync sync --plan", ""), run  # roomsync never ran
    assert zuul_api.downloads == [] and downloaded(job) == []
    for room in rooms_for(prefix):
        assert resolve(synapse, f"#{room['alias']}:{SERVER}") is None
    assert_tokens_absent(job)


def test_a_plan_read_by_the_observer_is_applied_by_the_provisioning_account_with_its_bots(
    synapse, provisioner, make_user, prefix, node, zuul_job, zuul_api
):
    # As the example rooms repo runs: the observer is a bot of every room (token_env), the gate
    # plan reads with its token, and the promote sync passes it so that it joins new rooms.
    observer = make_user("observer")
    ids = observed_config(synapse, provisioner, observer, prefix, node.rooms)
    bot = {"name": "observer", "user": observer.user_id, "rooms": ["*"], "power_level": 0}
    write_bots(node.rooms, [{**bot, "token_env": "ROOMSYNC_OBSERVER_TOKEN"}])
    rooms = rooms_for(prefix)
    rooms[0]["topic"] = "Project gating, now on Matrix"
    rooms.append({"alias": f"{prefix}-new", "name": "New"})
    write_config(node.rooms, SERVER, rooms, account=ACCOUNT)
    zuul_api.add_build(gate_plan(zuul_job, synapse, observer))

    job = reviewed_sync(zuul_job, synapse, provisioner, zuul_api)
    job.variables["roomsync_observer"] = {"access_token": observer.token, "homeserver": synapse.url}
    job.secrets.append(observer.token)
    run = job.run("run")
    assert run.code == 0, run
    new = resolve(synapse, f"#{prefix}-new:{SERVER}")
    assert new and new in joined_rooms(synapse, observer.token)  # joined by the sync, as the bot
    assert state(synapse, provisioner.token, ids[f"{prefix}-zuul"])[("m.room.topic", "")]["topic"] == (
        "Project gating, now on Matrix"
    )
    converged = roomsync(node.rooms, "plan", "--detailed-exitcode", url=synapse.url, token=provisioner.token)
    assert converged.code == 0, converged.out + converged.err
