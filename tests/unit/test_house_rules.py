"""The shape the code keeps: small classes and functions, a planner without I/O, and the
contributors' pre-commit hooks at the versions ./scripts/test runs."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "roomsync"
MAX_CLASS_LINES = 250
MAX_FUNCTION_LINES = 80
# What the planner may not import: it turns config and a snapshot into actions, nothing more.
IO_MODULES = {"asyncio", "aiohttp", "nio", "socket", "subprocess", "urllib", "http", "requests"}
IO_SIBLINGS = {"client", "observe", "apply", "cli", "localserver", "localsynapse"}


def _definitions() -> list[tuple[str, ast.AST, int]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno is not None
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                found.append((f"{path.relative_to(ROOT)}:{node.lineno} {node.name}", node, node.end_lineno - first + 1))
    return found


def test_no_class_over_250_lines() -> None:
    big = [(name, size) for name, node, size in _definitions() if isinstance(node, ast.ClassDef)]
    assert big, "no class found: the walk is broken"
    assert [(n, s) for n, s in big if s > MAX_CLASS_LINES] == []


def test_no_function_over_80_lines() -> None:
    functions = [(n, s) for n, node, s in _definitions() if not isinstance(node, ast.ClassDef)]
    assert len(functions) > 100, "too few functions found: the walk is broken"
    assert [(n, s) for n, s in functions if s > MAX_FUNCTION_LINES] == []


def test_the_planner_does_no_io() -> None:
    offending = []
    for path in sorted((PACKAGE / "plan").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module or ""]
            elif isinstance(node, ast.ImportFrom) and node.level == 2:  # from ..client import x
                modules = [f"roomsync.{node.module}"] if node.module else [f"roomsync.{a.name}" for a in node.names]
            else:
                continue
            offending += [f"{path.relative_to(ROOT)}: {m}" for m in modules if _does_io(m)]
    assert offending == []


def _does_io(module: str) -> bool:
    parts = module.split(".")
    return parts[0] in IO_MODULES or (parts[0] == "roomsync" and len(parts) > 1 and parts[1] in IO_SIBLINGS)


def _pins(requirements: list[str]) -> dict[str, str]:
    """{"ruff": "==0.17.6", "click": ">=8.1"} from requirement strings."""
    split = (re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", r) for r in requirements)
    return {m.group(1).lower(): m.group(2) for m in split if m}


def test_pre_commit_hooks_use_the_linters_of_scripts_test() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lint = _pins(project["optional-dependencies"]["lint"])
    hooks = {
        hook["id"]: hook
        for repo in yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))["repos"]
        for hook in repo["hooks"]
    }
    assert set(hooks) == {"ruff-check", "ruff-format", "mypy"}
    for hook_id, tool in (("ruff-check", "ruff"), ("ruff-format", "ruff"), ("mypy", "mypy")):
        hook_pins = _pins(hooks[hook_id]["additional_dependencies"])
        assert hook_pins[tool] == lint[tool], hook_id
        assert lint[tool].startswith("=="), f"{tool} is pinned, so a new release cannot fail CI overnight"
    # mypy follows the project's imports: every runtime dependency must be in its environment.
    runtime = set(_pins(project["dependencies"]))
    assert runtime <= set(_pins(hooks["mypy"]["additional_dependencies"]))
