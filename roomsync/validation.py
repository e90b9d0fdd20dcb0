"""`roomsync validate --format json`: the result of a validation as one JSON document.

    {"format_version": 1, "ok": false,
     "problems": [{"file": "rooms/zuul.yaml", "line": 3, "column": 12, "message": "..."}],
     "server_name": null, "rooms": null, "bots": null}

`file` is the file as the text output names it (relative to the working directory when the
file is inside it); `line` and `column` count from 1, as editors do. `server_name`, `rooms` and
`bots` (the number of rooms and bots declared) are filled in only when `ok` is true.
`format_version` is bumped on any incompatible change.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from .errors import Problem
from .model import Config

FORMAT_VERSION = 1


def problem_dict(problem: Problem) -> dict:
    return {
        "file": problem.mark.file,
        "line": problem.mark.line,
        "column": problem.mark.column,
        "message": problem.message,
    }


def validation_json(problems: Iterable[Problem] = (), config: Config | None = None) -> str:
    """The document for a config that loaded (config given) or for the problems that stopped it."""
    listed = [problem_dict(p) for p in problems]
    ok = config is not None and not listed
    document = {
        "format_version": FORMAT_VERSION,
        "ok": ok,
        "problems": listed,
        "server_name": config.server_name if ok else None,
        "rooms": len(config.rooms) if ok else None,
        "bots": len(config.bots) if ok else None,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
