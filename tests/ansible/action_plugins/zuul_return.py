"""A stand-in for the Zuul executor's `zuul_return` action plugin, for the tests.

Like Zuul's, it merges the task's `data` argument into the JSON file the executor reads
after the job, named by the environment variable ZUUL_JOB_OUTPUT_FILE (the file holds
{"data": {...}}): mappings are merged key by key, the lists `zuul.artifacts` and
`zuul.warnings` are appended to, not replaced, and so are the comments of each file in
`zuul.file_comments`. Artifacts and file comments are checked for the shape Zuul accepts
(a comment: `line` >= 1, `message` a string, optional `range` and `level`). Nothing else of
Zuul is imitated.
"""

from __future__ import annotations

import json
import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

APPENDED = ("artifacts", "warnings")
RANGE_KEYS = {"start_line", "start_character", "end_line", "end_character"}
LEVELS = {"info", "warning", "error"}


def merge(new: dict, old: dict) -> dict:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(old.get(key), dict):
            merge(value, old[key])
        else:
            old[key] = value
    return old


def merge_data(new: dict, old: dict) -> dict:
    appended = {
        key: list(old.get("zuul", {}).get(key) or []) + list(new.get("zuul", {}).get(key) or []) for key in APPENDED
    }
    comments = {path: list(items) for path, items in (old.get("zuul", {}).get("file_comments") or {}).items()}
    for path, items in (new.get("zuul", {}).get("file_comments") or {}).items():
        comments.setdefault(path, []).extend(items)
    merge(new, old)
    for key, value in appended.items():
        if value:
            old.setdefault("zuul", {})[key] = value
    if comments:
        old.setdefault("zuul", {})["file_comments"] = comments
    return old


def comment_problem(path, comment) -> str | None:
    """Why Zuul would refuse this file comment, or None."""
    if not isinstance(path, str) or not path or path.startswith("/"):
        return f"the path {path!r} is not relative to the project"
    if not isinstance(comment, dict) or not {"line", "message"} <= comment.keys():
        return f"a comment needs line and message: {comment!r}"
    if set(comment) - {"line", "message", "range", "level"}:
        return f"unknown keys in a comment: {sorted(set(comment) - {'line', 'message', 'range', 'level'})}"
    if not isinstance(comment["line"], int) or isinstance(comment["line"], bool) or comment["line"] < 1:
        return f"line must be an integer >= 1: {comment['line']!r}"
    if not isinstance(comment["message"], str):
        return f"message must be a string: {comment['message']!r}"
    if "range" in comment and (not isinstance(comment["range"], dict) or set(comment["range"]) != RANGE_KEYS):
        return f"range needs exactly {sorted(RANGE_KEYS)}: {comment['range']!r}"
    if "level" in comment and comment["level"] not in LEVELS:
        return f"level must be one of {sorted(LEVELS)}: {comment['level']!r}"
    return None


def plain(value):
    """Ansible's tagged/lazy containers as plain JSON types."""
    return json.loads(json.dumps(value, default=str))


class ActionModule(ActionBase):
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        data = self._task.args.get("data") or {}
        if not isinstance(data, dict):
            raise AnsibleActionFail("zuul_return: data must be a mapping")
        for artifact in data.get("zuul", {}).get("artifacts") or []:
            if not isinstance(artifact, dict) or not {"name", "url"} <= artifact.keys():
                raise AnsibleActionFail(f"zuul_return: an artifact needs name and url: {artifact!r}")
        comments = plain(data).get("zuul", {}).get("file_comments")
        if comments is not None:
            if not isinstance(comments, dict):
                raise AnsibleActionFail("zuul_return: file_comments must be a mapping of path to comments")
            for file, items in comments.items():
                if not isinstance(items, list):
                    raise AnsibleActionFail(f"zuul_return: the comments of {file!r} must be a list")
                for comment in items:
                    if (why := comment_problem(file, comment)) is not None:
                        raise AnsibleActionFail(f"zuul_return: file_comments: {why}")
        path = os.environ.get("ZUUL_JOB_OUTPUT_FILE")
        if not path:
            raise AnsibleActionFail("zuul_return: ZUUL_JOB_OUTPUT_FILE is not set")
        current = {}
        if os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            current = json.loads(text).get("data", {}) if text.strip() else {}
        merged = merge_data(plain(data), current)
        fd, tmp_path = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)))
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"data": merged}, fh, indent=2)
        os.replace(tmp_path, path)
        result["changed"] = False
        return result
