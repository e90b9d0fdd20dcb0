"""The Zuul jobs' playbooks, run with ansible-playbook against the real test Synapse.

Each playbook runs the way a Zuul executor runs it for a rooms repo that uses roomsync's
jobs: its own ansible-playbook process, the job's variables (zuul.*, and the rooms repo's
secrets, which its child job passes to roomsync's playbooks) as extra vars from a JSON file,
roomsync's roles/ on the roles path, and a stand-in `zuul_return`
(tests/ansible/action_plugins) that writes to ZUUL_JOB_OUTPUT_FILE. The node is localhost
(-c local) with its own home directory, where two source trees lie as Zuul's workspace
preparation leaves them: the rooms repo (`zuul.project`) and roomsync's repository (a
required project, in `zuul.projects`; a git repository whose commit is tagged 0.1.0, so it
builds as that release). zuul-jobs' roles the jobs use come from tests/ansible/roles,
stand-ins with the same variables. Most tests set `roomsync_command` so that nothing is
pip-installed; test_pre_run_installs_roomsync_from_the_required_project installs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.helpers import alive, joined_rooms, put_state, resolve, roomsync, state, write_config
from tests.synapse import q

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
SERVER = "opendev.org"
ACCOUNT = "@roomsync:opendev.org"
CLIENT = "/_matrix/client/v3"
PLAN_FILES = ("plan.txt", "plan.json", "plan.md")


def project(name: str) -> dict[str, str]:
    """A project as zuul.project / zuul.projects describe it; src_dir is relative to the home directory."""
    return {
        "name": name,
        "short_name": name.rsplit("/", 1)[-1],
        "canonical_hostname": "opendev.org",
        "canonical_name": f"opendev.org/{name}",
        "src_dir": f"src/opendev.org/{name}",
    }


ROOMS_PROJECT = project("example/rooms")  # the community's rooms repo: the change under test
ROOMSYNC_PROJECT = project("opendev/roomsync")  # roomsync's repository: a required project
ROOMSYNC_TREE = ("pyproject.toml", "README.md", "roomsync", "schema")  # what pip needs of it
ROOMSYNC_TAG = "0.1.0"  # the tag on roomsync's checkout: the version it builds as
# roomsync's roles, then the stand-ins for zuul-jobs' roles (upload-pypi)
ROLES_PATH = os.pathsep.join(str(REPO / d) for d in ("roles", "tests/ansible/roles"))
GIT_ENV = {  # commits that do not depend on the machine's git configuration
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Zuul Test",
    "GIT_AUTHOR_EMAIL": "zuul@example.org",
    "GIT_COMMITTER_NAME": "Zuul Test",
    "GIT_COMMITTER_EMAIL": "zuul@example.org",
}
PIPELINES = {
    "roomsync-validate": "check",
    "roomsync-plan": "gate",
    "roomsync-sync": "post",
    "roomsync-drift": "periodic",
}


@dataclass
class Node:
    """The node's home directory, with the job's git trees under src/ as Zuul lays them out."""

    home: Path

    @property
    def rooms(self) -> Path:
        return self.home / ROOMS_PROJECT["src_dir"]

    @property
    def roomsync(self) -> Path:
        return self.home / ROOMSYNC_PROJECT["src_dir"]


@dataclass(repr=False)
class Run:
    playbook: str
    code: int
    out: str
    err: str

    def __repr__(self) -> str:
        return f"{self.playbook}: exit {self.code}\n--- stdout ---\n{self.out}\n--- stderr ---\n{self.err}"


@dataclass
class ZuulJob:
    """One build of a job: its work dir, log root, variables and the playbooks run so far."""

    name: str
    root: Path
    node: Node
    variables: dict[str, Any]
    secrets: list[str] = field(default_factory=list)  # values that must never show up
    runs: list[Run] = field(default_factory=list)
    facts: Path | None = None  # the fact cache, as the executor keeps one: facts gathered once

    @property
    def log_root(self) -> Path:
        return self.root / "work" / "logs"

    @property
    def output_file(self) -> Path:
        return self.root / "work" / "results.json"

    def run(self, phase: str, job: str | None = None) -> Run:
        """Run playbooks/<job>/<phase>.yaml as the executor would (-v, like Zuul's console log)."""
        playbook = REPO / "playbooks" / (job or self.name) / f"{phase}.yaml"
        vars_file = self.root / "vars.json"  # the executor's own file: not in the logs
        vars_file.write_text(json.dumps(self.variables))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ROOMSYNC_", "ANSIBLE_"))}
        env.update(
            ANSIBLE_ROLES_PATH=ROLES_PATH,
            ANSIBLE_ACTION_PLUGINS=str(REPO / "tests" / "ansible" / "action_plugins"),
            ANSIBLE_LOCAL_TEMP=str(self.root / "ansible-tmp"),
            ANSIBLE_REMOTE_TEMP=str(self.root / "ansible-remote-tmp"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_RETRY_FILES_ENABLED="0",
            ANSIBLE_GATHER_SUBSET="min",
            # Zuul's executor: gathering = smart, with a jsonfile fact cache, so a job's later
            # playbooks do not gather the node's facts again (here the node is this machine
            # for every test: one cache a worker).
            **(
                {
                    "ANSIBLE_GATHERING": "smart",
                    "ANSIBLE_CACHE_PLUGIN": "jsonfile",
                    "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(self.facts),
                }
                if self.facts
                else {}
            ),
            ZUUL_JOB_OUTPUT_FILE=str(self.output_file),
        )
        proc = subprocess.run(
            [str(ANSIBLE_PLAYBOOK), "-v", "-i", "localhost,", "-c", "local", "-e", f"@{vars_file}", str(playbook)],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        result = Run(f"{job or self.name}/{phase}.yaml", proc.returncode, proc.stdout, proc.stderr)
        self.runs.append(result)
        self.assert_no_secret_leaked()
        return result

    def assert_no_secret_leaked(self) -> None:
        written = [self.output_file, *self.log_root.rglob("*"), *(self.node.home / "roomsync-plan").glob("*")]
        for secret in self.secrets:
            for run in self.runs:
                assert secret not in run.out and secret not in run.err, f"a token is in the output of {run.playbook}"
            for path in written:
                if path.is_file():
                    assert secret not in path.read_text(errors="replace"), f"a token is in {path}"

    @property
    def returned(self) -> dict:
        return json.loads(self.output_file.read_text())["data"] if self.output_file.exists() else {}


@pytest.fixture
def node(tmp_path: Path) -> Node:
    """The node: an empty rooms repo checkout (tests write the config into it) and roomsync's tree."""
    laid = Node(tmp_path / "node-home")
    laid.rooms.mkdir(parents=True)
    laid.roomsync.mkdir(parents=True)
    for name in ROOMSYNC_TREE:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, laid.roomsync / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, laid.roomsync / name)
    git(laid.roomsync, "init", "-q")
    commit(laid.roomsync, "roomsync as Zuul checks it out", tag=ROOMSYNC_TAG)
    return laid


def git(tree: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=tree, env={**os.environ, **GIT_ENV}, check=True, capture_output=True, text=True, timeout=60
    ).stdout.strip()


def commit(tree: Path, message: str, tag: str | None = None) -> str:
    """Commit everything in tree, tag the commit (an annotated tag, as a release's) if asked; the commit's id."""
    git(tree, "add", "-A")
    git(tree, "commit", "-q", "--allow-empty", "-m", message)
    if tag:
        git(tree, "tag", "-a", tag, "-m", f"roomsync {tag}")
    return git(tree, "rev-parse", "HEAD")


@pytest.fixture
def zuul_job(tmp_path: Path, node: Node, fact_cache: Path):
    """Factory: zuul_job(name, secrets=..., install=False, **job_vars) -> a ZuulJob as the executor sets it up.

    `secrets` are the rooms repo's secrets as its child job passes them (variable name -> data);
    without `install`, roomsync_command points at the test's own roomsync and nothing is installed.
    """

    def make(name: str, secrets: dict[str, dict] | None = None, install: bool = False, **job_vars: Any) -> ZuulJob:
        root = tmp_path / f"build-{name}-{len(list(tmp_path.glob('build-*')))}"
        (root / "work" / "logs").mkdir(parents=True)
        variables = {
            "zuul": {
                "job": name,
                "pipeline": PIPELINES.get(name, "check"),
                "project": ROOMS_PROJECT,
                "projects": {
                    ROOMS_PROJECT["canonical_name"]: {**ROOMS_PROJECT, "required": False},
                    ROOMSYNC_PROJECT["canonical_name"]: {**ROOMSYNC_PROJECT, "required": True},
                },
                "executor": {
                    "log_root": str(root / "work" / "logs"),
                    "work_root": str(root / "work"),
                    "src_root": str(root / "work" / "src"),
                },
            },
            "ansible_user_dir": str(node.home),  # the node's home: src/, the venv, the plan files
            "ansible_python_interpreter": sys.executable,
            **({} if install else {"roomsync_command": f"{sys.executable} -m roomsync"}),
            **(secrets or {}),
            **job_vars,
        }
        tokens = [s["access_token"] for s in (secrets or {}).values() if s.get("access_token")]
        return ZuulJob(name, root, node, variables, tokens, facts=fact_cache)

    return make


def write_bots(directory: Path, bots: list[dict]) -> None:
    (directory / "bots.yaml").write_text(yaml.safe_dump({"bots": bots}, sort_keys=False))


def join(synapse, token: str, room_id: str) -> None:
    status, answer = synapse.request("POST", f"{CLIENT}/join/{q(room_id)}", token, body={})
    assert status == 200, answer


def room_count(synapse, admin_token: str) -> int:
    status, answer = synapse.request("GET", "/_synapse/admin/v1/rooms", admin_token, query={"limit": 1})
    assert status == 200, answer
    return answer["total_rooms"]


def rooms_for(p: str) -> list[dict]:
    return [
        {"alias": f"{p}-zuul", "name": "Zuul", "topic": "Project gating", "join_rule": "public"},
        {"alias": f"{p}-ops", "name": "Ops", "join_rule": "invite", "directory": "private"},
    ]


def observed_config(synapse, provisioner, observer, p: str, config: Path) -> dict[str, str]:
    """A synced config whose rooms the observer (a bot with rooms ["*"], power 0) has joined."""
    write_config(config, SERVER, rooms_for(p), account=ACCOUNT)
    write_bots(config, [{"name": "observer", "user": observer.user_id, "rooms": ["*"], "power_level": 0}])
    synced = roomsync(config, "sync", url=synapse.url, token=provisioner.token)
    assert synced.code == 0, synced.out + synced.err
    ids = {r["alias"]: resolve(synapse, f"#{r['alias']}:{SERVER}") for r in rooms_for(p)}
    for room_id in ids.values():
        join(synapse, observer.token, room_id)  # it has no token_env: it joins by itself
    return ids


# --- validate -----------------------------------------------------------------------------------


def test_validate_job_on_the_example_rooms_repo(node, zuul_job):
    shutil.copytree(REPO / "examples" / "rooms-repo", node.rooms, dirs_exist_ok=True)
    job = zuul_job("roomsync-validate", roomsync_homeserver="http://127.0.0.1:9")  # nothing listens: offline
    run = job.run("run")  # pre.yaml (roomsync-base) runs in the plan and install tests
    assert run.code == 0, run
    assert "ok: 5 rooms, 2 bots for example.org" in run.out, run
    assert job.returned == {}  # no problem, no comment


BROKEN_ROOMS = """\
# The rooms of the Example community
rooms:
  - alias: Not A Valid Alias
    name: General
  - alias: ops
    alt_aliases: [ops]
"""


def test_validate_job_comments_on_the_lines_of_a_config_in_a_subdirectory_and_fails(node, zuul_job):
    config = node.rooms / "matrix"  # the rooms repo keeps its config in matrix/
    write_config(config, SERVER, [])
    (config / "rooms" / "rooms.yaml").write_text(BROKEN_ROOMS)
    (node.rooms / "README.md").write_text("The Example community's Matrix rooms live in matrix/.\n")
    job = zuul_job("roomsync-validate", roomsync_config_dir="matrix")
    run = job.run("run")
    assert run.code != 0, run
    assert "roomsync validate exited 1" in run.out, run
    # The console shows each problem as FILE:LINE:COLUMN: message, relative to the repo's root ...
    assert "matrix/rooms/rooms.yaml:3:12: alias 'Not A Valid Alias'" in run.out, run
    assert "matrix/rooms/rooms.yaml:6:19: alt alias 'ops' is the room's own alias" in run.out, run

    # ... and the same problems come back as comments on those lines of those files.
    comments = job.returned["zuul"]["file_comments"]
    assert list(comments) == ["matrix/rooms/rooms.yaml"]
    assert [c["line"] for c in comments["matrix/rooms/rooms.yaml"]] == [3, 6]
    lines = (node.rooms / "matrix/rooms/rooms.yaml").read_text().splitlines()
    first, second = comments["matrix/rooms/rooms.yaml"]
    assert "Not A Valid Alias" in lines[first["line"] - 1] and "'Not A Valid Alias'" in first["message"]
    assert "(column 12)" in first["message"] and first["message"].startswith("roomsync validate: ")
    assert "alt_aliases: [ops]" in lines[second["line"] - 1] and "(column 19)" in second["message"]


# --- installing roomsync -------------------------------------------------------------------------


DECOY_PYPROJECT = """\
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "roomsync"
version = "6.6.6"
"""


def venv_reusing_test_packages(venv: Path) -> None:
    """A virtualenv that sees this test run's packages (click, nio, ...), so pip --no-deps suffices."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    purelib = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    here = subprocess.run(
        [sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    (Path(purelib) / "roomsync_test_packages.pth").write_text(here + "\n")


def installed(venv: Path) -> dict[str, Any]:
    probe = (
        "import importlib.metadata as m, json, roomsync; d = m.distribution('roomsync'); "
        "print(json.dumps({'version': d.version, 'direct_url': d.read_text('direct_url.json'), "
        "'file': roomsync.__file__}))"
    )
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-I", "-c", probe], check=True, capture_output=True, text=True, timeout=60
    ).stdout  # -I: not this checkout from the working directory
    return json.loads(out)


def test_pre_run_installs_roomsync_from_the_required_project_not_from_the_change(node, zuul_job, tmp_path):
    # The change under test carries a package named roomsync of its own: it must never be installed.
    write_config(node.rooms, SERVER, rooms_for("decoy"), account=ACCOUNT)
    (node.rooms / "pyproject.toml").write_text(DECOY_PYPROJECT)
    (node.rooms / "roomsync").mkdir()
    (node.rooms / "roomsync" / "__init__.py").write_text("raise SystemExit('the change under test ran')\n")
    venv = node.home / ".roomsync-venv"  # ensure-roomsync's default; it reuses an existing virtualenv
    venv_reusing_test_packages(venv)

    # --no-build-isolation: the build backend (hatchling) is this run's, not installed again for each build.
    job = zuul_job(
        "roomsync-validate",
        install=True,
        roomsync_python=sys.executable,
        roomsync_pip_extra_args="--no-deps --no-build-isolation",
    )
    run = job.run("pre", "roomsync-base")
    assert run.code == 0, run
    got = installed(venv)
    assert got["version"] == ROOMSYNC_TAG == "0.1.0"
    assert Path(got["file"]).is_relative_to(venv)
    assert json.loads(got["direct_url"])["url"] == node.roomsync.as_uri()  # the required project's tree
    assert str(node.roomsync) in run.out and "the change under test" not in run.out, run

    # The job's later playbooks use it (roomsync_command is not set).
    run = job.run("run")
    assert run.code == 0, run
    assert f"ok: 2 rooms for {SERVER}" in run.out, run

    # roomsync_version installs that release from the package index instead (here a local one).
    index = tmp_path / "index"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(index),
            str(node.roomsync),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    pinned = zuul_job(
        "roomsync-validate",
        install=True,
        roomsync_python=sys.executable,
        roomsync_version="0.1.0",
        roomsync_pip_extra_args=f"--no-deps --force-reinstall --no-index --find-links {index}",
    )
    run = pinned.run("pre", "roomsync-base")
    assert run.code == 0, run
    got = installed(venv)
    assert got["version"] == "0.1.0" and got["direct_url"] is None  # from an index, not from a directory
    assert Path(got["file"]).is_relative_to(venv)
    assert "roomsync 0.1.0 from the package index" in run.out, run


def test_pre_run_fails_clearly_without_roomsync_among_the_projects(node, zuul_job):
    job = zuul_job("roomsync-validate", install=True, roomsync_project="someone/roomsync-fork")
    run = job.run("pre", "roomsync-base")
    assert run.code != 0, run
    assert "someone/roomsync-fork is not among this job's projects (example/rooms, opendev/roomsync)" in run.out, run
    assert not (node.home / ".roomsync-venv").exists()


# --- plan, sync, drift ---------------------------------------------------------------------------


def test_plan_job_reads_with_the_observer_changes_nothing_and_returns_the_plan(
    synapse, provisioner, make_user, prefix, node, zuul_job
):
    p, observer, config = prefix, make_user("observer"), node.rooms
    ids = observed_config(synapse, provisioner, observer, p, config)

    # The proposed change: a new topic and a new room.
    rooms = rooms_for(p)
    rooms[0]["topic"] = "Project gating, now on Matrix"
    rooms.append({"alias": f"{p}-new", "name": "New"})
    write_config(config, SERVER, rooms, account=ACCOUNT)
    before = (
        joined_rooms(synapse, provisioner.token),
        joined_rooms(synapse, observer.token),
        room_count(synapse, provisioner.token),
    )

    job = zuul_job(
        "roomsync-plan", secrets={"roomsync_observer": {"access_token": observer.token, "homeserver": synapse.url}}
    )
    for phase, playbook_job in (("pre", "roomsync-base"), ("run", None), ("post", None)):
        run = job.run(phase, playbook_job)
        assert run.code == 0, run  # pending changes do not fail the job

    # The three plan files are in the log root, as the observer read them for the account.
    assert sorted(f.name for f in job.log_root.iterdir()) == sorted(PLAN_FILES)
    text = (job.log_root / "plan.txt").read_text()
    assert f"acting as {ACCOUNT} (read by {observer.user_id})" in text
    assert f"#{p}-new:{SERVER}" in text and "Project gating, now on Matrix" in text
    planned = json.loads((job.log_root / "plan.json").read_text())
    assert planned["account"] == ACCOUNT and planned["read_by"] == observer.user_id
    assert planned["summary"]["create"] == 1 and planned["summary"]["change"] == 1
    assert planned["summary"]["errors"] == 0
    assert f"{p}-new" in (job.log_root / "plan.md").read_text()
    assert "Project gating, now on Matrix" in job.runs[1].out  # the plan is in the console log

    # ... and returned as artifacts, relative to the log root.
    artifacts = job.returned["zuul"]["artifacts"]
    assert sorted(a["url"] for a in artifacts) == sorted(PLAN_FILES)
    assert all(a["name"] for a in artifacts)

    # Nothing changed on the homeserver.
    after = (
        joined_rooms(synapse, provisioner.token),
        joined_rooms(synapse, observer.token),
        room_count(synapse, provisioner.token),
    )
    assert after == before
    assert resolve(synapse, f"#{p}-new:{SERVER}") is None
    assert state(synapse, provisioner.token, ids[f"{p}-zuul"])[("m.room.topic", "")]["topic"] == "Project gating"


def test_plan_job_fails_on_an_invalid_config_and_returns_nothing(make_user, synapse, node, zuul_job):
    write_config(node.rooms, SERVER, [{"alias": "Not A Valid Alias"}], account=ACCOUNT)
    observer = make_user("observer")
    job = zuul_job(
        "roomsync-plan",
        secrets={"roomsync_observer": {"access_token": observer.token}},
        roomsync_homeserver=synapse.url,
    )
    run = job.run("run")
    assert run.code != 0, run
    assert "exited 1" in run.out and "rooms/rooms.yaml" in run.out, run
    assert job.run("post").code == 0  # post-run still works, and has nothing to return
    assert list(job.log_root.iterdir()) == [] and job.returned == {}


def test_plan_job_without_the_secret_says_which_one_is_missing(node, zuul_job):
    write_config(node.rooms, SERVER, rooms_for("nosecret"), account=ACCOUNT)
    job = zuul_job("roomsync-plan", roomsync_homeserver="http://127.0.0.1:9")  # a child job that passed nothing
    run = job.run("run")
    assert run.code != 0, run
    assert "roomsync plan needs a token, and roomsync_observer has none" in run.out, run
    assert "pass-to-parent: true" in run.out, run


def test_sync_job_converges_and_joins_the_observer(synapse, provisioner, make_user, prefix, node, zuul_job):
    p, observer = prefix, make_user("observer")
    config = write_config(node.rooms, SERVER, rooms_for(p), account=ACCOUNT)
    write_bots(
        config,
        [
            {
                "name": "observer",
                "user": observer.user_id,
                "rooms": ["*"],
                "power_level": 0,
                "token_env": "ROOMSYNC_OBSERVER_TOKEN",
            }
        ],
    )
    job = zuul_job(
        "roomsync-sync",
        roomsync_homeserver=synapse.url,
        secrets={
            "roomsync_admin": {"access_token": provisioner.token},
            "roomsync_observer": {"access_token": observer.token},
        },
    )
    run = job.run("run")  # pre.yaml (roomsync-base) runs in the plan test
    assert run.code == 0, run
    assert "Sync: 2 created" in run.out, run

    converged = roomsync(config, "plan", "--detailed-exitcode", url=synapse.url, token=provisioner.token)
    assert converged.code == 0, converged.out + converged.err
    ids = {resolve(synapse, f"#{r['alias']}:{SERVER}") for r in rooms_for(p)}
    assert None not in ids and ids <= joined_rooms(synapse, observer.token)  # joined by the sync, as the bot


def test_sync_job_refuses_a_token_that_is_not_the_accounts(synapse, make_user, prefix, node, zuul_job):
    intruder = make_user("observer")
    write_config(node.rooms, SERVER, rooms_for(prefix), account=ACCOUNT)
    job = zuul_job(
        "roomsync-sync", roomsync_homeserver=synapse.url, secrets={"roomsync_admin": {"access_token": intruder.token}}
    )
    run = job.run("run")
    assert run.code != 0, run
    assert f"the token belongs to {intruder.user_id}" in run.out, run
    assert resolve(synapse, f"#{prefix}-zuul:{SERVER}") is None


def test_drift_job_fails_on_drift_and_passes_without(synapse, provisioner, make_user, prefix, node, zuul_job):
    p, observer, config = prefix, make_user("observer"), node.rooms
    ids = observed_config(synapse, provisioner, observer, p, config)
    secrets = {"roomsync_observer": {"access_token": observer.token, "homeserver": synapse.url}}

    in_sync = zuul_job("roomsync-drift", secrets=secrets)
    run = in_sync.run("run")
    assert run.code == 0, run
    node_plan = node.home / "roomsync-plan" / "plan.json"  # post.yaml is tested below
    assert json.loads(node_plan.read_text())["summary"]["has_changes"] is False

    put_state(synapse, provisioner.token, ids[f"{p}-zuul"], "m.room.topic", {"topic": "changed by hand"})
    drifted = zuul_job("roomsync-drift", secrets=secrets)
    run = drifted.run("run")
    assert run.code != 0, run
    assert "exited 2" in run.out and "changed by hand" in run.out, run  # the plan is in the console log
    assert drifted.run("post").code == 0  # the drift plan is still collected and returned
    assert sorted(a["url"] for a in drifted.returned["zuul"]["artifacts"]) == sorted(PLAN_FILES)
    assert json.loads((drifted.log_root / "plan.json").read_text())["summary"]["has_changes"] is True


# --- roomsync-bot-functional: a bot's repository inherits it -------------------------------------

# The stand-in for a bot's functional test: it knows nothing of roomsync, only the environment
# the job gives it. gerritbot (bots.yaml, no token_env) posts into #zuul and reads it back.
STAND_IN_BOT_TEST = """\
import json, os, sys, urllib.parse, urllib.request

base, token = os.environ["ROOMSYNC_HOMESERVER"], os.environ["ROOMSYNC_BOT_GERRITBOT_TOKEN"]


def call(method, path, body=None):
    request = urllib.request.Request(base + "/_matrix/client/v3" + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


room = call("GET", "/directory/room/" + urllib.parse.quote("#zuul:opendev.org", safe=""))["room_id"]
path = "/rooms/" + urllib.parse.quote(room, safe="")
sent = call("PUT", path + "/send/m.room.message/stand-in-1", {"msgtype": "m.notice", "body": sys.argv[1]})
back = call("GET", path + "/event/" + urllib.parse.quote(sent["event_id"], safe=""))
assert back["content"]["body"] == sys.argv[1], back
print("posted", sent["event_id"], "into", room)
"""


def test_bot_functional_job_runs_the_bots_test_against_roomsync_local(tmp_path, node, zuul_job):
    # The project under test (zuul.project) is the bot's repository, holding its own test.
    (node.rooms / "functional_test.py").write_text(STAND_IN_BOT_TEST)
    spot = tmp_path / "spot"
    message = "Change 4242 merged: add the stand-in bot test"
    job = zuul_job(
        "roomsync-bot-functional",
        roomsync_config_dir=str(REPO),  # this repository's own rooms, as the job's default
        roomsync_bot_test_command=f"{sys.executable} functional_test.py '{message}'",
        roomsync_local_env_file=str(spot / "roomsync-local.env"),
        roomsync_local_log=str(spot / "roomsync-local.log"),
        roomsync_local_pid_file=str(spot / "roomsync-local.pid"),
    )
    spot.mkdir()
    try:
        pre = job.run("pre")
        assert pre.code == 0, pre
        env = dict(line.split("=", 1) for line in (spot / "roomsync-local.env").read_text().splitlines())
        job.secrets += [v for k, v in env.items() if k != "ROOMSYNC_HOMESERVER"]
        job.assert_no_secret_leaked()
        assert re.search(r"Sync: \d+ created", pre.out) and "Ready: http://127.0.0.1:" in pre.out, pre  # its output
        pid = int((spot / "roomsync-local.pid").read_text())
        assert alive(pid)  # it outlives the playbook that started it

        run = job.run("run")
        assert run.code == 0, run
        assert "posted $" in run.out, run

        # The message is in #zuul, sent by gerritbot: read back with the test's own client.
        status, answer = _get(env, "/directory/room/" + q("#zuul:opendev.org"))
        assert status == 200, answer
        status, answer = _get(env, f"/rooms/{q(answer['room_id'])}/messages", query={"dir": "b", "limit": 20})
        assert status == 200, answer
        assert any(
            e["sender"] == "@gerrit:opendev.org" and e.get("content", {}).get("body") == message
            for e in answer["chunk"]
        ), answer
    finally:
        post = job.run("post")
    assert post.code == 0, post
    assert not alive(pid)
    assert not (spot / "roomsync-local.env").exists() and not (spot / "roomsync-local.pid").exists()
    with pytest.raises(OSError):  # nothing listens on the homeserver's port any more
        socket.create_connection(("127.0.0.1", int(env["ROOMSYNC_HOMESERVER"].rsplit(":", 1)[1])), timeout=5).close()
    log = (job.log_root / "roomsync-local.log").read_text()  # kept in the job's logs (no token: checked)
    assert "Stopped: Synapse is down, its data removed." in log
    data_dir = re.search(r"data in (\S+),", log).group(1)
    assert not Path(data_dir).exists()
    job.assert_no_secret_leaked()


def test_bot_functional_job_fails_at_once_when_roomsync_local_cannot_start(tmp_path, zuul_job):
    config = write_config(tmp_path / "config", SERVER, [{"alias": "Not A Valid Alias"}], account=ACCOUNT)
    spot = tmp_path / "spot"
    spot.mkdir()
    job = zuul_job(
        "roomsync-bot-functional",
        roomsync_config_dir=str(config),
        roomsync_bot_test_command="true",
        roomsync_local_timeout=600,
        roomsync_local_env_file=str(spot / "env"),
        roomsync_local_log=str(spot / "log"),
        roomsync_local_pid_file=str(spot / "pid"),
    )
    pre = job.run("pre")
    assert pre.code != 0, pre
    assert "exited before it was ready" in pre.out and "rooms.yaml:" in pre.out, pre
    assert job.run("post").code == 0
    assert (job.log_root / "roomsync-local.log").exists()


def _get(env: dict[str, str], path: str, query: dict | None = None) -> tuple[int, Any]:
    url = env["ROOMSYNC_HOMESERVER"] + CLIENT + path + ("?" + urllib.parse.urlencode(query) if query else "")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {env['ROOMSYNC_BOT_GERRITBOT_TOKEN']}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")
