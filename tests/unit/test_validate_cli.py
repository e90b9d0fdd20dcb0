"""`roomsync validate` as users run it: offline, one FILE:LINE:COLUMN: message line per problem, exit 0/1."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import click
import pytest

from roomsync import cli
from roomsync.cli.reconcile import Duration

from .test_config import BAD, BAD_CASES, GOOD, REPO, read_expect

PROBLEM_LINE = re.compile(r"^[^:]+:\d+:\d+: .+")
CLOSED_PORT_URL = "http://127.0.0.1:9"  # discard: nothing listens there
# A handful of cases of different kinds, run as real subprocesses.
SUBPROCESS_CASES = [
    "yaml-unclosed-bracket",
    "yaml-billion-laughs",
    "non-utf8-latin1",
    "dup-key-power-users",
    "dup-alias-two-files",
    "alias-newline",
    "missing-settings-file",
    "yaml-invalid-date",
]


def offline_env(**extra: str) -> dict[str, str]:
    """The environment without any ROOMSYNC_* setting (no token, no debug tracebacks)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROOMSYNC_")}
    env.update(extra)
    return env


def roomsync(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "roomsync", *args],
        cwd=cwd,
        env=offline_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_clean_problem_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert lines, "no problem printed"
    for line in lines:
        assert PROBLEM_LINE.match(line), f"not FILE:LINE:COLUMN: message: {line!r}"
    return lines


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_validate_bad_case_exits_1_with_problem_lines(name: str, tmp_path: Path) -> None:
    case = BAD / name
    expect = read_expect(case)
    result = roomsync("-C", str(case), "validate", cwd=tmp_path)  # outside the case: absolute paths
    assert result.returncode == 1, result
    lines = assert_clean_problem_lines(result.stderr)
    assert lines[0].startswith(f"{case / expect.prefix.split(':')[0]}:{expect.prefix.split(':', 1)[1]}: ")
    # Messages that cite another place ("already declared at FILE:...") cite it by the same absolute path.
    assert any(expect.substring in line.replace(f"{case}/", "") for line in lines), result.stderr
    assert result.stdout == ""


def test_validate_relative_paths_from_the_case_dir() -> None:
    case = BAD / "dup-alias-two-files"
    result = roomsync("validate", cwd=case)
    assert result.returncode == 1
    assert result.stderr == ("rooms/b.yaml:3:12: alias 'general' is already declared at rooms/a.yaml:2:12\n")


def test_validate_good_config_needs_no_token_and_no_network() -> None:
    env = offline_env(ROOMSYNC_HOMESERVER=CLOSED_PORT_URL)
    result = roomsync("-C", str(GOOD), "validate", cwd=REPO, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == "ok: 3 rooms for example.org\n"


def test_validate_repository_config(tmp_path: Path) -> None:
    result = roomsync("-C", str(REPO), "validate", cwd=tmp_path, env=offline_env(ROOMSYNC_HOMESERVER=CLOSED_PORT_URL))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: ")


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "--nope"],
        ["--nope", "validate"],
        ["no-such-command"],
        ["-C"],
    ],
)
def test_usage_errors_exit_1(args: list[str], tmp_path: Path) -> None:
    result = roomsync(*args, cwd=tmp_path)
    assert result.returncode == 1, result  # never 0, and never 2 (which means "changes pending")
    assert "Traceback" not in result.stderr


def test_validate_missing_directory_exits_1(tmp_path: Path) -> None:
    result = roomsync("-C", str(tmp_path / "nowhere"), "validate", cwd=tmp_path)
    assert result.returncode == 1
    assert_clean_problem_lines(result.stderr)


# --- every bad case through the CLI entry point, in-process (fast) -------------------------------------


def run_in_process(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        cli.run(args)
    out, err = capsys.readouterr()
    return exited.value.code, out, err


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"validate tried to use the network: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    for name in list(os.environ):
        if name.startswith("ROOMSYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ROOMSYNC_HOMESERVER", CLOSED_PORT_URL)


@pytest.mark.parametrize("case", BAD_CASES, ids=[c.name for c in BAD_CASES])
def test_validate_every_bad_case_in_process(
    case: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], no_network: None
) -> None:
    expect = read_expect(case)
    monkeypatch.chdir(case)
    code, out, err = run_in_process(["validate"], capsys)
    assert code == 1
    assert out == ""
    lines = assert_clean_problem_lines(err)
    assert lines[0].startswith(expect.prefix + ": ")
    assert len(lines) == expect.count


def test_validate_good_in_process_offline(capsys: pytest.CaptureFixture[str], no_network: None) -> None:
    code, out, err = run_in_process(["-C", str(GOOD), "validate"], capsys)
    assert (code, out, err) == (0, "ok: 3 rooms for example.org\n", "")


def test_top_level_help_lists_every_command_whole(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_in_process(["--help"], capsys)
    assert code == 0
    listed = out.split("Commands:", 1)[1].splitlines()
    for name, command in cli.main.commands.items():
        line = next((line for line in listed if line.split()[:1] == [name]), None)
        assert line is not None, f"{name} is missing from --help"
        assert command.get_short_help_str(limit=200) in line, line
    assert "..." not in out.split("Commands:", 1)[1], "a command's summary is cut short"


def test_apply_is_sync(capsys: pytest.CaptureFixture[str]) -> None:
    _, sync_help, _ = run_in_process(["sync", "--help"], capsys)
    _, apply_help, _ = run_in_process(["apply", "--help"], capsys)
    assert apply_help.replace("roomsync apply", "roomsync sync") == sync_help
    assert "--yes" in sync_help and "--room" in sync_help


@pytest.mark.parametrize(
    "text, seconds", [("50m", 3000), ("1h30m", 5400), ("90s", 90), ("600", 600), ("1.5h", 5400), ("2m30s", 150)]
)
def test_durations(text: str, seconds: float) -> None:
    assert Duration().convert(text, None, None) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5x", "m", "-5m", "0", "5m5", "1h 30m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(click.BadParameter):
        Duration().convert(text, None, None)
