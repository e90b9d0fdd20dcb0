""".zuul.yaml, examples/rooms-repo/.zuul.yaml, playbooks/ and roles/: structure and the rules
that keep the tokens safe.

roomsync's .zuul.yaml defines the jobs any rooms repo uses, and uses them itself for its own
rooms/; the example rooms repo uses them the same way. Both files are read as one tenant, both
projects untrusted, with Zuul's rules about secrets applied. No server: the playbooks themselves
run against Synapse in tests/integration/test_zuul_jobs.py.
"""

from __future__ import annotations

import base64
import binascii
import configparser
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from roomsync.cli.reconcile import Duration

REPO = Path(__file__).resolve().parents[2]
ROOMSYNC, EXAMPLE = "roomsync", "example"
ZUUL_FILES = {ROOMSYNC: REPO / ".zuul.yaml", EXAMPLE: REPO / "examples" / "rooms-repo" / ".zuul.yaml"}
REUSABLE = ("roomsync-validate", "roomsync-plan", "roomsync-sync", "roomsync-sync-reviewed", "roomsync-drift")
SECRET_VARIABLES = {
    "roomsync-plan": {"roomsync_observer"},
    "roomsync-drift": {"roomsync_observer"},
    "roomsync-sync": {"roomsync_admin", "roomsync_observer"},
    "roomsync-sync-reviewed": {"roomsync_admin", "roomsync_observer"},
}
# The jobs that get the admin token, and the one pipeline each runs in: post (after merge) for
# the sync that plans again, promote (after merge, with the gate build's artifacts) for the one
# that applies the reviewed plan.
SYNC_PIPELINES = {"roomsync-sync": "post", "roomsync-sync-reviewed": "promote"}
PIPELINES = {  # each project's jobs, and exactly the pipelines each runs in
    ROOMSYNC: {
        "roomsync-validate": {"check", "gate"},
        "roomsync-test": {"check", "gate"},
        "roomsync-rooms-plan": {"gate"},
        "roomsync-rooms-sync": {"post"},
        "roomsync-rooms-drift": {"periodic"},
        "roomsync-docs": {"post"},
        "roomsync-build-docs": {"check", "gate"},
        "roomsync-release": {"release"},
    },
    EXAMPLE: {
        "roomsync-validate": {"check", "gate"},
        "example-rooms-plan": {"gate"},
        "example-rooms-sync-reviewed": {"promote"},
        "example-rooms-drift": {"periodic"},
        "roomsync-docs": {"post"},
    },
}
# check runs changes nobody has reviewed; gate is post-review (as in OpenDev and Zuul's quick-start).
PRE_REVIEW = {"check"}
# Anything that names a token, or a variable holding one: a task mentioning it needs no_log.
TOKEN = re.compile(
    r"access_token|ROOMSYNC_ACCESS_TOKEN|\b(roomsync_admin|roomsync_observer|roomsync_credentials"
    r"|roomsync_bot_tokens|pypi_info)\b"
)
# The release: its job, its secret, and the variable zuul-jobs' upload-pypi role reads it from.
RELEASE_JOB, RELEASE_SECRET, RELEASE_VARIABLE = "roomsync-release", "roomsync-pypi", "pypi_info"
# Roles the jobs take from zuul-jobs (the tests use stand-ins from tests/ansible/roles), and the jobs
# that use them.
ZUUL_JOBS, ZUUL_JOBS_ROLES = "zuul/zuul-jobs", {"upload-pypi", "download-artifact"}
ZUUL_JOBS_USERS = {RELEASE_JOB, "roomsync-sync-reviewed"}
# Each secret's encrypted field, and the fields it may have in clear text.
SECRET_FIELDS = {"access_token": {"homeserver"}, "password": {"username"}}
# Keys of a task that are not the task itself.
BLOCK_KEYS = ("block", "rescue", "always")


class Encrypted(list):
    """A `!encrypted/pkcs1-oaep` value: its ciphertext chunks."""


class ZuulLoader(yaml.SafeLoader):
    pass


def _encrypted(loader: yaml.Loader, node: yaml.Node) -> Encrypted:
    if isinstance(node, yaml.SequenceNode):
        return Encrypted(loader.construct_sequence(node))
    return Encrypted([loader.construct_scalar(node)])


ZuulLoader.add_constructor("!encrypted/pkcs1-oaep", _encrypted)


def load(source: str) -> dict[str, Any]:
    items = yaml.load(ZUUL_FILES[source].read_text(), Loader=ZuulLoader)
    assert isinstance(items, list)
    config: dict[str, Any] = {"job": {}, "secret": {}, "semaphore": {}, "project": []}
    for item in items:
        ((kind, body),) = item.items()
        if kind == "project":
            config["project"].append(body)
        else:
            assert body["name"] not in config[kind], f"{kind} {body['name']} defined twice"
            config[kind][body["name"]] = {**body, "_source": source}
    assert len(config["project"]) == 1
    return config


@pytest.fixture(scope="module")
def tenant() -> dict[str, Any]:
    """Both files as one tenant: job, secret and semaphore names are unique across it."""
    files = {source: load(source) for source in ZUUL_FILES}
    merged: dict[str, Any] = {"job": {}, "secret": {}, "semaphore": {}, "project": {}}
    for source, config in files.items():
        for kind in ("job", "secret", "semaphore"):
            for name, body in config[kind].items():
                assert name not in merged[kind], f"{kind} {name} is defined in two projects"
                merged[kind][name] = body
        merged["project"][source] = config["project"][0]
    return merged


def as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def ancestry(tenant: dict, name: str) -> list[dict]:
    """The job and its parents defined in the tenant (base ends the chain)."""
    chain = []
    while name in tenant["job"]:
        chain.append(tenant["job"][name])
        name = tenant["job"][name].get("parent", "base")
    return chain


def secret_uses(job: dict) -> list[dict]:
    return [{"name": s, "secret": s} if isinstance(s, str) else s for s in as_list(job.get("secrets"))]


def secrets_of(job: dict) -> set[str]:
    return {s["secret"] for s in secret_uses(job)}


def pipeline_jobs(tenant: dict, source: str) -> dict[str, list[dict]]:
    """pipeline -> the job entries (normalised to dicts with a name) the project runs there."""
    out = {}
    for pipeline, body in tenant["project"][source].items():
        if isinstance(body, dict) and "jobs" in body:
            out[pipeline] = [
                {"name": j} if isinstance(j, str) else {"name": next(iter(j)), **(next(iter(j.values())) or {})}
                for j in body["jobs"]
            ]
    return out


def effective_secrets(tenant: dict, entry: dict) -> set[str]:
    found = secrets_of(entry)
    for job in ancestry(tenant, entry["name"]):
        found |= secrets_of(job)
    return found


def post_review(tenant: dict, entry: dict) -> bool:
    """Zuul's rule: post-review once set anywhere in the chain, and set on every job of an
    untrusted project that uses a secret (both projects here are untrusted)."""
    return any(j.get("post-review") or j.get("secrets") for j in [entry, *ancestry(tenant, entry["name"])])


# --- the jobs and where they run ------------------------------------------------------------------


@pytest.mark.parametrize("source", sorted(ZUUL_FILES))
def test_every_job_runs_in_exactly_its_pipelines(tenant, source):
    where: dict[str, set[str]] = {}
    for pipeline, entries in pipeline_jobs(tenant, source).items():
        for entry in entries:
            where.setdefault(entry["name"], set()).add(pipeline)
    for job, pipelines in PIPELINES[source].items():
        assert job in tenant["job"], f"job {job} is not defined"
        assert where.get(job) == pipelines, f"{source}: {job} runs in {where.get(job)}, expected {pipelines}"
    assert set(where) == set(PIPELINES[source])
    for name, job in tenant["job"].items():
        if job["_source"] == source:
            assert name in where or job.get("abstract"), f"job {name} is defined but runs nowhere"
            assert name not in where or not job.get("abstract"), f"Zuul does not run the abstract job {name}"


def playbooks_of(job: dict) -> list[str]:
    return [p for key in ("pre-run", "run", "post-run", "cleanup-run") for p in as_list(job.get(key))]


def test_every_playbook_exists_in_zuul_jobs_layout(tenant):
    for name, job in tenant["job"].items():
        if job["_source"] != ROOMSYNC:
            assert not playbooks_of(job), f"{name}: a rooms repo's job runs roomsync's playbooks, not its own"
            continue
        for playbook in playbooks_of(job):
            path = REPO / playbook
            assert path.is_file(), f"{name}: {playbook} does not exist"
            assert re.fullmatch(rf"playbooks/{re.escape(name)}/(pre|run|post)\.yaml", playbook), playbook
        parent = job.get("parent", "base")
        assert parent == "base" or parent in tenant["job"], f"{name}: parent {parent} is not defined"
    assert any(playbooks_of(j) for j in ancestry(tenant, "roomsync-test"))
    assert "./scripts/test" in (REPO / "playbooks/roomsync-test/run.yaml").read_text()


# --- jobs for any rooms repo ----------------------------------------------------------------------


def test_the_reusable_jobs_hold_no_secret_and_install_from_the_required_project(tenant):
    for name in (*REUSABLE, "roomsync-base"):
        job = tenant["job"][name]
        assert job["_source"] == ROOMSYNC
        assert not job.get("secrets"), f"{name} holds a secret: rooms repos pass their own"
    for name in ("roomsync-plan", "roomsync-sync", "roomsync-sync-reviewed", "roomsync-drift"):
        assert tenant["job"][name].get("abstract") is True, f"{name} needs a child job that passes the secret"
    assert not tenant["job"]["roomsync-validate"].get("abstract")
    base = tenant["job"]["roomsync-base"]
    required = [p if isinstance(p, str) else p["name"] for p in as_list(base.get("required-projects"))]
    default = yaml.safe_load((REPO / "roles/ensure-roomsync/defaults/main.yaml").read_text())["roomsync_project"]
    assert required == [default], "ensure-roomsync must look for the project roomsync-base requires"
    for name in REUSABLE:
        assert "roomsync-base" in [j["name"] for j in ancestry(tenant, name)]
    install = (REPO / "roles/ensure-roomsync/tasks/main.yaml").read_text()
    assert "zuul.project." not in install, "roomsync must not be installed from the change under test"


@pytest.mark.parametrize("source", sorted(ZUUL_FILES))
def test_child_jobs_pass_their_own_secrets_under_the_names_the_playbooks_read(tenant, source):
    children = {
        name: job
        for name, job in tenant["job"].items()
        if job["_source"] == source and job.get("secrets") and name != RELEASE_JOB
    }
    expected = set(SECRET_VARIABLES) - {"roomsync-sync" if source == EXAMPLE else "roomsync-sync-reviewed"}
    assert {job["parent"] for job in children.values()} == expected, source  # each repo syncs one way
    for name, job in children.items():
        variables = {use["name"] for use in secret_uses(job)}
        parent = job["parent"]
        assert {"roomsync_admin"} & SECRET_VARIABLES[parent] <= variables <= SECRET_VARIABLES[parent], name
        if parent not in SYNC_PIPELINES:
            assert variables == {"roomsync_observer"}, name
        for use in secret_uses(job):
            assert use.get("pass-to-parent") is True, f"{name}: roomsync's playbooks only see it with pass-to-parent"
            assert tenant["secret"][use["secret"]]["_source"] == source, f"{name}: a secret of another project"
            for playbook in playbooks_of(tenant["job"][parent]):
                if "run.yaml" in playbook:
                    assert use["name"] in (REPO / playbook).read_text(), (playbook, use["name"])


@pytest.mark.parametrize("source", sorted(ZUUL_FILES))
def test_secrets_are_placeholders_zuul_can_load(tenant, source):
    text = ZUUL_FILES[source].read_text()
    assert "zuul-client encrypt" in text
    mine = {name: s for name, s in tenant["secret"].items() if s["_source"] == source}
    assert len(mine) == (3 if source == ROOMSYNC else 2)
    for name, secret in mine.items():
        data = secret["data"]
        (encrypted,) = [f for f in SECRET_FIELDS if f in data]
        assert set(data) <= {encrypted} | SECRET_FIELDS[encrypted]
        assert isinstance(data[encrypted], Encrypted), f"{name}.{encrypted} is not !encrypted/pkcs1-oaep"
        assert not any(isinstance(v, Encrypted) for f, v in data.items() if f != encrypted)
        for chunk in data[encrypted]:
            try:  # Zuul base64-decodes every chunk when it loads the file
                decoded = base64.b64decode(chunk, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise AssertionError(f"{name}: Zuul could not load this ciphertext: {exc}") from None
            assert decoded.startswith("PLACEHOLDER") and name in decoded
        users = [job_name for job_name, job in tenant["job"].items() if name in secrets_of(job)]
        assert users and all(tenant["job"][u]["_source"] == source for u in users)
    if source == ROOMSYNC:  # roomsync's own secrets serve its own rooms/ and its release only
        assert all(name.startswith("roomsync-rooms-") for name in set(mine) - {RELEASE_SECRET})
        assert RELEASE_SECRET in mine


@pytest.mark.parametrize("source", sorted(ZUUL_FILES))
def test_no_job_with_a_secret_runs_before_review_and_the_admin_token_only_after_merge(tenant, source):
    admin = {
        name
        for name, s in tenant["secret"].items()
        if s["_source"] == source
        and any(
            u["name"] == "roomsync_admin" and u["secret"] == name
            for job in tenant["job"].values()
            for u in secret_uses(job)
        )
    }
    assert len(admin) == 1
    for pipeline, entries in pipeline_jobs(tenant, source).items():
        for entry in entries:
            if pipeline in PRE_REVIEW:
                assert not post_review(tenant, entry), f"Zuul refuses the post-review job {entry['name']} in {pipeline}"
                assert not effective_secrets(tenant, entry), f"{entry['name']} gets a token in {pipeline}"
            if admin & effective_secrets(tenant, entry):
                chain = [j["name"] for j in ancestry(tenant, entry["name"])]
                (sync,) = set(chain) & set(SYNC_PIPELINES)
                assert pipeline == SYNC_PIPELINES[sync], f"{entry['name']} gets the admin token in {pipeline}"
                assert any(j.get("post-review") is True for j in ancestry(tenant, entry["name"]))
    users = [name for name, job in tenant["job"].items() if admin & secrets_of(job)]
    assert len(users) == 1 and tenant["job"][users[0]]["parent"] in SYNC_PIPELINES


def test_plan_and_drift_read_with_the_observer_and_validate_needs_no_token(tenant):
    for name in ("roomsync-plan", "roomsync-drift"):
        assert "roomsync_observer" in (REPO / f"playbooks/{name}/run.yaml").read_text()
        assert "roomsync_admin" not in (REPO / f"playbooks/{name}/run.yaml").read_text()
    for name in SYNC_PIPELINES:
        assert "roomsync_admin" in (REPO / f"playbooks/{name}/run.yaml").read_text()
    for name in ("roomsync-validate", "roomsync-test", "roomsync-docs", "roomsync-build-docs"):
        assert not any(secrets_of(j) for j in ancestry(tenant, name)), f"{name} needs no token"
        assert not TOKEN.search((REPO / f"playbooks/{name}/run.yaml").read_text())


def test_sync_and_drift_hold_a_semaphore_of_one(tenant):
    for name in ("roomsync-sync", "roomsync-sync-reviewed", "roomsync-drift"):
        semaphores = as_list(tenant["job"][name].get("semaphores") or tenant["job"][name].get("semaphore"))
        assert semaphores, f"{name} holds no semaphore"
        assert all(tenant["semaphore"][s]["max"] == 1 for s in semaphores)
    for name in ("roomsync-sync-reviewed", "roomsync-drift"):
        assert as_list(tenant["job"]["roomsync-sync"]["semaphores"]) == as_list(tenant["job"][name]["semaphores"])


def files_of(tenant: dict, name: str) -> list[str]:
    for job in ancestry(tenant, name):  # Zuul: the last value set in the chain wins
        if "files" in job:
            return as_list(job["files"])
    return []


def matcher(files: list[str]):
    return lambda path: any(re.match(rx, path) for rx in files)  # Zuul: re.match


def test_plan_and_sync_run_only_when_the_rooms_change(tenant):
    relevant = ["rooms/zuul.yaml", "rooms/new/x.yaml", "bots.yaml", "roomsync.yaml"]
    irrelevant = ["README.md", "rooms.yaml.orig", "xbots.yaml", "docs/roomsync.yaml", ".zuul.yaml"]
    roomsync_code = ["roomsync/cli/main.py", "schema/rooms.schema.json"]
    roomsync_irrelevant = ["tests/unit/test_plan.py", "scripts/test", "playbooks/roomsync-plan/run.yaml"]
    for names, extra_relevant, extra_irrelevant in (
        (
            (
                "roomsync-plan",
                "roomsync-sync",
                "roomsync-sync-reviewed",
                "example-rooms-plan",
                "example-rooms-sync-reviewed",
                "roomsync-docs",
            ),
            [],
            roomsync_code,
        ),
        (("roomsync-rooms-plan", "roomsync-rooms-sync"), roomsync_code, roomsync_irrelevant),
    ):
        for name in names:
            matches = matcher(files_of(tenant, name))
            assert files_of(tenant, name), f"{name} has no files matcher"
            assert all(matches(p) for p in relevant + extra_relevant), (
                name,
                [p for p in relevant + extra_relevant if not matches(p)],
            )
            assert not any(matches(p) for p in irrelevant + extra_irrelevant), name
    for name in (
        "roomsync-rooms-drift",
        "example-rooms-drift",
        "roomsync-validate",
        "roomsync-test",
        "roomsync-build-docs",
    ):
        assert not any(j.get("files") or j.get("irrelevant-files") for j in ancestry(tenant, name)), name


# --- playbooks and roles ------------------------------------------------------------------


def all_playbooks() -> list[Path]:
    return sorted((REPO / "playbooks").rglob("*.yaml"))


def all_role_task_files() -> list[Path]:
    return sorted((REPO / "roles").glob("*/tasks/*.yaml"))


def tasks_in(items: list | None, covered: bool = False) -> Iterator[tuple[dict, bool]]:
    """(task, covered by a block's no_log) for every task, blocks included, recursively."""
    for task in items or []:
        yield task, covered
        for key in BLOCK_KEYS:
            if key in task:
                yield from tasks_in(task[key], covered or task.get("no_log") is True)


def every_task() -> Iterator[tuple[str, dict, bool]]:
    for path in all_playbooks():
        for play in yaml.safe_load(path.read_text()):
            for key in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                for task, covered in tasks_in(play.get(key), play.get("no_log") is True):
                    yield str(path.relative_to(REPO)), task, covered
    for path in all_role_task_files():
        for task, covered in tasks_in(yaml.safe_load(path.read_text()) or []):
            yield str(path.relative_to(REPO)), task, covered


def test_every_task_touching_a_token_has_no_log():
    touching = 0
    for where, task, covered in every_task():
        own = {k: v for k, v in task.items() if k not in BLOCK_KEYS}
        if TOKEN.search(yaml.safe_dump(own)):
            touching += 1
            assert task.get("no_log") is True or covered, f"{where}: task {task.get('name')!r} needs no_log: true"
    assert touching >= 4  # the plan, drift and sync playbooks' includes and roomsync-run's command


def test_tokens_reach_roomsync_only_through_the_environment():
    command = [
        task
        for where, task, _ in every_task()
        if where == "roles/roomsync-run/tasks/main.yaml" and "ansible.builtin.command" in task
    ]
    assert len(command) == 1
    (task,) = command
    assert "ROOMSYNC_ACCESS_TOKEN" in str(task["environment"])
    assert not TOKEN.search(str(task["ansible.builtin.command"])), "a token on the command line"
    for where, task, _ in every_task():
        if "ROOMSYNC_ACCESS_TOKEN" in yaml.safe_dump(task):
            assert "ROOMSYNC_ACCESS_TOKEN" in str(task.get("environment", "")), where


def test_plays_run_on_the_node_and_pass_no_token_outside_a_task():
    for path in all_playbooks():
        for play in yaml.safe_load(path.read_text()):
            assert play["hosts"] == "all", f"{path}: Zuul does not let untrusted playbooks run commands on localhost"
            rest = {k: v for k, v in play.items() if k not in ("pre_tasks", "tasks", "post_tasks", "handlers")}
            assert not TOKEN.search(yaml.safe_dump(rest)), f"{path}: a token outside a task with no_log"


def roles_used() -> set[tuple[str, str]]:
    """(role, tasks_from) used by the playbooks and by roles."""
    used = set()
    for path in all_playbooks():
        for play in yaml.safe_load(path.read_text()):
            for role in play.get("roles", []):
                used.add((role if isinstance(role, str) else role.get("role") or role["name"], "main"))
    for _, task, _ in every_task():
        for key in ("include_role", "import_role", "ansible.builtin.include_role", "ansible.builtin.import_role"):
            if key in task:
                used.add((task[key]["name"], task[key].get("tasks_from", "main")))
    return used


def test_referenced_roles_exist_with_readme_and_defaults(tenant):
    used = roles_used()
    assert {"ensure-roomsync", "roomsync-run"} <= {name for name, _ in used}
    assert {name for name, _ in used} >= ZUUL_JOBS_ROLES
    for name in ZUUL_JOBS_ROLES:  # the jobs that use them name zuul-jobs; the tests have a stand-in
        assert not (REPO / "roles" / name).exists(), f"{name} is zuul-jobs' role, not roomsync's"
        assert (REPO / "tests" / "ansible" / "roles" / name / "tasks" / "main.yaml").is_file(), name
    for name, job in tenant["job"].items():  # only the jobs that use them declare them
        assert (job.get("roles") == [{"zuul": ZUUL_JOBS}]) == (name in ZUUL_JOBS_USERS), name
    for name, tasks_from in used:
        if name in ZUUL_JOBS_ROLES:
            continue
        role = REPO / "roles" / name
        assert (role / "tasks" / f"{tasks_from.removesuffix('.yaml')}.yaml").is_file(), f"role {name} ({tasks_from})"
        assert (role / "README.md").is_file() and (role / "defaults" / "main.yaml").is_file(), name


@pytest.mark.parametrize("role", sorted(p.name for p in (REPO / "roles").iterdir()))
def test_role_readme_documents_every_variable(role):
    readme = (REPO / "roles" / role / "README.md").read_text()
    defaults = yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yaml").read_text()) or {}
    assert defaults, f"{role} has no defaults"
    for variable in defaults:
        assert f"`{variable}`" in readme, f"roles/{role}/README.md does not document {variable}"
    # Variables a role reads without a default are documented too.
    text = "".join(p.read_text() for p in (REPO / "roles" / role / "tasks").glob("*.yaml"))
    for variable in set(re.findall(r"(?<![\w'\"])(roomsync_\w+|fetch_roomsync_\w+)", text)) - {"roomsync_result"}:
        assert f"`{variable}`" in readme, f"roles/{role}/README.md does not document {variable}"


def test_playbooks_pass_ansible_syntax_check(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_ROLES_PATH=os.pathsep.join(str(REPO / d) for d in ("roles", "tests/ansible/roles")),
        ANSIBLE_ACTION_PLUGINS=str(REPO / "tests" / "ansible" / "action_plugins"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path),
        ANSIBLE_NOCOLOR="1",
    )
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "--syntax-check",
            "-i",
            "localhost,",
            *map(str, all_playbooks()),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_docs_job_writes_both_formats_and_returns_them(tenant):
    run = yaml.safe_load((REPO / "playbooks/roomsync-docs/run.yaml").read_text())
    (task,) = run[0]["tasks"]
    assert task["ansible.builtin.include_role"]["name"] == "roomsync-run"
    assert task["vars"]["roomsync_action"] == "docs" and task["loop"] == ["html", "markdown"]
    assert "--format" in task["vars"]["roomsync_args"]
    post = yaml.safe_load((REPO / "playbooks/roomsync-docs/post.yaml").read_text())
    assert post[0]["roles"] == ["fetch-roomsync-docs"]
    docs = tenant["job"]["roomsync-docs"]
    assert docs["post-run"] == "playbooks/roomsync-docs/post.yaml"  # runs also when the run playbook failed
    assert not docs.get("post-review") and not docs.get("semaphores")  # no token, changes nothing


def test_build_docs_job_runs_tox_docs_with_warnings_as_errors_and_returns_the_site(tenant):
    job = tenant["job"]["roomsync-build-docs"]
    assert job["parent"] == "base" and not job.get("abstract") and not job.get("post-review")
    assert playbooks_of(job) == [f"playbooks/roomsync-build-docs/{phase}.yaml" for phase in ("pre", "run", "post")]
    pre = yaml.safe_load((REPO / job["pre-run"]).read_text())
    assert role_includes(pre[0]) == [("ensure-roomsync", "venv", {}), ("build-roomsync-guide", "install", {})]
    run = yaml.safe_load((REPO / job["run"]).read_text())
    assert run[0]["roles"] == ["build-roomsync-guide"]
    post = yaml.safe_load((REPO / job["post-run"]).read_text())  # runs also when the build failed
    assert role_includes(post[0]) == [("build-roomsync-guide", "fetch", {})]
    defaults = yaml.safe_load((REPO / "roles/build-roomsync-guide/defaults/main.yaml").read_text())
    assert defaults["roomsync_guide_tox_env"] == "docs" and defaults["roomsync_guide_html_dir"] == "doc/build/html"
    # tox.ini's docs environment is the one contributors run: Sphinx with warnings as errors,
    # writing where the role collects from, with the docs' own requirements.
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(REPO / "tox.ini")
    assert {"py3", "linters", "docs"} <= {s.removeprefix("testenv:") for s in tox.sections()}
    docs = tox["testenv:docs"]
    assert docs["commands"].split() == [
        "sphinx-build",
        "-W",
        "--keep-going",
        "-b",
        "html",
        "doc/source",
        defaults["roomsync_guide_html_dir"],
    ]
    assert "doc/requirements.txt" in docs["deps"]
    assert tox["testenv:py3"]["commands"].split() == ["./scripts/test", "{posargs}"]
    assert [c.strip() for c in tox["testenv:linters"]["commands"].strip().splitlines()] == [
        "ruff check .",
        "ruff format --check .",
        "mypy",
    ]


# --- roomsync-release: a tag becomes a release on PyPI --------------------------------------------


def test_release_job_gets_the_pypi_secret_under_the_name_upload_pypi_reads(tenant):
    job = tenant["job"][RELEASE_JOB]
    assert job["_source"] == ROOMSYNC and not job.get("abstract")
    # Its own playbooks read it (no parent to pass it to), under upload-pypi's variable name.
    assert secret_uses(job) == [{"name": RELEASE_VARIABLE, "secret": RELEASE_SECRET}]
    assert [name for name, j in tenant["job"].items() if RELEASE_SECRET in secrets_of(j)] == [RELEASE_JOB]
    assert tenant["secret"][RELEASE_SECRET]["data"]["username"] == "__token__"  # a PyPI API token
    (entry,) = pipeline_jobs(tenant, ROOMSYNC)["release"]
    assert entry["name"] == RELEASE_JOB and post_review(tenant, entry)
    # Only zuul-jobs' role reads the secret: roomsync's playbooks and role never name it.
    texts = [(REPO / p).read_text() for p in playbooks_of(job)]
    texts += [p.read_text() for p in (REPO / "roles" / "roomsync-release").rglob("*.yaml")]
    assert texts and not any(RELEASE_VARIABLE in text for text in texts)


def test_release_job_builds_and_checks_in_run_and_uploads_in_post_only_after_success(tenant):
    job = tenant["job"][RELEASE_JOB]
    (pre,) = plays(job["pre-run"])
    assert role_includes(pre) == [("roomsync-release", "tools", {})]
    (run,) = plays(job["run"])
    assert role_includes(run) == [("roomsync-release", "main", {})]
    (post,) = plays(job["post-run"])
    assert role_includes(post) == [("roomsync-release", "upload", {})]
    (upload_task,) = post["tasks"]
    assert upload_task["when"] == "zuul_success | bool"
    tasks = REPO / "roles" / "roomsync-release" / "tasks"
    (upload,) = yaml.safe_load((tasks / "upload.yaml").read_text())
    assert upload["ansible.builtin.include_role"]["name"] == "upload-pypi"
    assert upload["vars"]["pypi_path"] == "{{ roomsync_release_dist_dir }}"  # what the run built and checked
    build = (tasks / "main.yaml").read_text()
    for step in ("'-m', 'build'", "'twine', 'check', '--strict'", "state: absent", "roomsync_release_tag"):
        assert step in build, step
    defaults = yaml.safe_load((REPO / "roles" / "roomsync-release" / "defaults" / "main.yaml").read_text())
    assert defaults["roomsync_release_tag"] == "{{ zuul.tag | default('') }}"
    assert defaults["roomsync_release_build_isolation"] is True


# --- roomsync-bot-functional: the job bots' repositories inherit ----------------------------------

BOT_JOB = "roomsync-bot-functional"
HOMESERVER_ROLE = REPO / "roles" / "roomsync-test-homeserver"


def plays(playbook: str) -> list[dict]:
    return yaml.safe_load((REPO / playbook).read_text())


def role_includes(play: dict) -> list[tuple[str, str, dict]]:
    """(role, tasks_from, vars) of every role a play uses, in order."""
    found = []
    for role in play.get("roles", []):
        found.append((role if isinstance(role, str) else role["role"], "main", {}))
    for task in play.get("tasks", []):
        include = task.get("ansible.builtin.include_role") or task.get("include_role")
        if include:
            found.append((include["name"], include.get("tasks_from", "main"), task.get("vars", {})))
    return found


def test_bot_functional_job_is_for_other_repositories_to_inherit(tenant):
    job = tenant["job"][BOT_JOB]
    assert job.get("abstract") is True  # a bot's repository defines the child job that runs
    chain = ancestry(tenant, BOT_JOB)
    assert not any(secrets_of(j) for j in chain), "every account lives on the node: no secret"
    assert not any(j.get("post-review") or j.get("semaphores") or j.get("files") for j in chain)
    required = [p if isinstance(p, str) else p["name"] for p in as_list(job.get("required-projects"))]
    assert required == ["opendev/roomsync"]
    checkout = "src/opendev.org/opendev/roomsync"  # where Zuul checks out that project on the node
    variables = job["vars"]
    assert variables["roomsync_config_dir"] == checkout  # roomsync itself comes from roomsync_project
    assert variables["roomsync_extras"] == ["local"]  # roomsync local needs Synapse
    assert variables["roomsync_bot_test_command"] == ""  # the inheriting job's to set
    readmes = "".join(p.read_text() for p in (REPO / "roles").glob("*/README.md"))
    for name in set(variables) - {"roomsync_bot_test_command"}:
        assert f"`{name}`" in readmes, f"job variable {name} is no role's variable"


def test_bot_functional_job_starts_runs_the_bots_command_and_stops(tenant):
    job = tenant["job"][BOT_JOB]
    (pre,) = plays(job["pre-run"])
    assert role_includes(pre) == [("ensure-roomsync", "main", {}), ("roomsync-test-homeserver", "main", {})]
    (run,) = plays(job["run"])
    assert role_includes(run) == [
        ("roomsync-test-homeserver", "run", {"roomsync_local_command": "{{ roomsync_bot_test_command | default('') }}"})
    ]
    (post,) = plays(as_list(job["post-run"])[0])
    assert role_includes(post) == [("roomsync-test-homeserver", "stop", {})]
    defaults = yaml.safe_load((HOMESERVER_ROLE / "defaults" / "main.yaml").read_text())
    assert defaults["roomsync_local_command_dir"] == "{{ zuul.project.src_dir }}"  # the inheriting repo


def test_the_homeserver_role_keeps_tokens_out_of_ansible():
    tasks = {p.name: p.read_text() for p in (HOMESERVER_ROLE / "tasks").glob("*.yaml")}
    assert set(tasks) == {"main.yaml", "run.yaml", "stop.yaml"}
    for name, text in tasks.items():
        for reads_a_file in (
            "slurp",
            "lookup(",
            "include_vars",
            'ansible.builtin.fetch:\n    src: "{{ roomsync_local_env',
        ):
            assert reads_a_file not in text, f"{name}: {reads_a_file}"
    # Of the env file, a task's registered output holds at most the homeserver line ...
    registering = {
        t["register"]: t
        for t in yaml.safe_load(tasks["main.yaml"])
        if "register" in t and "roomsync_local_env_file" in yaml.safe_dump(t)
    }
    assert set(registering) == {"_roomsync_local_wait", "_roomsync_local_url"}
    assert registering["_roomsync_local_url"]["ansible.builtin.command"]["argv"] == [
        "sed",
        "-n",
        "s/^ROOMSYNC_HOMESERVER=//p",
        "{{ roomsync_local_env_file }}",
    ]
    wait = registering["_roomsync_local_wait"]["ansible.builtin.shell"]["cmd"]
    assert [line.strip() for line in wait.splitlines() if "roomsync_local_env_file" in line] == [
        "while [ ! -s {{ roomsync_local_env_file | quote }} ]; do"
    ]  # only whether it exists
    # ... and the command's own shell sources it.
    (command,) = [t for t in yaml.safe_load(tasks["run.yaml"]) if "ansible.builtin.shell" in t]
    script = command["ansible.builtin.shell"]["cmd"].splitlines()
    assert script == ["set -a", ". {{ roomsync_local_env_file | quote }}", "set +a", "{{ roomsync_local_command }}"]
    assert "environment" not in command


def test_the_homeserver_role_waits_and_stops_within_bounds():
    start = yaml.safe_load((HOMESERVER_ROLE / "tasks" / "main.yaml").read_text())
    (wait,) = [t for t in start if t["name"].startswith("Wait until")]
    script = wait["ansible.builtin.shell"]["cmd"]
    assert "roomsync_local_timeout" in script and "exited before it was ready" in script
    (begin,) = [t for t in start if t["name"] == "Start roomsync local in the background"]
    line = begin["ansible.builtin.shell"]["cmd"]
    assert line.startswith("nohup ") and "</dev/null >" in line and "2>&1 &" in line  # detached from Ansible
    stop = (HOMESERVER_ROLE / "tasks" / "stop.yaml").read_text()
    assert "kill -TERM" in stop and "kill -KILL" in stop and "seq 60" in stop  # SIGTERM, then SIGKILL after 30 s


def test_sync_job_stops_starting_rooms_before_its_timeout(tenant):
    job = tenant["job"]["roomsync-sync"]
    budget = job["vars"]["roomsync_sync_time_budget"]
    seconds = Duration().convert(budget, None, None)
    assert 0 < seconds <= job["timeout"] - 300, "room for the rooms in flight to finish before the timeout"
    run = (REPO / "playbooks/roomsync-sync/run.yaml").read_text()
    assert "'--time-budget', roomsync_sync_time_budget" in run


# --- roomsync-sync-reviewed: apply the plan reviewed in gate --------------------------------------

REVIEWED_JOB = "roomsync-sync-reviewed"
DOWNLOAD_ROLE = REPO / "roles" / "download-roomsync-plan"


def test_reviewed_sync_is_a_post_review_sync_like_roomsync_sync(tenant):
    job, sync = tenant["job"][REVIEWED_JOB], tenant["job"]["roomsync-sync"]
    assert job["abstract"] is True and job["post-review"] is True
    for key in ("parent", "semaphores", "timeout", "files"):
        assert job[key] == sync[key], key
    assert job["vars"]["roomsync_sync_time_budget"] == sync["vars"]["roomsync_sync_time_budget"]
    assert job["vars"]["roomsync_reviewed_plan_pipeline"] == "gate"
    assert playbooks_of(job) == ["playbooks/roomsync-sync-reviewed/run.yaml"]


def test_reviewed_sync_downloads_the_saved_plan_then_applies_only_it(tenant):
    (run,) = plays(tenant["job"][REVIEWED_JOB]["run"])
    (download, apply) = run["tasks"]
    assert role_includes({"tasks": [download]}) == [("download-roomsync-plan", "main", {})]
    assert not TOKEN.search(yaml.safe_dump(download))  # the download needs no token
    ((role, _, variables),) = role_includes({"tasks": [apply]})
    assert role == "roomsync-run" and apply["no_log"] is True
    assert variables["roomsync_action"] == "sync" and variables["roomsync_secret_name"] == "roomsync_admin"
    assert "['--plan', roomsync_reviewed_plan_path]" in variables["roomsync_args"]
    tasks = yaml.safe_load((DOWNLOAD_ROLE / "tasks" / "main.yaml").read_text())
    (block,) = [t for t in tasks if "block" in t]
    (include,) = block["block"]
    assert include["ansible.builtin.include_role"]["name"] == "download-artifact"
    assert set(include["vars"]) == {
        "download_artifact_api",
        "download_artifact_pipeline",
        "download_artifact_job",
        "download_artifact_type",
        "download_artifact_directory",
    }  # download_artifact_query keeps its default: this change and patchset
    assert [t["ansible.builtin.fail"]["msg"].startswith("No reviewed plan to apply") for t in block["rescue"]] == [True]
    (last,) = [t for t in tasks if t["name"] == "Note where the plan to apply is"]
    assert tasks[-1] is last  # set only once the file is known to exist
    # A plan from an earlier build on the node is removed before the download.
    (remove,) = [t for t in tasks if t.get("ansible.builtin.file", {}).get("state") == "absent"]
    assert tasks.index(remove) < tasks.index(block)


def test_the_plan_job_returns_the_saved_plan_under_the_type_the_reviewed_sync_downloads():
    fetch = yaml.safe_load((REPO / "roles" / "fetch-roomsync-plan" / "defaults" / "main.yaml").read_text())
    download = yaml.safe_load((DOWNLOAD_ROLE / "defaults" / "main.yaml").read_text())
    assert fetch["fetch_roomsync_plan_artifact_types"] == {"plan.json": download["roomsync_reviewed_plan_type"]}
    assert download["roomsync_reviewed_plan_type"] == "roomsync_saved_plan"
    assert download["roomsync_reviewed_plan_file"] == "plan.json" and "plan.json" in fetch["roomsync_plan_files"]


def test_the_example_applies_the_plan_its_own_plan_job_made_in_gate(tenant):
    (child,) = [j for j in tenant["job"].values() if j.get("parent") == REVIEWED_JOB]
    assert child["_source"] == EXAMPLE
    plan_job = child["vars"]["roomsync_reviewed_plan_job"]
    assert tenant["job"][plan_job]["parent"] == "roomsync-plan"
    assert PIPELINES[EXAMPLE][plan_job] == {tenant["job"][REVIEWED_JOB]["vars"]["roomsync_reviewed_plan_pipeline"]}
    assert (
        child["vars"]["roomsync_zuul_api"].startswith("https://")
        and "/api/tenant/" in child["vars"]["roomsync_zuul_api"]
    )
    # Not both ways: the example syncs in promote only, and says how to use roomsync-sync instead.
    assert PIPELINES[EXAMPLE][child["name"]] == {"promote"}
    assert not any(j.get("parent") == "roomsync-sync" for j in tenant["job"].values() if j["_source"] == EXAMPLE)
    assert "parent: roomsync-sync\n" in ZUUL_FILES[EXAMPLE].read_text()  # the commented alternative
