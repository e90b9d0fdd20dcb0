"""The guide (doc/source/*.md) and the README cannot rot: every config and command in them is checked.

Every fenced YAML block that is a config (roomsync.yaml or a part of it, a rooms file or room
entries, bots.yaml or bot entries, policies.yaml) is validated with `roomsync validate` in a config directory
built around it from this repository's own config; a block marked on the line before with
`<!-- check: invalid "MESSAGE" -->` must fail validation with MESSAGE. Zuul and pre-commit blocks
must name jobs, variables and hooks that exist. Every `roomsync NAME ...` command in a shell
block or an inline code span gets `roomsync NAME --help`, which must exit 0 and list every
option the command uses. A YAML block of a kind this module does not know fails, so a new
block is checked (or the test says what to do) without editing this file.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from markdown_it import MarkdownIt

from .test_zuul_config import ZuulLoader

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "doc" / "source").glob("*.md"))]
ROOMSYNC = {"roomsync", ".venv/bin/roomsync"}
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
ZUUL_KINDS = {"job", "secret", "project", "semaphore", "nodeset", "project-template"}
MARK = re.compile(r'<!--\s*check:\s*invalid(?:\s+"(?P<message>[^"]*)")?\s*-->')
OPTION = re.compile(r"^--?[A-Za-z][\w-]*")


@dataclasses.dataclass(frozen=True)
class Block:
    where: str  # FILE:LINE of the block's first line, for the test id and messages
    language: str
    text: str
    invalid: str | None  # None: must be valid; otherwise the message validation must give


@dataclasses.dataclass(frozen=True)
class Command:
    where: str
    name: str | None  # None: the group itself (`roomsync --help`)
    global_options: tuple[str, ...]
    options: tuple[str, ...]


def blocks_and_spans(path: Path) -> tuple[list[Block], list[tuple[str, str]]]:
    """The fenced code blocks of a Markdown file, and its inline code spans with their line."""
    rel = path.relative_to(REPO)
    tokens = MarkdownIt("commonmark").parse(path.read_text())
    blocks: list[Block] = []
    spans: list[tuple[str, str]] = []
    previous = None
    for token in tokens:
        if token.type == "fence" and token.map:
            mark = MARK.search(previous.content) if previous is not None and previous.type == "html_block" else None
            invalid = (mark.group("message") or "") if mark else None
            language = token.info.split()[0] if token.info.strip() else ""
            blocks.append(Block(f"{rel}:{token.map[0] + 1}", language, token.content, invalid))
        elif token.type == "inline" and token.map:
            for child in token.children or []:
                if child.type == "code_inline" and child.content.startswith("roomsync "):
                    spans.append((f"{rel}:{token.map[0] + 1}", child.content))
        previous = token
    return blocks, spans


def shell_lines(block: Block) -> list[str]:
    """The command lines of a shell block: `$ ` lines of a console block, every line otherwise;
    a trailing backslash, an open quote or a line that starts with `[` (a synopsis) continues
    the previous one."""
    lines: list[str] = []
    for raw in block.text.splitlines():
        if block.language == "console":
            if not raw.startswith("$ "):
                continue
            raw = raw[2:]
        if lines and (lines[-1].endswith("\\") or raw.lstrip().startswith("[") or not closed(lines[-1])):
            lines[-1] = lines[-1].rstrip("\\") + " " + raw.strip()
        else:
            lines.append(raw)
    return lines


def closed(line: str) -> bool:
    """Whether every quote of a shell line is closed."""
    try:
        shlex.split(line, comments=True)
    except ValueError:
        return False
    return True


def commands_in(line: str, where: str) -> list[Command]:
    """Every roomsync command on a shell line, with its options (values and arguments dropped)."""
    # In a synopsis, `[--format text|json]` is one option, not a pipe.
    line = re.sub(r"\[[^\]]*\]", lambda m: m.group(0).replace("|", ","), line)
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        words = list(lexer)
    except ValueError as e:
        raise AssertionError(f"{where}: cannot read the shell line {line!r}: {e}") from e
    segments: list[list[str]] = [[]]
    redirect = False
    for word in words:
        if redirect:
            redirect = False
        elif word in {">", ">>", "<", "2>"}:
            redirect = True
        elif word and set(word) <= set("&|;()"):
            segments.append([])
        else:
            segments[-1].append(word)
    found = []
    for segment in segments:
        while segment and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", segment[0]):
            segment = segment[1:]  # VAR=value before the command
        if not segment or segment[0] not in ROOMSYNC:
            continue
        words = [w.strip("[]") for w in segment[1:]]
        global_options = []
        while words and words[0].startswith("-"):
            global_options.append(words.pop(0))
            if global_options[-1] == "-C" and words:
                words.pop(0)
        name = words.pop(0) if words and re.fullmatch(r"[a-z][a-z-]*", words[0]) else None
        if name is None and words:
            continue  # `roomsync ...` or `roomsync: error: ...`: prose, not a command
        options = [m.group(0) for w in words if (m := OPTION.match(w))]
        found.append(Command(where, name, tuple(map(short, global_options)), tuple(map(short, options))))
    return found


def short(option: str) -> str:
    """-vv counts -v twice: it is the option -v."""
    return "-v" if re.fullmatch(r"-v+", option) else option


def collect() -> tuple[list[Block], list[Command]]:
    blocks: list[Block] = []
    commands: list[Command] = []
    for path in DOCS:
        found, spans = blocks_and_spans(path)
        blocks += found
        for block in found:
            if block.language in SHELL_LANGUAGES:
                for line in shell_lines(block):
                    commands += commands_in(line, block.where)
        for where, span in spans:
            commands += commands_in(span, where)
    return blocks, commands


BLOCKS, COMMANDS = collect()
YAML_BLOCKS = [b for b in BLOCKS if b.language == "yaml"]
SHELL_BLOCKS = [b for b in BLOCKS if b.language in SHELL_LANGUAGES]


# --- commands ---------------------------------------------------------------------------------


@functools.cache
def help_text(name: str | None) -> str:
    argv = [sys.executable, "-m", "roomsync", *([name] if name else []), "--help"]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert run.returncode == 0, f"`roomsync {name or ''} --help` exited {run.returncode}: {run.stderr}"
    return run.stdout


def documented(option: str, help_output: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", help_output) is not None


def cli_commands() -> list[str]:
    listing = help_text(None).split("Commands:", 1)[1]
    return [line.split()[0] for line in listing.splitlines() if line.startswith("  ") and line.split()]


@pytest.mark.parametrize("command", COMMANDS, ids=[f"{c.where}:{c.name}" for c in COMMANDS])
def test_documented_command_and_its_options_exist(command):
    for option in command.global_options:
        assert documented(option, help_text(None)), f"{command.where}: `roomsync --help` has no {option}"
    help_output = help_text(command.name)  # exits 0, or the command does not exist
    for option in command.options:
        assert documented(option, help_output), f"{command.where}: `roomsync {command.name} --help` has no {option}"


def test_every_command_of_the_cli_is_named_in_the_readme_or_the_guide():
    text = "".join(path.read_text() for path in DOCS)
    commands = cli_commands()
    assert {"validate", "plan", "sync", "local", "import"} <= set(commands)
    for name in commands:
        assert f"roomsync {name}" in text, f"`roomsync {name}` appears neither in README.md nor in doc/source/"
    # and the checker above saw each of them used in a command or a code span
    assert {c.name for c in COMMANDS} >= set(commands)


def test_scripts_named_in_shell_blocks_exist():
    scripts = {w for b in SHELL_BLOCKS for line in shell_lines(b) for w in line.split() if w.startswith("./scripts/")}
    assert {"./scripts/demo", "./scripts/test"} <= scripts
    for script in scripts:
        assert os.access(REPO / script, os.X_OK), f"{script} is named in the docs but is no executable"


def test_the_command_reader_finds_commands_options_and_nothing_else():
    line = "X=1 roomsync -C ../rooms -vv plan [--format text|json] --out=p.json > log && roomsync sync --yes &"
    assert commands_in(line, "t") == [
        Command("t", "plan", ("-C", "-v"), ("--format", "--out")),
        Command("t", "sync", (), ("--yes",)),
    ]
    assert commands_in("roomsync: error: cannot read", "t") == []
    assert commands_in("roomsync -C DIR ...", "t") == []
    assert commands_in("rm -f x; roomsync -C ../rooms local &", "t") == [Command("t", "local", ("-C",), ())]
    # a renamed option is caught
    assert documented("--detailed-exitcode", help_text("plan"))
    assert not documented("--detailed-exit", help_text("plan"))


# --- YAML blocks ------------------------------------------------------------------------------


def settings_keys() -> set[str]:
    return set(json.loads((REPO / "schema" / "roomsync.schema.json").read_text())["properties"])


def kind_of(data: Any) -> str | None:
    if isinstance(data, dict):
        if set(data) == {"rooms"}:
            return "rooms"
        if set(data) == {"bots"}:
            return "bots"
        if data and set(data) <= {"lists", "follow"}:
            return "policies"
        if "repos" in data:
            return "pre-commit"
        if data and set(data) <= settings_keys():
            return "settings" if "server_name" in data else "settings part"
    if isinstance(data, list) and data and all(isinstance(e, dict) for e in data):
        if all("alias" in e for e in data):
            return "room entries"
        if all({"name", "user"} <= set(e) for e in data):
            return "bot entries"
        if all(len(e) == 1 and next(iter(e)) in ZUUL_KINDS for e in data):
            return "zuul"
    return None


def load(block: Block) -> Any:
    return yaml.safe_load(textwrap.dedent(block.text))


def groups_before(block: Block) -> dict[str, Any]:
    """The groups that roomsync.yaml blocks earlier on the block's page define: a page that shows
    groups can then use them in its room examples."""
    file = block.where.rsplit(":", 1)[0]
    groups: dict[str, Any] = {}
    for earlier in YAML_BLOCKS[: YAML_BLOCKS.index(block)]:
        data = load(earlier) if earlier.where.rsplit(":", 1)[0] == file and earlier.invalid is None else None
        if kind_of(data) in ("settings", "settings part") and isinstance(data.get("groups"), dict):
            groups.update(data["groups"])
    return groups


def repo_config(
    directory: Path,
    without_rooms: frozenset[str] = frozenset(),
    without_bots: frozenset[str] = frozenset(),
    groups: dict[str, Any] | None = None,
) -> None:
    """This repository's config in directory, less the named rooms and bots (the block replaces them),
    with `groups` added to its roomsync.yaml."""
    (directory / "rooms").mkdir(parents=True)
    settings = yaml.safe_load((REPO / "roomsync.yaml").read_text())
    (directory / "roomsync.yaml").write_text(yaml.safe_dump({**settings, **({"groups": groups} if groups else {})}))
    for path in sorted((REPO / "rooms").glob("*.y*ml")):
        entries = [e for e in yaml.safe_load(path.read_text())["rooms"] if e["alias"] not in without_rooms]
        if entries:
            (directory / "rooms" / path.name).write_text(yaml.safe_dump({"rooms": entries}, sort_keys=False))
    shutil.copytree(REPO / "avatars", directory / "avatars")  # the images the rooms name
    bots = [b for b in yaml.safe_load((REPO / "bots.yaml").read_text())["bots"] if b["name"] not in without_bots]
    (directory / "bots.yaml").write_text(yaml.safe_dump({"bots": bots}, sort_keys=False))


def config_around(block: Block, kind: str, directory: Path) -> None:
    """A config directory holding the block where it belongs and what it needs around it."""
    groups = groups_before(block)
    text = textwrap.dedent(block.text)
    data = yaml.safe_load(text)
    if kind == "settings":  # a whole roomsync.yaml: on its own, with one room
        (directory / "rooms").mkdir(parents=True)
        (directory / "roomsync.yaml").write_text(text)
        (directory / "rooms" / "guide.yaml").write_text("rooms:\n  - alias: guide-check\n")
    elif kind == "settings part":
        repo_config(directory)
        settings = yaml.safe_load((REPO / "roomsync.yaml").read_text()) | ({"groups": groups} if groups else {}) | data
        (directory / "roomsync.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    elif kind in ("rooms", "room entries"):
        entries = data["rooms"] if kind == "rooms" else data
        replaced = {e["alias"] for e in entries} | {f for e in entries for f in e.get("formerly", [])}
        repo_config(directory, without_rooms=frozenset(replaced), groups=groups)
        # written as it is in the doc, so that a problem's line is the block's
        (directory / "rooms" / "zz-guide.yaml").write_text(text if kind == "rooms" else "rooms:\n" + text)
    elif kind == "bots":
        repo_config(directory)
        (directory / "bots.yaml").write_text(text)
    elif kind == "policies":  # policies.yaml, with the rooms its lists name declared
        repo_config(directory)
        lists = [{"alias": entry["room"]} for entry in data.get("lists") or [] if isinstance(entry, dict)]
        (directory / "rooms" / "zz-lists.yaml").write_text(yaml.safe_dump({"rooms": lists}) if lists else "rooms: []\n")
        (directory / "policies.yaml").write_text(text)
    elif kind == "bot entries":
        repo_config(directory, without_bots=frozenset(e["name"] for e in data))
        bots = yaml.safe_load((directory / "bots.yaml").read_text())["bots"]
        (directory / "bots.yaml").write_text(yaml.safe_dump({"bots": bots + data}, sort_keys=False))


def validate(directory: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROOMSYNC_")}
    argv = [sys.executable, "-m", "roomsync", "-C", str(directory), "validate"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, cwd=REPO)


CONFIG_KINDS = {"settings", "settings part", "rooms", "room entries", "bots", "bot entries", "policies"}


@pytest.mark.parametrize("block", YAML_BLOCKS, ids=[b.where for b in YAML_BLOCKS])
def test_yaml_block(block, tmp_path):
    kind = kind_of(load(block))
    assert kind is not None, (
        f"{block.where}: a YAML block that is no roomsync.yaml, rooms file, bots.yaml, Zuul or pre-commit "
        "config: make it one of those (or a part of one), or show it in another language"
    )
    if kind in CONFIG_KINDS:
        config_around(block, kind, tmp_path / "config")
        run = validate(tmp_path / "config")
        output = run.stdout + run.stderr
        if block.invalid is None:
            assert run.returncode == 0, f"{block.where} ({kind}) does not validate:\n{output}"
        else:
            assert run.returncode == 1, f"{block.where} is marked invalid but validates:\n{output}"
            assert block.invalid in output, f"{block.where}: expected {block.invalid!r} in:\n{output}"
            assert "Traceback" not in output
    else:
        assert block.invalid is None, f"{block.where}: only configs can be marked invalid"
        check_ci_block(block, kind)


def check_ci_block(block: Block, kind: str) -> None:
    data = load(block)
    if kind == "pre-commit":
        hooks = {h["id"] for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
        for repo in data["repos"]:
            for hook in repo["hooks"]:
                assert hook["id"] in hooks, f"{block.where}: no hook {hook['id']} in .pre-commit-hooks.yaml"
        return
    zuul = yaml.load((REPO / ".zuul.yaml").read_text(), Loader=ZuulLoader)
    jobs = {e["job"]["name"] for e in zuul if "job" in e}
    ansible = "".join(p.read_text() for p in [*REPO.glob("playbooks/**/*.yaml"), *REPO.glob("roles/**/*.yaml")])
    for entry in data:
        job = entry.get("job")
        if job is None:
            continue
        assert job.get("parent") in jobs, f"{block.where}: parent {job.get('parent')} is no job of .zuul.yaml"
        for name in [s["name"] for s in job.get("secrets", [])] + list(job.get("vars", {})):
            assert name in ansible, f"{block.where}: {name} is read by no playbook or role"


def test_the_guide_has_blocks_of_every_kind_and_an_invalid_one():
    kinds = {kind_of(load(b)) for b in YAML_BLOCKS}
    assert CONFIG_KINDS | {"zuul", "pre-commit"} <= kinds
    assert any(b.invalid for b in YAML_BLOCKS)
