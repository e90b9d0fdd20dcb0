"""roomsync's JSON Schemas (schema/*.schema.json): where they are, a validator for each, and
their errors as one-line messages placed on the node that is wrong."""

from __future__ import annotations

import datetime
import difflib
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema import validators
from referencing import Registry, Resource

from . import schemacheck
from .errors import Problem
from .yamlfile import LoadedFile


def schema_dir() -> Path:
    """schema/ at the top of a checkout, or the copy packed into the wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "schema", here.parent / "schema"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("roomsync's schema/ directory is missing from this installation")


def _strict_integer(_checker: Any, instance: Any) -> bool:
    # Matrix power levels are JSON integers: 50.0 and true are not.
    return isinstance(instance, int) and not isinstance(instance, bool)


# jsonschema's extend() is untyped; the class it makes is used only through validator() below.
_Validator: Any = validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_integer),
)


@cache
def _schemas() -> dict[str, Any]:
    """The schema files by $id."""
    schemas = {}
    for path in sorted(schema_dir().glob("*.schema.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        schemas[contents["$id"]] = contents
    return schemas


@cache
def validator(name: str) -> jsonschema.protocols.Validator:
    registry = Registry().with_resources((sid, Resource.from_contents(c)) for sid, c in _schemas().items())
    made: jsonschema.protocols.Validator = _Validator(registry.contents(name), registry=registry)
    return made


@cache
def quick_check(name: str) -> schemacheck.Check | None:
    """The same schema compiled for a fast yes/no; None if it cannot be compiled."""
    try:
        return schemacheck.Compiler(_schemas()).compile(name)
    except schemacheck.CompileError:
        return None


# --- schema errors as one-line messages -------------------------------------------------

_TYPE_NAMES = {
    str: "a string",
    bool: "true/false",
    int: "an integer",
    float: "a number",
    list: "a list",
    dict: "a mapping",
    type(None): "empty",
    bytes: "binary data",
    datetime.date: "a date (quote it to make it a string)",
    datetime.datetime: "a date and time (quote it to make it a string)",
}
_EXPECTED = {
    "string": "a string",
    "integer": "an integer",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "number": "a number",
}
_PATTERN_HINTS = {
    "avatar": "must be an image file in the config directory such as avatars/zuul.png, or an mxc:// URI",
    "homeserver": "must be an http:// or https:// URL such as https://matrix.opendev.org",
    "room_version": "must be a room version such as '10' or '12'",
    "docs.clients.url": "must be an https:// URL such as https://app.element.io",
}


def _field_name(path: tuple[Any, ...]) -> str:
    """How a message names the node at path: 'name', 'power_levels.ban', 'each alt_aliases entry'."""
    if not path:
        return "the file"
    if len(path) >= 2 and path[0] in ("rooms", "bots") and isinstance(path[1], int):
        if len(path) == 2:
            return f"each entry of {path[0]}"
        path = path[2:]  # a room's own fields read best without "rooms.3."
    if isinstance(path[-1], int):
        return f"each {_field_name(path[:-1])} entry"
    return ".".join(str(p) for p in path if not isinstance(p, int))


def _yaml_repr(value: Any) -> str:
    """A value as the YAML author wrote it: true, not True."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "empty" if value is None else repr(value)


def _unexpected_keys(error: jsonschema.ValidationError) -> list[str]:
    # From the data, not from error.message: keys with quotes or backslashes do not survive its repr().
    return [key for key in error.instance] if isinstance(error.instance, dict) else []


def _known_keys(error: jsonschema.ValidationError) -> list[str]:
    schema: Any = error.schema  # a dict here: the failing keyword is in it
    known = set(schema.get("properties", {}))
    for sub in schema.get("allOf", []):
        ref = sub.get("$ref", "")
        if ref.endswith("/fields"):
            known |= set(_schemas()["rooms.schema.json"]["$defs"]["fields"]["properties"])
    return sorted(known)


def _specific(errors: Any) -> Any:
    """Replace an anyOf failure by the failure of the branch that got furthest into the value."""
    for error in errors:
        if error.validator in ("anyOf", "oneOf") and error.context:
            deepest = max(error.context, key=lambda e: (len(e.absolute_path), e.validator != "type"))
            yield from _specific([deepest])
        else:
            yield error


def schema_problems(loaded: LoadedFile, schema: str) -> list[Problem]:
    check = quick_check(schema)
    if check is not None and check(loaded.data):
        return []  # valid: jsonschema is only needed to word what is wrong
    problems = []
    for error in _specific(validator(schema).iter_errors(loaded.data)):
        path = tuple(error.absolute_path)
        field = _field_name(path)
        kind = error.validator
        if kind in ("additionalProperties", "unevaluatedProperties"):
            known = _known_keys(error)
            # A failing allOf branch leaves its keys "unevaluated": those are known, not unknown.
            for key in (k for k in _unexpected_keys(error) if k not in known):
                if path == ("defaults",) and key in ("alias", "alt_aliases"):
                    message = f"defaults cannot set '{key}': each room declares its own"
                    problems.append(loaded.problem((*path, key), message, key=True))
                    continue
                hint = difflib.get_close_matches(key, known, n=1)
                more = (
                    f"; did you mean '{hint[0]}'?" if hint else (f"; known fields: {', '.join(known)}" if known else "")
                )
                problems.append(loaded.problem((*path, key), f"unknown field '{key}'{more}", key=True))
            continue
        if kind == "type":
            named = error.validator_value
            expected = " or ".join(_EXPECTED.get(t) or str(t) for t in (named if isinstance(named, list) else [named]))
            got = _TYPE_NAMES.get(type(error.instance), type(error.instance).__name__)
            message = f"{field} must be {expected}, not {got}"
            if not path and error.instance is None:
                needs = " and ".join(f"'{k}'" for k in _schemas()[schema].get("required", []))
                message = f"the file is empty; it must set {needs}" if needs else "the file is empty"
        elif kind == "enum":
            choices = ", ".join(str(c) for c in error.validator_value)
            message = f"{field} must be one of: {choices} (got {_yaml_repr(error.instance)})"
        elif kind == "required":
            missing = [k for k in error.validator_value if k not in error.instance]
            message = f"missing required field '{missing[0]}'" if missing else error.message
        elif kind == "pattern":
            last = path[-1] if path else ""
            wording = _PATTERN_HINTS.get(field) or _PATTERN_HINTS.get(str(last), "has the wrong form")
            message = f"{field} {wording} (got {error.instance!r})"
        elif kind in ("minimum", "maximum"):
            message = f"{field} {error.instance} is out of range (Matrix allows -(2**53-1) to 2**53-1)"
        elif kind == "uniqueItems":
            message = f"{field} lists the same entry twice"
        elif kind in ("minLength", "minItems"):
            message = f"{field} must not be empty"
        else:
            message = f"{field}: {error.message}"
        problems.append(loaded.problem(path, message))
    return problems
