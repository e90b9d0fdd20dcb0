"""Editor support: the JSON Schemas of this roomsync, and the modeline that points a file at them.

`roomsync schema --out DIR` copies the schemas roomsync itself validates with (schemas.schema_dir())
into DIR. A config file can then name its schema on its first line, in the form
yaml-language-server reads (VS Code's YAML extension, Neovim's yamlls):

    # yaml-language-server: $schema=../schema/rooms.schema.json

The path is relative to the YAML file itself, so it works offline and in any checkout. The
convention: the schemas live in `schema/` at the top of the config directory (what
`roomsync schema --out schema` writes there). The schemas refer to each other by file name
(`rooms.schema.json#/$defs/...`), so the three must stay side by side.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath

from .config import BOTS_FILE, SETTINGS_FILE
from .policyfile import POLICIES_FILE
from .schemas import schema_dir

SETTINGS_SCHEMA = "roomsync.schema.json"
ROOMS_SCHEMA = "rooms.schema.json"
BOTS_SCHEMA = "bots.schema.json"
POLICIES_SCHEMA = "policies.schema.json"
SCHEMA_FILES = (SETTINGS_SCHEMA, ROOMS_SCHEMA, BOTS_SCHEMA, POLICIES_SCHEMA)
DEFAULT_SCHEMA_DIR = "schema"  # relative to the config directory
MODELINE_PREFIX = "# yaml-language-server: $schema="


def write_schemas(out_dir: Path) -> list[Path]:
    """Copy the installed version's JSON Schemas into out_dir (created if needed); the paths written.

    Existing files of the same names are replaced: they are generated, and an old copy is the
    very thing that makes an editor disagree with `roomsync validate`.
    """
    source = schema_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SCHEMA_FILES:
        target = out_dir / name
        shutil.copyfile(source / name, target)
        written.append(target)
    return written


def schema_for(file: Path) -> str:
    """The schema file name that describes a config file: by its name, rooms files otherwise."""
    if file.name == SETTINGS_FILE:
        return SETTINGS_SCHEMA
    if file.name == BOTS_FILE:
        return BOTS_SCHEMA
    if file.name == POLICIES_FILE:
        return POLICIES_SCHEMA
    return ROOMS_SCHEMA


def modeline(file: Path, config_root: Path, schemas: Path | str = DEFAULT_SCHEMA_DIR) -> str:
    """The `# yaml-language-server: $schema=...` first line for `file` in the config directory.

    `schemas` is the directory holding the schemas, relative to config_root unless absolute
    (default: `schema/`, as written by `roomsync schema --out schema`). The $schema path is
    relative to the file's own directory, with forward slashes, as yaml-language-server resolves
    it: `rooms/zuul.yaml` gets `../schema/rooms.schema.json`, `roomsync.yaml` gets
    `schema/roomsync.schema.json`. No trailing newline.
    """
    config_root = Path(config_root)
    file = file if file.is_absolute() else config_root / file
    target = Path(schemas) if Path(schemas).is_absolute() else config_root / schemas
    relative = os.path.relpath(target / schema_for(file), file.parent)
    return MODELINE_PREFIX + PurePosixPath(*Path(relative).parts).as_posix()
