"""Load a YAML file into plain data while remembering where every node was.

PyYAML alone keeps the last of two duplicate keys and forgets positions; here
each value and each mapping key keeps its Mark so that every later check can
point at the exact node, and duplicate keys, aliases and oversized input are
refused before they can do harm.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from .errors import Mark, Problem

MAX_FILE_BYTES = 32 * 1024 * 1024  # far beyond any community (20,000 rooms take 4.6 MB); a bigger file is a mistake
MAX_DEPTH = 64

Path_ = tuple[Any, ...]  # a path into the loaded data: keys and list indexes


@dataclass
class LoadedFile:
    display: str  # the file name as messages show it
    data: Any = None
    # (line, column) of every value and mapping key, 1-based; a Mark is only made when asked for.
    values: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def mark(self, path: Path_, *, key: bool = False) -> Mark:
        """The mark of the node at path (its key if key=True), or of its nearest parent."""
        path = tuple(path)
        if key and path in self.keys:
            return Mark(self.display, *self.keys[path])
        while path not in self.values and path:
            path = path[:-1]
        return Mark(self.display, *self.values.get(path, (1, 1)))

    def problem(self, path: Path_, message: str, *, key: bool = False) -> Problem:
        return Problem(self.mark(path, key=key), one_line(message))


def one_line(message: str) -> str:
    """The message with line breaks and other control characters escaped: a problem is one line."""
    if message.isprintable():
        return message
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


class _YamlMark(Protocol):
    """Where PyYAML (pure Python or libyaml) says a node or an error is, counted from 0."""

    line: int
    column: int


def _mark(display: str, yaml_mark: _YamlMark | None) -> Mark:
    if yaml_mark is None:
        return Mark(display, 1, 1)
    return Mark(display, yaml_mark.line + 1, yaml_mark.column + 1)


def _decode(raw: bytes, display: str) -> str | Problem:
    """The text, or where it stops being UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        # Columns count characters, as YAML marks (and editors) do, not bytes.
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", errors="replace")) + 1
        return Problem(Mark(display, line, column), f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})")


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
    text = _decode(raw, display)
    if isinstance(text, Problem):
        loaded.problems.append(text)
        return loaded

    try:
        _parse(text, loaded, _FAST_LOADER or yaml.SafeLoader)
    except yaml.YAMLError as fast_error:
        error = fast_error
        if _FAST_LOADER is not None:
            # libyaml is fast but terse; the pure-Python parser words its errors better.
            retry = LoadedFile(display)
            try:
                _parse(text, retry, yaml.SafeLoader)
                if retry.data is None and retry.problems:  # an alias or deep nesting before the error
                    return retry
            except yaml.YAMLError as slow_error:
                error = slow_error
            except RecursionError:
                pass
        loaded = LoadedFile(display)
        loaded.problems.append(_yaml_error_problem(error, text, display))
    except RecursionError:
        loaded.problems.append(Problem(start, "invalid YAML: nesting is too deep"))
    return loaded


# libyaml parses a 1 MB file in well under a second; pure Python takes over ten.
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)


class _AliasUsed(Exception):
    """A node was reached twice: the document uses a YAML alias."""


class _TooDeep(Exception):
    """Collections nested deeper than MAX_DEPTH; carries the problem, at the first too deep."""

    def __init__(self, problem: Problem):
        self.problem = problem


def _parse(text: str, loaded: LoadedFile, loader_class: type) -> None:
    """Parse text into loaded.data, or raise yaml.YAMLError."""
    # The pure-Python composer recurses: check aliases and depth on the event stream first.
    if loader_class is not _FAST_LOADER and not _check_events(text, loaded, loader_class):
        return
    # libyaml refuses nesting deeper than 1000 itself and composes an alias as the same node
    # object again: the converter notices that before expanding anything, and only then is the
    # event stream read, to say where the alias is.
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            loaded.data = _Converter(loader, loaded).convert(node, (), 0)
    except (_AliasUsed, _TooDeep) as refused:
        # Nothing of the document is used: every later check would only echo this one.
        loaded.data = None
        loaded.values.clear()
        loaded.keys.clear()
        if isinstance(refused, _TooDeep):
            loaded.problems.append(refused.problem)
        else:
            _check_events(text, loaded, loader_class)
    finally:
        loader.dispose()


def _check_events(text: str, loaded: LoadedFile, loader_class: type) -> bool:
    """Refuse aliases ("billion laughs") and deep nesting on the event stream; False if refused."""
    display = loaded.display
    depth = 0
    for event in yaml.parse(text, Loader=loader_class):
        if isinstance(event, yaml.AliasEvent):
            loaded.problems.append(
                Problem(_mark(display, event.start_mark), one_line(f"YAML aliases (*{event.anchor}) are not allowed"))
            )
            return False
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                loaded.problems.append(
                    Problem(_mark(display, event.start_mark), f"nesting deeper than {MAX_DEPTH} levels")
                )
                return False
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return True


# Contexts naming a construct that was opened and not properly closed: point at its start.
_OPENED = {
    "while parsing a flow sequence": "the [ ] list",
    "while parsing a flow mapping": "the { } mapping",
    "while scanning a quoted scalar": "the quoted string",
    "while scanning a simple key": "the key",
    "while scanning a block scalar": "the block text",
}


def _yaml_error_problem(error: yaml.YAMLError, text: str, display: str) -> Problem:
    """One line for one YAML error, at the node it is about."""
    if isinstance(error, yaml.reader.ReaderError):
        before = text[: error.position]
        line = before.count("\n") + 1
        column = error.position - (before.rfind("\n") + 1) + 1
        character = error.character if isinstance(error.character, int) else ord(str(error.character)[:1] or "?")
        return Problem(
            Mark(display, line, column),
            f"invalid YAML: character U+{character:04X} is not allowed (YAML files hold only printable characters)",
        )
    if not isinstance(error, yaml.MarkedYAMLError):
        return Problem(Mark(display, 1, 1), one_line(f"invalid YAML: {error}"))
    problem = (error.problem or "").replace("'<stream end>'", "the end of the file")
    problem = problem.replace("end of stream", "end of the file")
    context = error.context or ""
    mark = error.problem_mark or error.context_mark
    if not problem:
        message = context or "invalid YAML"
    elif context in _OPENED and error.context_mark is not None and error.problem_mark is not None:
        found = error.problem_mark
        message = (
            f"{problem} at line {found.line + 1}, column {found.column + 1} (in {_OPENED[context]} that starts here)"
        )
        mark = error.context_mark
    elif context.startswith("expected "):  # "expected a single document in the stream"
        message = f"{context}, {problem}"
    elif "that cannot start any token" in problem and "'\\t'" in problem:
        message = "a tab character: YAML indentation must use spaces"
    elif "that cannot start any token" in problem and re.search(r"'[@`]'", problem):
        message = f"{problem}; put the value in quotes, e.g. '@alice:example.org'"
    elif "expected <block end>" in problem or problem == "mapping values are not allowed here":
        message = f"{problem} (check the indentation, and quote values that contain ': ')"
    else:
        message = problem
    return Problem(_mark(display, mark), one_line(f"invalid YAML: {message}"))


_STANDARD_TAG = "tag:yaml.org,2002:"
_COLLECTION_TAGS = {yaml.MappingNode: _STANDARD_TAG + "map", yaml.SequenceNode: _STANDARD_TAG + "seq"}


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_STANDARD_TAG) :] if tag.startswith(_STANDARD_TAG) else tag


class _Converter:
    def __init__(self, loader: yaml.SafeLoader, loaded: LoadedFile):
        self.loader = loader
        self.loaded = loaded
        self.seen: set[int] = set()  # ids of the nodes converted: an alias reaches one again

    def convert(self, node: yaml.Node, path: Path_, depth: int) -> Any:
        loaded = self.loaded
        if id(node) in self.seen:
            raise _AliasUsed
        self.seen.add(id(node))
        start = node.start_mark
        loaded.values[path] = (start.line + 1, start.column + 1)
        if depth >= MAX_DEPTH and isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            raise _TooDeep(
                Problem(Mark(loaded.display, *loaded.values[path]), f"nesting deeper than {MAX_DEPTH} levels")
            )
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag != _COLLECTION_TAGS[type(node)]:
            # !!set, !!omap, !!python/...: refused, though read on as plain data so that later checks can run.
            loaded.problems.append(loaded.problem(path, f"unsupported YAML tag '{_short_tag(node.tag)}'"))
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key_start = key_node.start_mark
                key_mark = (key_start.line + 1, key_start.column + 1)
                if key_node.tag == _STANDARD_TAG + "merge":
                    loaded.problems.append(
                        Problem(Mark(loaded.display, *key_mark), "YAML merge keys (<<) are not allowed")
                    )
                    continue
                if not isinstance(key_node, yaml.ScalarNode):
                    loaded.problems.append(
                        Problem(Mark(loaded.display, *key_mark), "mapping keys must be plain strings")
                    )
                    continue
                key = key_node.value
                if key in result:
                    first_line = loaded.keys[(*path, key)][0]
                    loaded.problems.append(
                        Problem(
                            Mark(loaded.display, *key_mark),
                            one_line(f"duplicate key '{key}' (first defined at line {first_line})"),
                        )
                    )
                    continue
                loaded.keys[(*path, key)] = key_mark
                result[key] = self.convert(value_node, (*path, key), depth + 1)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            problem = exc.problem or "cannot read this value"
            if problem.startswith("could not determine a constructor"):
                problem = f"unsupported YAML tag '{_short_tag(node.tag)}'"
            loaded.problems.append(loaded.problem(path, f"invalid value: {problem}"))
        except Exception:  # e.g. 2024-13-45 looks like a date but is not one (ValueError)
            loaded.problems.append(
                loaded.problem(path, f"invalid value {node.value!r} for YAML type {_short_tag(node.tag)}")
            )
        # Read on with the text as written, so that later checks add no "not empty" noise.
        return node.value
