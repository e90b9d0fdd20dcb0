"""One root exception; the CLI turns every RoomsyncError into a message and exit 1."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


class RoomsyncError(Exception):
    """Anything roomsync reports to the user as an error (exit code 1)."""


@dataclass(frozen=True, order=True)
class Mark:
    """A position in a config file, 1-based, as editors count."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the configuration, at the node that is wrong."""

    mark: Mark
    message: str

    def __str__(self) -> str:
        return f"{self.mark}: {self.message}"


class ConfigError(RoomsyncError):
    """The configuration is invalid; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        # Files in the order they were read (roomsync.yaml, rooms/*, bots.yaml): a problem in
        # roomsync.yaml or a rooms file usually explains what follows. Within a file, by position.
        files: dict[str, int] = {}
        for problem in problems:
            files.setdefault(problem.mark.file, len(files))
        self.problems = sorted(set(problems), key=lambda p: (files[p.mark.file], p))
        super().__init__("\n".join(str(p) for p in self.problems))


class HomeserverError(RoomsyncError):
    """The homeserver could not be reached or refused a request."""


class MatrixError(HomeserverError):
    """The homeserver answered a request with an error."""

    def __init__(self, status: int, errcode: str, message: str, what: str):
        self.status = status
        self.errcode = errcode
        self.message = message
        self.what = what
        super().__init__(f"{what}: {status} {errcode}: {message}")


def unknown_room(what: str, name: str, known: Iterable[str]) -> str:
    """'unknown space 'x': no room has that alias; did you mean 'y'?'"""
    hint = difflib.get_close_matches(name, sorted(known), n=1)
    return f"unknown {what} '{name}': no room has that alias" + (f"; did you mean '{hint[0]}'?" if hint else "")
