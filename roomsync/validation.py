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


def problem_dict(problem: Problem) -> dict[str, object]:
    return {
        "file": problem.mark.file,
        "line": problem.mark.line,
        "column": problem.mark.column,
        "message": problem.message,
    }


def validation_json(problems: Iterable[Problem] = (), config: Config | None = None) -> str:
    """The document for a config that loaded (config given) or for the problems that stopped it."""
    listed = [problem_dict(p) for p in problems]
    loaded = config if config is not None and not listed else None
    document = {
        "format_version": FORMAT_VERSION,
        "ok": loaded is not None,
        "problems": listed,
        "server_name": loaded.server_name if loaded else None,
        "rooms": len(loaded.rooms) if loaded else None,
        "bots": len(loaded.bots) if loaded else None,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
