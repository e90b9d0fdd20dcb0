"""Load a YAML file into plain data while remembering where every node was.

PyYAML alone keeps the last of two duplicate keys and forgets positions; here
each value and each mapping key keeps its Mark so that every later check can
point at the exact node, and duplicate keys, aliases and oversized input are
refused before they can do harm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import Mark, Problem

MAX_FILE_BYTES = 1_000_000  # a rooms file of ~10,000 rooms; anything larger is a mistake
MAX_DEPTH = 64

Path_ = tuple[Any, ...]  # a path into the loaded data: keys and list indexes


@dataclass
class LoadedFile:
    display: str  # the file name as messages show it
    data: Any = None
    values: dict[Path_, Mark] = field(default_factory=dict)
    keys: dict[Path_, Mark] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def mark(self, path: Path_, *, key: bool = False) -> Mark:
        """The mark of the node at path (its key if key=True), or of its nearest parent."""
        path = tuple(path)
        if key and path in self.keys:
            return self.keys[path]
        while path not in self.values and path:
            path = path[:-1]
        return self.values.get(path, Mark(self.display, 1, 1))

    def problem(self, path: Path_, message: str, *, key: bool = False) -> Problem:
        return Problem(self.mark(path, key=key), message)


def _mark(display: str, yaml_mark: yaml.Mark | None) -> Mark:
    if yaml_mark is None:
        return Mark(display, 1, 1)
    return Mark(display, yaml_mark.line + 1, yaml_mark.column + 1)


def _decode(raw: bytes, display: str) -> tuple[str | None, Problem | None]:
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        return None, Problem(Mark(display, line, column), f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})")


def load_yaml(path: Path, display: str) -> LoadedFile:
    """Read one YAML file. Problems are collected in the result, never raised."""
    loaded = LoadedFile(display)
    start = Mark(display, 1, 1)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            loaded.problems.append(Problem(start, f"file is {size} bytes; the limit is {MAX_FILE_BYTES}"))
            return loaded
        raw = path.read_bytes()
    except FileNotFoundError:
        loaded.problems.append(Problem(start, "file not found"))
        return loaded
    except OSError as exc:
        loaded.problems.append(Problem(start, f"cannot read file: {exc.strerror or exc}"))
        return loaded
    text, problem = _decode(raw, display)
    if problem:
        loaded.problems.append(problem)
        return loaded

    try:
        # Aliases let a few lines expand into gigabytes ("billion laughs"); config never needs them.
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                loaded.problems.append(
                    Problem(_mark(display, event.start_mark), f"YAML aliases (*{event.anchor}) are not allowed")
                )
                return loaded
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                loaded.data = _Converter(loader, loaded).convert(node, (), 0)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or exc.context or "invalid YAML"
        loaded.problems.append(Problem(_mark(display, mark), f"invalid YAML: {message}"))
    except yaml.YAMLError as exc:
        loaded.problems.append(Problem(start, f"invalid YAML: {exc}"))
    except RecursionError:
        loaded.problems.append(Problem(start, "invalid YAML: nesting is too deep"))
    return loaded


class _Converter:
    def __init__(self, loader: yaml.SafeLoader, loaded: LoadedFile):
        self.loader = loader
        self.loaded = loaded

    def convert(self, node: yaml.Node, path: Path_, depth: int) -> Any:
        loaded = self.loaded
        loaded.values[path] = _mark(loaded.display, node.start_mark)
        if depth > MAX_DEPTH:
            loaded.problems.append(loaded.problem(path, f"nesting deeper than {MAX_DEPTH} levels"))
            return None
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key_mark = _mark(loaded.display, key_node.start_mark)
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    loaded.problems.append(Problem(key_mark, "mapping keys must be plain strings"))
                    continue
                key = key_node.value
                if key in result:
                    first = loaded.keys[path + (key,)]
                    loaded.problems.append(
                        Problem(key_mark, f"duplicate key '{key}' (first defined at line {first.line})")
                    )
                    continue
                loaded.keys[path + (key,)] = key_mark
                result[key] = self.convert(value_node, path + (key,), depth + 1)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            loaded.problems.append(loaded.problem(path, f"invalid value: {exc.problem}"))
            return None
