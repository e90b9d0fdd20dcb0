"""A stand-in for the Zuul executor's `zuul_return` action plugin, for the tests.

Like Zuul's, it merges the task's `data` argument into the JSON file the executor reads
after the job, named by the environment variable ZUUL_JOB_OUTPUT_FILE (the file holds
{"data": {...}}): mappings are merged key by key, and the lists `zuul.artifacts` and
`zuul.warnings` are appended to, not replaced. Nothing else of Zuul is imitated.
"""

from __future__ import annotations

import json
import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

APPENDED = ("artifacts", "warnings")


def merge(new: dict, old: dict) -> dict:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(old.get(key), dict):
            merge(value, old[key])
        else:
            old[key] = value
    return old


def merge_data(new: dict, old: dict) -> dict:
    appended = {key: list(old.get("zuul", {}).get(key) or []) + list(new.get("zuul", {}).get(key) or [])
                for key in APPENDED}
    merge(new, old)
    for key, value in appended.items():
        if value:
            old.setdefault("zuul", {})[key] = value
    return old


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
