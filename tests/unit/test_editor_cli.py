"""Outside Zuul: validate --format json, schema --out and the modeline, -v after a command,
shell completion, and the pre-commit hook's manifest. Offline; roomsync runs as users run it."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from referencing import Registry, Resource

from roomsync import cli
from roomsync.editor import SCHEMA_FILES, modeline, schema_for
from roomsync.schemas import schema_dir

from .test_config import BAD, REPO, load_problems

EXAMPLE = REPO / "examples" / "rooms-repo"
PROBLEM_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<column>\d+): (?P<message>.+)$")


def roomsync(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The real entry point in a subprocess, as users run it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ROOMSYNC_", "_ROOMSYNC_"))}
    return subprocess.run(
        [sys.executable, "-m", "roomsync", *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(autouse=True)
def _root_log_level():
    """-v in this process raises the root logger's level: put it back for the next tests."""
    level = logging.getLogger().level
    yield
    logging.getLogger().setLevel(level)


def invoke(*args: str, **env: str):
    """The click group in this process (faster): exit code and output, no entry-point error handling."""
    return CliRunner().invoke(cli.main, list(args), prog_name="roomsync", env=env)


# --- validate --format json ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "dup-alias-two-files",
        "yaml-unclosed-bracket",
        "dup-key-power-users",
        "missing-settings-file",
        "alias-newline",
        "non-utf8-latin1",
    ],
)
def test_validate_json_lists_the_same_problems_as_the_text_output(name, monkeypatch):
    case = BAD / name
    monkeypatch.chdir(case)
    expected = load_problems(Path("."))  # what the text output prints, one line each
    result = invoke("validate", "--format", "json")
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert document["format_version"] == 1 and document["ok"] is False
    assert document["server_name"] is None and document["rooms"] is None and document["bots"] is None
    assert [f"{p['file']}:{p['line']}:{p['column']}: {p['message']}" for p in document["problems"]] == [
        str(problem) for problem in expected
    ]


def test_validate_json_from_the_entry_point_is_only_json_on_stdout():
    case = BAD / "dup-alias-two-files"
    text = roomsync("validate", cwd=case)
    result = roomsync("validate", "--format", "json", cwd=case)
    assert text.returncode == 1 and result.returncode == 1, result
    assert result.stderr == ""
    expected = [PROBLEM_LINE.match(line).groupdict() for line in text.stderr.splitlines()]
    assert json.loads(result.stdout)["problems"] == [
        {"file": e["file"], "line": int(e["line"]), "column": int(e["column"]), "message": e["message"]}
        for e in expected
    ]


def test_validate_json_names_files_relative_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    case = BAD / "dup-alias-two-files"
    document = json.loads(invoke("-C", str(case), "validate", "--format", "json").stdout)
    assert [p["file"] for p in document["problems"]] == [str(case / "rooms" / "b.yaml")]  # outside: as given
    shutil.copytree(case, tmp_path / "matrix")
    document = json.loads(invoke("-C", "matrix", "validate", "--format", "json").stdout)
    assert document["problems"] == [
        {
            "file": "matrix/rooms/b.yaml",
            "line": 3,
            "column": 12,
            "message": "alias 'general' is already declared at matrix/rooms/a.yaml:2:12",
        }
    ]


def test_validate_json_of_a_good_config():
    result = roomsync("validate", "--format", "json", cwd=EXAMPLE)
    assert result.returncode == 0 and result.stderr == "", result
    assert json.loads(result.stdout) == {
        "format_version": 1,
        "ok": True,
        "problems": [],
        "server_name": "example.org",
        "rooms": 5,
        "bots": 2,
    }
    assert roomsync("validate", cwd=EXAMPLE).stdout == "ok: 5 rooms, 2 bots for example.org\n"  # text stays the default


def test_validate_rejects_an_unknown_format():
    result = invoke("-C", str(EXAMPLE), "validate", "--format", "yaml")
    assert result.exit_code == 2 and "'yaml' is not one of 'text', 'json'" in result.output  # run() makes it 1


# --- schema --out and the modeline ------------------------------------------------------------


def test_schema_out_writes_the_installed_schemas_and_says_where(tmp_path):
    out = tmp_path / "editor" / "schema"  # created, parents too
    result = roomsync("schema", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result
    assert result.stdout.splitlines() == [f"wrote {out / name}" for name in SCHEMA_FILES]
    for name in SCHEMA_FILES:
        assert (out / name).read_bytes() == (schema_dir() / name).read_bytes()
    (out / "rooms.schema.json").write_text("{}")  # an old copy is replaced
    assert roomsync("schema", "--out", str(out), cwd=tmp_path).returncode == 0
    assert (out / "rooms.schema.json").read_bytes() == (schema_dir() / "rooms.schema.json").read_bytes()


@pytest.mark.parametrize("make_target", ["file", "file-parent"])
def test_schema_out_refuses_a_place_it_cannot_write_in_one_line(tmp_path, make_target):
    blocker = tmp_path / "taken"
    blocker.write_text("not a directory")
    out = blocker if make_target == "file" else blocker / "schema"
    result = roomsync("schema", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(blocker) in result.stderr


def written_validator(directory: Path, name: str) -> jsonschema.protocols.Validator:
    """A validator that knows only the schemas in `directory`, as an editor would load them."""
    resources = [(path.name, Resource.from_contents(json.loads(path.read_text()))) for path in directory.glob("*.json")]
    registry = Registry().with_resources(resources)
    return jsonschema.Draft202012Validator(registry.contents(name), registry=registry)


def test_written_schemas_are_self_contained_and_describe_the_files(tmp_path):
    roomsync("schema", "--out", str(tmp_path), cwd=tmp_path)
    for file in [EXAMPLE / "roomsync.yaml", EXAMPLE / "bots.yaml", *sorted((EXAMPLE / "rooms").glob("*.yaml"))]:
        validator = written_validator(tmp_path, schema_for(file))
        assert list(validator.iter_errors(yaml.safe_load(file.read_text()))) == [], file
    rooms = written_validator(tmp_path, "rooms.schema.json")
    assert list(rooms.iter_errors({"rooms": [{"alias": "x", "join_rule": "sometimes"}]}))
    settings = written_validator(tmp_path, "roomsync.schema.json")  # refers to rooms.schema.json by file name
    assert list(settings.iter_errors({"server_name": "example.org", "defaults": {"join_rule": "sometimes"}}))


@pytest.mark.parametrize(
    ("file", "schemas", "expected"),
    [
        ("roomsync.yaml", "schema", "schema/roomsync.schema.json"),
        ("bots.yaml", "schema", "schema/bots.schema.json"),
        ("rooms/zuul.yaml", "schema", "../schema/rooms.schema.json"),
        ("rooms/zuul.yaml", ".roomsync/schema", "../.roomsync/schema/rooms.schema.json"),
        ("roomsync.yaml", "../shared/schema", "../shared/schema/roomsync.schema.json"),
    ],
)
def test_modeline_points_at_the_schema_relative_to_the_file(tmp_path, file, schemas, expected):
    line = modeline(Path(file), tmp_path / "config", schemas)
    assert line == f"# yaml-language-server: $schema={expected}"
    config_file = tmp_path / "config" / file
    resolved = (config_file.parent / expected).resolve()  # as yaml-language-server resolves it
    assert resolved == (tmp_path / "config" / schemas / schema_for(config_file)).resolve()


def test_modeline_takes_absolute_paths_and_relative_roots(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert (
        modeline(Path("rooms/a.yaml"), Path("matrix")) == "# yaml-language-server: $schema=../schema/rooms.schema.json"
    )
    assert (
        modeline(tmp_path / "matrix" / "bots.yaml", tmp_path / "matrix", tmp_path / "s")
        == "# yaml-language-server: $schema=../s/bots.schema.json"
    )


def test_the_example_rooms_repo_starts_each_file_with_its_modeline_and_ships_current_schemas():
    files = [EXAMPLE / "roomsync.yaml", EXAMPLE / "bots.yaml", *sorted((EXAMPLE / "rooms").glob("*.yaml"))]
    for file in files:
        assert file.read_text().splitlines()[0] == modeline(file, EXAMPLE), file
    for name in SCHEMA_FILES:
        assert (EXAMPLE / "schema" / name).read_bytes() == (schema_dir() / name).read_bytes(), (
            f"examples/rooms-repo/schema/{name} is out of date: roomsync schema --out examples/rooms-repo/schema"
        )


# --- CLI habits --------------------------------------------------------------------------------


def test_every_command_takes_verbose_after_it():
    assert set(cli.main.commands) >= {"validate", "plan", "sync", "well-known", "schema"}
    for command in cli.main.commands:
        result = invoke(command, "--help")
        assert result.exit_code == 0
        assert "-v, --verbose" in result.output, command


def test_verbose_after_a_command_is_parsed_not_refused():
    for args in (["validate", "-v"], ["validate", "-vv"], ["-v", "validate", "--verbose"], ["validate", "-v", "-v"]):
        result = invoke("-C", str(EXAMPLE), *args)
        assert result.exit_code == 0, (args, result.output)
        assert result.stdout == "ok: 5 rooms, 2 bots for example.org\n"
    # What -v does (log lines on stderr) is checked against Synapse in tests/integration/test_cli_verbose.py.


def test_bash_completion_script_from_the_entry_point():
    script = roomsync(cwd=REPO, _ROOMSYNC_COMPLETE="bash_source")
    assert script.returncode == 0 and "_roomsync_completion()" in script.stdout
    assert "complete -o nosort -F _roomsync_completion roomsync" in script.stdout


def test_completion_answers():
    answer = invoke(_ROOMSYNC_COMPLETE="bash_complete", COMP_WORDS="roomsync s", COMP_CWORD="1")
    assert sorted(answer.stdout.split()) == ["plain,schema", "plain,sync"]
    answer = invoke(_ROOMSYNC_COMPLETE="bash_complete", COMP_WORDS="roomsync plan --fo", COMP_CWORD="2")
    assert answer.stdout.split() == ["plain,--format"]
    assert "compdef _roomsync_completion roomsync" in invoke(_ROOMSYNC_COMPLETE="zsh_source").stdout
    assert "complete --no-files --command roomsync" in invoke(_ROOMSYNC_COMPLETE="fish_source").stdout


# --- the pre-commit hook's manifest (tests/integration/test_pre_commit.py runs it) --------------


def test_pre_commit_hook_manifest():
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "roomsync-validate" and hook["language"] == "python"
    assert [hook["entry"], *hook.get("args", [])] == ["roomsync", "validate"]
    assert hook["pass_filenames"] is False  # once per commit, not once per file
    changed = ["roomsync.yaml", "bots.yaml", "rooms/zuul.yaml", "matrix/rooms/zuul.yaml", "matrix/roomsync.yaml"]
    unrelated = [
        "README.md",
        "rooms/sub/x.yaml",
        "rooms/notes.txt",
        "schema/rooms.schema.json",
        "xbots.yaml",
        "roomsync.yaml.orig",
        ".zuul.yaml",
    ]
    assert all(re.search(hook["files"], path) for path in changed)  # pre-commit: re.search
    assert not any(re.search(hook["files"], path) for path in unrelated)
    example = yaml.safe_load((EXAMPLE / ".pre-commit-config.yaml").read_text())
    assert [h["id"] for repo in example["repos"] for h in repo["hooks"]] == ["roomsync-validate"]
