"""roomsync.config.load_config on known-bad and known-good config directories (offline).

Every directory under tests/data/bad/ is a complete config with one deliberate
problem and an expect.txt:

    line 1: the FILE:LINE:COLUMN the problem must be reported at (FILE relative to the case dir)
    line 2: a substring the message must contain
    line 3: (optional) how many problems the case yields, when one mistake honestly causes more; default 1
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roomsync.config import load_config
from roomsync.errors import ConfigError, Mark, Problem
from roomsync.yamlfile import MAX_DEPTH, MAX_FILE_BYTES

DATA = Path(__file__).resolve().parent.parent / "data"
BAD = DATA / "bad"
GOOD = DATA / "good"
REPO = Path(__file__).resolve().parents[2]
PROBLEM_LINE = re.compile(r"^[^:\n]+:\d+:\d+: [^\n]+$")

SETTINGS = "server_name: example.org\n"


@dataclass(frozen=True)
class Expect:
    prefix: str  # FILE:LINE:COLUMN
    substring: str
    count: int


def read_expect(case: Path) -> Expect:
    lines = (case / "expect.txt").read_text(encoding="utf-8").splitlines()
    return Expect(lines[0], lines[1], int(lines[2]) if len(lines) > 2 and lines[2].strip() else 1)


BAD_CASES = sorted(p for p in BAD.iterdir() if (p / "expect.txt").is_file())


def load_problems(root: Path) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load_config(root)
    return caught.value.problems


def check_well_formed(problems: list[Problem]) -> None:
    assert problems, "ConfigError without problems"
    order = {"roomsync.yaml": 0, "bots.yaml": 2}  # files in the order they are read, rooms files between
    files = [p.mark.file for p in problems]
    assert files == sorted(files, key=lambda f: (order.get(Path(f).name, 1), files.index(f)))
    for file in set(files):
        assert [p for p in problems if p.mark.file == file] == sorted(p for p in problems if p.mark.file == file)
    for problem in problems:
        assert isinstance(problem.mark, Mark)
        assert problem.mark.line >= 1 and problem.mark.column >= 1
        assert PROBLEM_LINE.match(str(problem)), f"not one FILE:LINE:COLUMN: message line: {str(problem)!r}"


def test_there_are_enough_bad_cases() -> None:
    assert len(BAD_CASES) >= 40
    for case in BAD_CASES:
        # A case is a whole config dir (missing-settings-file lacks roomsync.yaml on purpose).
        assert (case / "rooms").is_dir() or (case / "roomsync.yaml").is_file(), case.name
        expect = read_expect(case)
        assert re.fullmatch(r"[^:]+:\d+:\d+", expect.prefix), f"{case.name}: bad expect.txt prefix"
        assert (case / expect.prefix.split(":")[0]).exists() or "not found" in expect.substring, case.name


@pytest.mark.parametrize("case", BAD_CASES, ids=[c.name for c in BAD_CASES])
def test_bad_case(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expect = read_expect(case)
    monkeypatch.chdir(case)  # so that problems show paths relative to the case dir
    problems = load_problems(Path("."))
    shown = "\n".join(str(p) for p in problems)

    check_well_formed(problems)
    assert str(problems[0]).startswith(expect.prefix + ": "), f"expected {expect.prefix}, got:\n{shown}"
    at_place = [p for p in problems if str(p.mark) == expect.prefix]
    assert any(expect.substring in p.message for p in at_place), f"no {expect.substring!r} at {expect.prefix}:\n{shown}"
    assert len(problems) == expect.count, f"expected {expect.count} problem(s), got:\n{shown}"


# --- size and expansion limits, generated here rather than committed ------------------------------


def write_config(root: Path, rooms: str | bytes, settings_text: str = SETTINGS) -> Path:
    (root / "rooms").mkdir(parents=True, exist_ok=True)
    (root / "roomsync.yaml").write_text(settings_text, encoding="utf-8")
    target = root / "rooms" / "a.yaml"
    if isinstance(rooms, bytes):
        target.write_bytes(rooms)
    else:
        target.write_text(rooms, encoding="utf-8")
    return root


def test_file_over_the_size_limit_is_refused_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = "  - alias: room{i}\n    name: Room {i}\n    topic: A topic long enough to fill the file up\n"
    text = "rooms:\n"
    parts = [text]
    size, i = len(text), 0
    while size <= MAX_FILE_BYTES + 10_000:
        part = entry.format(i=i)
        parts.append(part)
        size += len(part)
        i += 1
    write_config(tmp_path, "".join(parts))
    monkeypatch.chdir(tmp_path)
    problems = load_problems(Path("."))
    check_well_formed(problems)
    assert len(problems) == 1
    assert str(problems[0]).startswith("rooms/a.yaml:1:1: ")
    assert "limit" in problems[0].message and str(MAX_FILE_BYTES) in problems[0].message


def test_a_large_rooms_file_loads_every_room(tmp_path: Path) -> None:
    # Speed is measured by scripts/bench.py validate (20,000 rooms), not asserted here.
    entry = (
        "  - alias: room{i}\n    name: Room number {i}\n    topic: A reasonably long topic for room {i}\n"
        "    power_levels:\n      users:\n        '@user{i}:example.org': 50\n"
    )
    write_config(tmp_path, "rooms:\n" + "".join(entry.format(i=i) for i in range(5000)))
    config = load_config(tmp_path)
    assert [r.alias for r in config.rooms] == [f"room{i}" for i in range(5000)]
    assert config.rooms[4999].get("power_levels") == {"users": {"@user4999:example.org": 50}}


def test_huge_flow_list_is_read_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tiny nodes are the slowest shape for a YAML parser (pure-Python PyYAML: ~15 s per MB).
    text = "rooms:\n  - alias: general\n    alt_aliases: [" + ", ".join(["a"] * 150_000) + "]\n"
    assert len(text) < MAX_FILE_BYTES
    write_config(tmp_path, text)
    monkeypatch.chdir(tmp_path)
    problems = load_problems(Path("."))
    assert str(problems[0]).startswith("rooms/a.yaml:3:18: alt_aliases lists the same entry twice")


@pytest.mark.parametrize("levels", [10, 20])
def test_billion_laughs_is_refused_before_expanding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, levels: int
) -> None:
    lines = ["rooms:", "  - alias: general", "    topic: &l0 lol"]
    lines += [f"x{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    write_config(tmp_path, "\n".join(lines) + "\n")
    monkeypatch.chdir(tmp_path)
    problems = load_problems(Path("."))  # expanded, this would be 10**levels nodes: it would never end
    assert [str(p) for p in problems] == ["rooms/a.yaml:4:10: YAML aliases (*l0) are not allowed"]


def test_deep_nesting_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    depth = 50_000  # far past Python's recursion limit if anything recursed on it
    write_config(tmp_path, "rooms: " + "[" * depth + "]" * depth + "\n")
    monkeypatch.chdir(tmp_path)
    problems = load_problems(Path("."))
    check_well_formed(problems)
    assert len(problems) == 1
    assert f"nesting deeper than {MAX_DEPTH} levels" in problems[0].message
    assert problems[0].mark.file == "rooms/a.yaml"


# --- whatever the bytes, a ConfigError with one-line problems, never another exception ----------------

YAMLISH = st.text(
    alphabet=st.sampled_from([*list("rooms:alias- \n\t'\"[]{},#&*!|>@%`?\\0123456789abcxyzé"), "\x00", "\u2028"]),
    max_size=120,
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(text=YAMLISH)
def test_any_rooms_text_gives_config_or_clean_problems(tmp_path: Path, text: str) -> None:
    root = write_config(tmp_path / "cfg", "rooms:\n  - alias: general\n" + text)
    try:
        load_config(root)
    except ConfigError as exc:
        check_well_formed(exc.problems)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(raw=st.binary(max_size=80))
def test_any_bytes_give_config_or_clean_problems(tmp_path: Path, raw: bytes) -> None:
    root = write_config(tmp_path / "cfg", raw)
    try:
        load_config(root)
    except ConfigError as exc:
        check_well_formed(exc.problems)


# --- good configs --------------------------------------------------------------------------------------


def test_good_config_loads_with_defaults_merged() -> None:
    config = load_config(GOOD)
    assert config.server_name == "example.org"
    assert config.homeserver == "https://matrix.example.org"
    rooms = {room.alias: room for room in config.rooms}
    assert sorted(rooms) == ["door", "lobby", "ops"]

    lobby, ops, door = rooms["lobby"], rooms["ops"], rooms["door"]
    # A default applies where the room leaves the field out ...
    assert lobby.fields["join_rule"] == "public"
    assert lobby.fields["history_visibility"] == "world_readable"
    assert lobby.fields["encrypted"] is False
    assert lobby.fields["power_levels"] == {"state_default": 50, "ban": 50}
    # ... and the room's own value wins where it sets one.
    assert ops.fields["join_rule"] == "invite"
    assert ops.fields["history_visibility"] == "shared"
    assert ops.fields["encrypted"] is True
    assert ops.fields["guest_access"] == "forbidden"  # still the default
    assert door.fields["join_rule"] == "knock" and door.fields["room_version"] == "10"

    # A field set nowhere is not managed at all.
    for room in (lobby, ops, door):
        assert "alias" not in room.fields
        assert "room_version" not in room.fields or room is door
        assert not room.manages("topic") or room is lobby
    assert "avatar" not in lobby.fields and not lobby.manages("avatar")
    assert "directory" not in lobby.fields
    assert door.fields["avatar"] == "mxc://example.org/AbCdEf123"

    # alt_aliases are kept, in order; a room without them does not manage them.
    assert lobby.alt_aliases == ("hall", "welcome")
    assert ops.alt_aliases is None and "alt_aliases" not in ops.fields

    assert ops.fields["power_levels"]["users"] == {
        "@alice:example.org": 100,
        "@bob.smith_2:matrix.example.com:8448": 50,
    }
    assert ops.fields["power_levels"]["ban"] == -(2**53 - 1)
    assert "state_default" not in ops.fields["power_levels"]  # a room's power_levels replaces the default's whole
    assert ops.fields["power_levels"]["kick"] == 2**53 - 1
    assert config.alias("lobby") == "#lobby:example.org"


def test_good_config_marks_point_at_room_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GOOD)
    config = load_config(Path("."))
    marks = {room.alias: str(room.mark) for room in config.rooms}
    assert marks == {
        "lobby": "rooms/community.yaml:2:5",
        "ops": "rooms/community.yaml:7:5",
        "door": "rooms/knock.yaml:3:5",
    }


def test_repository_config_is_valid() -> None:
    config = load_config(REPO)
    assert config.server_name == "opendev.org"
    aliases = {room.alias for room in config.rooms}
    assert {"zuul", "opendev", "opendev-meeting"} <= aliases
    assert len(aliases) == len(config.rooms)


def test_config_without_rooms_dir_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "roomsync.yaml").write_text(SETTINGS, encoding="utf-8")
    (tmp_path / "bots.yaml").write_text('bots:\n  - {name: b, user: "@b:example.org", rooms: [general]}\n')
    monkeypatch.chdir(tmp_path)
    problems = load_problems(Path("."))
    # Only the cause: without rooms/ every room is unknown, which is not worth a line per bot room.
    assert [str(p) for p in problems] == [
        "roomsync.yaml:1:1: there is no rooms/ directory next to this file: declare the rooms in rooms/*.yaml"
    ]


def test_rooms_dir_without_rooms_files_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, "rooms: []\n")
    (tmp_path / "rooms" / "a.yaml").rename(tmp_path / "rooms" / "a.json")
    monkeypatch.chdir(tmp_path)
    problems = load_problems(Path("."))
    assert len(problems) == 1 and "holds no .yaml or .yml file" in problems[0].message


def test_yml_rooms_files_are_read_like_yaml(tmp_path: Path) -> None:
    write_config(tmp_path, "rooms:\n  - alias: general\n")
    (tmp_path / "rooms" / "extra.yml").write_text("rooms:\n  - alias: extra\n", encoding="utf-8")
    (tmp_path / "rooms" / "Upper.YAML").write_text("rooms:\n  - alias: upper\n", encoding="utf-8")
    assert sorted(r.alias for r in load_config(tmp_path).rooms) == ["extra", "general", "upper"]


def test_a_yml_file_is_checked_like_any_rooms_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, "rooms:\n  - alias: general\n")
    (tmp_path / "rooms" / "extra.yml").write_text("rooms:\n  - alias: Extra\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert [str(p.mark) for p in load_problems(Path("."))] == ["rooms/extra.yml:2:12"]


def test_rooms_files_in_a_subdirectory_are_refused_not_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, "rooms:\n  - alias: general\n")
    (tmp_path / "rooms" / "zuul").mkdir()
    (tmp_path / "rooms" / "zuul" / "zuul.yaml").write_text("rooms:\n  - alias: zuul\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    problems = load_problems(Path("."))
    assert [str(p.mark) for p in problems] == ["rooms/zuul/zuul.yaml:1:1"]
    assert "directly in rooms/" in problems[0].message


BROKEN_ROOMS_FILES = {
    "typo in a key": "rooms:\n  - alias: general\n    nmae: General\n",
    "bad indent": "rooms:\n  - alias: general\n   name: General\n",
    "a tab": "rooms:\n\t- alias: general\n",
    "bad value": "rooms:\n  - alias: general\n    join_rule: everyone\n",
    "not a list": "rooms: general\n",
}


@pytest.mark.parametrize("mistake", sorted(BROKEN_ROOMS_FILES))
def test_one_mistake_in_a_rooms_file_is_the_only_problem(
    mistake: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Bots and spaces that name the broken file's rooms must not add "unknown room" lines.
    write_config(tmp_path, BROKEN_ROOMS_FILES[mistake])
    (tmp_path / "rooms" / "b.yaml").write_text(
        "rooms:\n  - alias: dev\n    spaces: [community]\n  - alias: community\n    type: space\n"
        "  - alias: misc\n    join_rule: restricted\n    spaces: [general]\n",
        encoding="utf-8",
    )
    (tmp_path / "bots.yaml").write_text(
        'bots:\n  - {name: b, user: "@b:example.org", rooms: [general, dev]}\n', encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    problems = load_problems(Path("."))
    assert [p.mark.file for p in problems] == ["rooms/a.yaml"], [str(p) for p in problems]


def test_missing_server_name_gives_no_message_with_a_blank_in_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path, "rooms:\n  - alias: general\n", settings_text="account: '@rs:example.org'\n")
    (tmp_path / "bots.yaml").write_text(
        'bots:\n  - {name: b, user: "@b:example.org", rooms: [general], token_env: B_TOKEN}\n', encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    problems = load_problems(Path("."))
    assert [str(p) for p in problems] == ["roomsync.yaml:1:1: missing required field 'server_name'"]


def test_homeserver_with_a_matrix_path_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(
        tmp_path,
        "rooms:\n  - alias: general\n",
        settings_text="server_name: example.org\nhomeserver: https://matrix.example.org/_matrix/client\n",
    )
    monkeypatch.chdir(tmp_path)
    problems = load_problems(Path("."))
    assert [str(p.mark) for p in problems] == ["roomsync.yaml:2:13"]
    assert "base URL" in problems[0].message and "'https://matrix.example.org'" in problems[0].message


def test_problems_in_several_files_are_all_reported_sorted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, "rooms:\n  - alias: General\n")
    (tmp_path / "rooms" / "b.yaml").write_text("rooms:\n  - alias: ok\n    encrypted: maybe\n", encoding="utf-8")
    (tmp_path / "roomsync.yaml").write_text("server_name: example.org\nextra: 1\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    problems = load_problems(Path("."))
    check_well_formed(problems)
    assert [str(p.mark) for p in problems] == ["roomsync.yaml:2:1", "rooms/a.yaml:2:12", "rooms/b.yaml:3:16"]


def test_absolute_paths_outside_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_config(tmp_path / "cfg", "rooms:\n  - alias: Bad\n")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    problems = load_problems(root)
    assert str(problems[0]).startswith(f"{root / 'rooms' / 'a.yaml'}:2:12: ")
